"""Access control over real HTTP: anonymous redirect, roles, CSRF, rate limit, sessions."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.dashboard.conftest import PASSWORD, csrf_of, log_in, post_form
from tests.stats import scenario as sc


@pytest.fixture
def leopard(engine):
    with Session(engine) as s:
        sc.build_leopard(s)


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/dashboard/campaigns/leopard",
        "/dashboard/lists",
        "/dashboard/users",
        "/dashboard/export.csv",
    ],
)
def test_anonymous_is_redirected_to_login(client, path) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_login_sets_hardened_cookie_and_logout_ends_it(client, users) -> None:
    r = log_in(client, users["staff"])
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("wm_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert post_form(client, "/dashboard", "/logout").status_code == 303
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_secure_cookie_behind_https(ctx, users) -> None:
    from fastapi.testclient import TestClient

    from wildmail.web.app import create_app

    ctx.settings = ctx.settings.with_overrides(base_url="https://mail.example.org")
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        r = log_in(c, users["staff"])
    assert "Secure" in next(h for h in r.headers.get_list("set-cookie") if h.startswith("wm_session="))


def test_wrong_password_and_unknown_user(client, users) -> None:
    assert log_in(client, users["staff"], "wrong-password!").status_code == 401
    r = log_in(client, "nobody@example.org")
    assert r.status_code == 401 and "Wrong email or password" in r.text


def test_staff_reads_but_cannot_edit(client, users, leopard) -> None:
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/leopard")
    assert page.status_code == 200 and "Per email" in page.text and "Save timetable" not in page.text
    assert "Duplicate" not in page.text and "Delete" not in page.text
    token = csrf_of(page.text)
    for action in ("pause", "start", "review", "schedule", "emails/1", "test", "duplicate", "delete"):
        r = client.post(f"/dashboard/campaigns/leopard/{action}", data={"csrf": token})
        assert r.status_code == 403, action
    assert client.get("/dashboard/campaigns/new").status_code == 403
    assert client.get("/dashboard/campaigns/leopard/emails/1").status_code == 403  # the editor
    assert client.get("/dashboard/campaigns/leopard/emails/1/preview").status_code != 403  # staff may look
    assert client.get("/dashboard/users").status_code == 403
    assert client.post("/dashboard/lists", data={"csrf": token, "slug": "x"}).status_code == 403


def test_marketer_cannot_manage_users_admin_can(client, users) -> None:
    log_in(client, users["marketer"])
    assert client.get("/dashboard/users").status_code == 403
    assert client.get("/dashboard/campaigns/new").status_code == 200
    post_form(client, "/dashboard", "/logout")
    log_in(client, users["admin"])
    r = post_form(
        client,
        "/dashboard/users",
        "/dashboard/users",
        {"email": "new@example.org", "role": "staff", "password": PASSWORD},
    )
    assert r.status_code == 303
    assert "new@example.org" in client.get("/dashboard/users").text
    bad = post_form(
        client,
        "/dashboard/users",
        "/dashboard/users",
        {"email": "x@example.org", "role": "boss", "password": PASSWORD},
    )
    assert bad.status_code == 400 and "unknown role" in bad.text
    settings = client.get("/dashboard/settings").text
    assert "test-secret-key" not in settings and "(set, hidden)" in settings


def test_post_without_csrf_is_refused(client, users, leopard) -> None:
    assert client.post("/login", data={"email": users["staff"], "password": PASSWORD}).status_code == 403
    log_in(client, users["marketer"])
    r = client.post("/dashboard/campaigns/leopard/emails/1", data={"subject": "Hacked"})
    assert r.status_code == 403 and "security token" in r.text
    r = client.post("/dashboard/campaigns/leopard/emails/1", data={"subject": "Hacked", "csrf": "forged"})
    assert r.status_code == 403
    assert "Hacked" not in client.get("/dashboard/campaigns/leopard").text


def test_login_rate_limit_per_address_and_client(client, users, clock) -> None:
    for _ in range(5):
        assert log_in(client, users["staff"], "wrong-password!").status_code == 401
    r = log_in(client, users["staff"])  # right password, but locked out
    assert r.status_code == 429 and "15 minutes" in r.text
    assert log_in(client, users["marketer"]).status_code == 303  # another address is not affected
    clock.advance(minutes=16)
    assert log_in(client, users["staff"]).status_code == 303


def test_no_open_redirect_after_login(client, users) -> None:
    page = client.get("/login?next=https://evil.example/")
    assert "evil" not in page.text
    r = client.post(
        "/login",
        data={
            "email": users["staff"],
            "password": PASSWORD,
            "csrf": csrf_of(page.text),
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/dashboard"


def test_session_expires_and_tampering_fails(client, users, clock) -> None:
    log_in(client, users["staff"])
    token = client.cookies.get("wm_session")
    client.cookies.set("wm_session", token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    client.cookies.set("wm_session", token)
    assert client.get("/dashboard").status_code == 200
    clock.advance(hours=13)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
