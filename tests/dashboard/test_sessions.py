"""Server-side sessions over real HTTP: logout, password/role changes, removal and the CLI end them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.dashboard.conftest import log_in, post_form
from wildmail.cli import app as cli
from wildmail.core.db import write_transaction
from wildmail.runtime.users import UserSession, set_password, set_role
from wildmail.web.app import create_app

pytestmark = pytest.mark.postgres


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "test-secret-key-not-for-production")


def _thief(client: TestClient) -> TestClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    other = TestClient(client.app, base_url="http://testserver")
    other.cookies.set("wm_session", client.cookies["wm_session"])
    return other


def _logged_in(thief: TestClient) -> bool:
    r = thief.get("/dashboard", follow_redirects=False)
    assert r.status_code in (200, 303)
    return bool(r.status_code == 200)


def test_a_cookie_copied_before_logout_is_refused_after_it(client, users) -> None:
    assert log_in(client, users["staff"]).status_code == 303
    thief = _thief(client)
    assert _logged_in(thief)
    assert post_form(client, "/dashboard", "/logout").status_code == 303
    r = thief.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert thief.get("/dashboard/export.csv", follow_redirects=False).status_code == 303
    assert log_in(client, users["staff"]).status_code == 303 and _logged_in(client)  # a new login works


def test_only_the_token_hash_is_stored(client, users, engine) -> None:
    log_in(client, users["staff"])
    cookie = client.cookies["wm_session"]
    with engine.connect() as conn:
        rows = conn.execute(select(UserSession)).all()
    assert len(rows) == 1
    assert all(cookie.split(".")[0] not in str(value) for value in rows[0])
    assert rows[0].revoked_at is None and rows[0].expires_at > rows[0].created_at


def test_password_and_role_changes_end_the_users_sessions(client, users, ctx) -> None:
    log_in(client, users["marketer"])
    thief = _thief(client)
    with write_transaction(ctx.engine) as s:
        assert set_password(s, users["marketer"], "a-brand-new-password", ctx.clock.now()) == 1
    assert not _logged_in(thief) and not _logged_in(client)
    assert log_in(client, users["marketer"], "a-brand-new-password").status_code == 303
    with write_transaction(ctx.engine) as s:
        assert set_role(s, users["marketer"], "staff", ctx.clock.now()) == 1
    assert not _logged_in(client)


def test_removing_a_user_in_the_dashboard_ends_their_sessions(client, users, ctx) -> None:
    victim = TestClient(create_app(ctx), base_url="http://testserver")
    log_in(victim, users["marketer"])
    assert _logged_in(victim)
    log_in(client, users["admin"])
    assert (
        post_form(
            client, "/dashboard/users", "/dashboard/users/remove", {"email": users["marketer"]}
        ).status_code
        == 303
    )
    assert not _logged_in(victim)


def test_cli_revokes_every_session_of_one_user(client, users, ctx, cli_env) -> None:
    other = TestClient(client.app, base_url="http://testserver")
    bystander = TestClient(client.app, base_url="http://testserver")
    log_in(client, users["admin"])
    log_in(other, users["admin"])
    log_in(bystander, users["staff"])
    result = CliRunner().invoke(cli, ["users", "revoke-sessions", users["admin"]])
    assert result.exit_code == 0 and "2 sessions" in result.stdout
    assert not _logged_in(client) and not _logged_in(other)
    assert _logged_in(bystander)
    missing = CliRunner().invoke(cli, ["users", "revoke-sessions", "nobody@example.org"])
    assert missing.exit_code == 2 and "no user nobody@example.org" in missing.stderr


def test_cli_set_role_and_set_password_end_sessions(client, users, cli_env) -> None:
    log_in(client, users["staff"])
    result = CliRunner().invoke(cli, ["users", "set-role", users["staff"], "admin"])
    assert result.exit_code == 0 and "now admin" in result.stdout and "1 session ended" in result.stdout
    assert not _logged_in(client)
    log_in(client, users["staff"])
    assert client.get("/dashboard/users").status_code == 200  # the new role applies after logging in again
    assert CliRunner().invoke(cli, ["users", "set-role", users["staff"], "boss"]).exit_code == 2
    changed = CliRunner().invoke(
        cli, ["users", "set-password", users["staff"], "--password-stdin"], input="yet-another-password\n"
    )
    assert changed.exit_code == 0 and "1 session ended" in changed.stdout
    assert not _logged_in(client)


def test_logging_in_again_in_the_same_browser_ends_the_session_it_replaces(client, users) -> None:
    log_in(client, users["admin"])
    thief = _thief(client)
    assert log_in(client, users["staff"]).status_code == 303
    assert not _logged_in(thief) and _logged_in(client)
