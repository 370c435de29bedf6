"""schemathesis against the live schema: generated requests to every operation through real HTTP
(uvicorn) with a token holding every scope; no answer may be a server error, and every answer must
match the schema (status code, content type, body). The number of examples is bounded so the run
stays under a minute."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def seeded(http) -> None:
    """Some rows for the generated requests to find (a list, a person, a campaign, a suppression)."""
    from tests.conftest import SEED

    assert http.post("/api/v1/lists", json={"slug": "news", "double_opt_in": False}).status_code == 201
    person = {"email": "ana@example.org", "list": "news", "confirmed": True, "attributes": {"a": 1}}
    assert http.post("/api/v1/subscribers", json=person).status_code == 201
    with SEED.open("rb") as article:
        files = {"article": ("amur.txt", article, "text/plain")}
        created = http.post("/api/v1/campaigns", files=files, data={"name": "amur", "list": "news"})
        assert created.status_code == 201
    assert http.post("/api/v1/suppressions", json={"email": "old@example.org"}).status_code == 201


def test_every_operation_answers_within_its_schema(api_server, http, seeded) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/api/openapi.json")
    auth = {"Authorization": http.headers["Authorization"]}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 25
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=api_server.url, headers=auth)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
