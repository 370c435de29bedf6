"""Token authentication, scopes, revocation, last use and the per-token rate limit, over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import create_token, list_tokens, revoke_token

PROBLEM = "application/problem+json"


def _is_problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["instance"] == response.request.url.path
    return body


@pytest.mark.postgres
def test_requests_without_a_live_token_are_refused_with_a_challenge(api_server, ctx) -> None:
    with api_server.client() as anonymous:
        response = anonymous.get("/api/v1/lists")
    body = _is_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]
    token = api_server.make_token("lists:read", name="crm")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (forged, "wm_000000000000_" + token.rsplit("_", 1)[1], "not-a-token"):
        with api_server.client(bad) as client:
            _is_problem(client.get("/api/v1/lists"), 401)
    with api_server.client(token) as client:
        assert client.get("/api/v1/lists").status_code == 200
        with write_transaction(ctx.engine) as s:
            revoke_token(s, "crm", ctx.clock.now())
        assert "revoked" in _is_problem(client.get("/api/v1/lists"), 401)["detail"]


def test_the_secret_is_stored_only_as_a_hash_and_last_use_is_kept(api_server, ctx) -> None:
    token = api_server.make_token("stats:read", name="reports")
    with ctx.session() as s:
        (row,) = [t for t in list_tokens(s) if t.name == "reports"]
        assert row.last_used_at is None
        assert token.rsplit("_", 1)[1] not in (row.secret_hash, row.scopes, row.public_id)
    with api_server.client(token) as client:
        assert client.get("/api/v1/stats").status_code == 200
    with ctx.session() as s:
        (row,) = [t for t in list_tokens(s) if t.name == "reports"]
        assert row.last_used_at == ctx.clock.now()


def test_each_resource_needs_its_scope_and_write_includes_read(api_server) -> None:
    with api_server.client(api_server.make_token("stats:read")) as client:
        body = _is_problem(client.get("/api/v1/lists"), 403)
        assert body["detail"] == "this token lacks the scope lists:read"
        assert body["type"].endswith("insufficient-scope")
        assert client.get("/api/v1/stats").status_code == 200
    with api_server.client(api_server.make_token("lists:read")) as client:
        assert client.get("/api/v1/lists").status_code == 200
        _is_problem(client.post("/api/v1/lists", json={"slug": "news"}), 403)
    with api_server.client(api_server.make_token("lists:write")) as client:
        assert client.post("/api/v1/lists", json={"slug": "news"}).status_code == 201
        assert client.get("/api/v1/lists").json()["items"][0]["slug"] == "news"
        _is_problem(client.get("/api/v1/subscribers"), 403)


def test_a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not(ctx, smtp_server) -> None:
    from tests.api.conftest import Api
    from wildmail.web.app import create_app
    from wildmail.web.serving import ServerThread

    ctx.settings = ctx.settings.with_overrides(api_rate_limit=3)
    with write_transaction(ctx.engine) as s:
        busy = create_token(s, "busy", "lists:read", ctx.clock.now())[1]
        calm = create_token(s, "calm", "lists:read", ctx.clock.now())[1]
    srv = ServerThread(create_app(ctx), port=0).start()
    try:
        api = Api(srv.url, lambda *a: "")
        with api.client(busy) as client, api.client(calm) as other:
            assert [client.get("/api/v1/lists").status_code for _ in range(3)] == [200, 200, 200]
            response = client.get("/api/v1/lists")
            _is_problem(response, 429)
            assert response.headers["retry-after"] == "60"
            assert other.get("/api/v1/lists").status_code == 200
            ctx.clock.advance(timedelta(seconds=45))
            assert client.get("/api/v1/lists").headers["retry-after"] == "15"
            ctx.clock.advance(timedelta(seconds=16))
            assert client.get("/api/v1/lists").status_code == 200
    finally:
        srv.stop()
