"""One error shape for everything under /api (RFC 9457), and cursor pages, over real HTTP."""

from __future__ import annotations

from tests.api.test_auth import PROBLEM, _is_problem
from wildmail.web.body_limits import UPLOAD_LIMIT


def test_router_validation_and_domain_errors_are_all_problem_documents(http) -> None:
    body = _is_problem(http.get("/api/v1/no-such-thing"), 404)
    assert body["type"] == "about:blank"
    _is_problem(http.get("/api"), 404)
    _is_problem(http.put("/api/v1/lists"), 405)
    invalid = _is_problem(http.post("/api/v1/lists", json={"slug": "Not A Slug", "extra": 1}), 422)
    assert invalid["type"] == "urn:wildmail:problem:validation"
    assert {e["field"] for e in invalid["errors"]} == {"body.slug", "body.extra"}
    _is_problem(
        http.post("/api/v1/lists", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    assert {e["field"] for e in _is_problem(http.get("/api/v1/lists?limit=0"), 422)["errors"]} == {
        "query.limit"
    }
    _is_problem(http.get("/api/v1/subscribers/99999999999999999999"), 422)
    assert http.post("/api/v1/lists", json={"slug": "news"}).status_code == 201
    exists = _is_problem(http.post("/api/v1/lists", json={"slug": "news"}), 409)
    assert exists["detail"] == "list 'news' already exists"
    missing = _is_problem(http.get("/api/v1/campaigns/nope"), 404)
    assert "nope" in missing["detail"]
    refused = _is_problem(
        http.post("/api/v1/subscribers", json={"email": "not-an-address", "list": "news"}), 422
    )
    assert refused["detail"].startswith("invalid email address")


def test_an_upload_over_the_limit_is_a_problem_too(http) -> None:
    big = b"email\n" + b"a@example.org\n" * (UPLOAD_LIMIT // 14 + 10)
    assert http.post("/api/v1/lists", json={"slug": "big"}).status_code == 201
    response = http.post("/api/v1/lists/big/imports", files={"file": ("big.csv", big, "text/csv")})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"].startswith("Request body too large")


def test_the_schema_and_the_offline_docs_are_served(api_server) -> None:
    with api_server.client() as anonymous:
        schema = anonymous.get("/api/openapi.json").json()
        assert schema["openapi"].startswith("3.1")
        assert "/api/v1/subscribers/{subscriber_id}" in schema["paths"]
        assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
        page = anonymous.get("/api/docs")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "http" not in policy
        assert 'src="/api/docs/assets/swagger-ui-bundle.js"' in page.text and "<script>" not in page.text
        bundle = anonymous.get("/api/docs/assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
        assert anonymous.get("/api/docs/assets/..%2F__init__.py").status_code == 404
        assert anonymous.get("/api/docs/assets/index.html").status_code == 404


def test_cursor_pages_walk_every_list_once_in_id_order(http) -> None:
    slugs = [f"list-{n}" for n in range(7)]
    for slug in slugs:
        assert http.post("/api/v1/lists", json={"slug": slug}).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = http.get("/api/v1/lists", params=params).json()
        seen += [item["slug"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == slugs and pages == 3
    first = http.get("/api/v1/lists", params={"limit": 3}).json()["next_cursor"]
    tampered = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    bad = _is_problem(http.get("/api/v1/lists", params={"cursor": tampered}), 400)
    assert bad["errors"] == [{"field": "query.cursor", "message": "not a valid cursor"}]
    _is_problem(http.get("/api/v1/campaigns", params={"cursor": first}), 400)  # another resource's cursor
