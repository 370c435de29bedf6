"""Dashboard fixtures: users of every role and a logged-in TestClient helper."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from wildmail.core.db import write_transaction
from wildmail.runtime.users import add_user

PASSWORD = "correct-horse-battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


@pytest.fixture
def users(ctx):
    with write_transaction(ctx.engine) as s:
        for role in ("staff", "marketer", "admin"):
            add_user(s, f"{role}@example.org", role, PASSWORD, ctx.clock.now())
    return {role: f"{role}@example.org" for role in ("staff", "marketer", "admin")}


def log_in(client: TestClient, email: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text), "next": "/dashboard"},
        follow_redirects=False,
    )


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str] | None = None, files=None):
    """POST ``action`` with the CSRF token taken from ``page_url`` (as a browser would)."""
    token = csrf_of(client.get(page_url).text)
    return client.post(action, data={**(data or {}), "csrf": token}, files=files, follow_redirects=False)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Cheaper argon2 parameters so tests stay quick (still argon2id, same code path)."""
    from argon2 import PasswordHasher

    import wildmail.runtime.users

    monkeypatch.setattr(
        wildmail.runtime.users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(wildmail.runtime.users, "_dummy", [])
