"""``wildmail api-tokens``: the token is printed once, listed without its secret, revoked by name."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from wildmail.runtime.api_tokens import authenticate


@pytest.fixture
def run(tmp_path, db_url, monkeypatch):
    from wildmail.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WILDMAIL_CONFIG", raising=False)
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "api-cli-test-secret-not-for-production")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_add_prints_the_token_once_list_never_shows_it_revoke_ends_it(run, engine, clock) -> None:
    added = run("api-tokens", "add", "--name", "crm", "--scope", "subscribers:write, stats:read")
    assert added.exit_code == 0, added.output
    (token,) = re.findall(r"wm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", added.stdout)
    principal = authenticate(engine, token, clock.now(), clock.now() - clock.now())
    assert principal is not None and principal.scopes == {"subscribers:write", "stats:read"}
    listed = run("api-tokens", "list")
    assert listed.exit_code == 0 and "crm" in listed.output and "never" not in listed.output
    assert token.rsplit("_", 1)[1] not in listed.output
    assert token.split("_")[1] in listed.output  # the public id
    twice = run("api-tokens", "add", "--name", "crm", "--scope", "stats:read")
    assert twice.exit_code == 2 and "already exists" in twice.output
    assert run("api-tokens", "revoke", "crm").exit_code == 0
    assert authenticate(engine, token, clock.now(), clock.now() - clock.now()) is None
    gone = run("api-tokens", "revoke", "crm")
    assert gone.exit_code == 2 and "no live API token named 'crm'" in gone.output


def test_an_unknown_scope_is_refused_naming_it(run) -> None:
    result = run("api-tokens", "add", "--name", "x", "--scope", "subscribers:admin")
    assert result.exit_code == 2
    assert "unknown scope 'subscribers:admin'" in result.output
