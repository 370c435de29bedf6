"""Idempotency-Key on POST: replays, a reused key with another body, multipart retries, expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from campaigns.models import Campaign
from tests.api.test_auth import _is_problem
from tests.conftest import SEED
from wildmail.runtime.api_tokens import authenticate, claim_key
from wildmail.web.api.idempotency import plain_digest


def test_the_same_key_and_body_replays_the_first_answer_without_doing_it_again(http, smtp_server) -> None:
    assert http.post("/api/v1/lists", json={"slug": "news"}).status_code == 201
    body = {"email": "ana@example.org", "list": "news"}
    first = http.post("/api/v1/subscribers", json=body, headers={"Idempotency-Key": "signup-1"})
    assert first.status_code == 201 and first.json()["outcome"] == "confirmation_sent"
    again = http.post("/api/v1/subscribers", json=body, headers={"Idempotency-Key": "signup-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len(smtp_server.messages) == 1  # one confirmation email, not two
    reused = _is_problem(
        http.post(
            "/api/v1/subscribers", json={**body, "name": "Ana"}, headers={"Idempotency-Key": "signup-1"}
        ),
        422,
    )
    assert reused["type"].endswith("idempotency-key-reused")
    _is_problem(http.post("/api/v1/lists", json={"slug": "x"}, headers={"Idempotency-Key": ""}), 400)


def test_keys_belong_to_their_token(api_server) -> None:
    with api_server.client(api_server.make_token()) as one, api_server.client(api_server.make_token()) as two:
        assert (
            one.post("/api/v1/lists", json={"slug": "a"}, headers={"Idempotency-Key": "k"}).status_code == 201
        )
        # the other token's key "k" is its own: its request runs (and finds the list taken)
        _is_problem(two.post("/api/v1/lists", json={"slug": "a"}, headers={"Idempotency-Key": "k"}), 409)


def test_a_multipart_retry_with_a_new_boundary_is_the_same_request(http, ctx) -> None:
    assert http.post("/api/v1/lists", json={"slug": "news"}).status_code == 201
    article = SEED.read_bytes()

    def create():
        files = {"article": ("amur.txt", article, "text/plain")}
        data = {"name": "Amur", "list": "news"}
        return http.post(
            "/api/v1/campaigns", files=files, data=data, headers={"Idempotency-Key": "create-amur"}
        )

    first, second = create(), create()
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotency-replayed"] == "true"
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1


def test_keys_are_forgotten_after_24_hours(http, ctx) -> None:
    headers = {"Idempotency-Key": "daily"}
    assert http.post("/api/v1/lists", json={"slug": "news"}, headers=headers).status_code == 201
    ctx.clock.advance(timedelta(hours=23))
    assert http.post("/api/v1/lists", json={"slug": "news"}, headers=headers).status_code == 201  # replayed
    ctx.clock.advance(timedelta(hours=2))
    _is_problem(http.post("/api/v1/lists", json={"slug": "news"}, headers=headers), 409)  # ran again


def test_a_failed_request_does_not_keep_its_key(http) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    _is_problem(
        http.post("/api/v1/subscribers", json={"email": "a@example.org", "list": "later"}, headers=headers),
        422,
    )
    assert http.post("/api/v1/lists", json={"slug": "later"}).status_code == 201
    response = http.post(
        "/api/v1/subscribers", json={"email": "a@example.org", "list": "later"}, headers=headers
    )
    assert response.status_code == 201


def test_a_retry_while_the_first_request_runs_is_a_conflict(api_server, ctx) -> None:
    token = api_server.make_token()
    principal = authenticate(ctx.engine, token, ctx.clock.now(), timedelta(0))
    assert principal is not None
    body = b'{"slug": "news"}'
    # The first request claimed the key and is still running: no answer is stored yet.
    digest = plain_digest("POST", "/api/v1/lists", "", body)
    assert claim_key(ctx.engine, principal.token_id, "slow", digest, ctx.clock.now()) is None
    headers = {"Idempotency-Key": "slow", "Content-Type": "application/json"}
    with api_server.client(token) as client:
        conflict = _is_problem(client.post("/api/v1/lists", content=body, headers=headers), 409)
        assert conflict["type"].endswith("idempotency-in-progress")
        assert client.get("/api/v1/lists").json()["items"] == []  # the retry did nothing
