"""Secrets never appear on the admin settings page, in a settings repr or in a settings error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import log_in
from wildmail.core.settings import SettingsError, load_settings
from wildmail.web.app import create_app

pytestmark = pytest.mark.postgres

DB_PASSWORD = "Db-Pa55word-xyz"
SSL_PASSWORD = "ssl-key-pass-42"
SMTP_PASSWORD = "smtp-Pa55-qrs"
SECRET_KEY = "k" * 20 + "-very-secret-signing-key"
SECRETS = (DB_PASSWORD, SSL_PASSWORD, SMTP_PASSWORD, SECRET_KEY)


@pytest.fixture
def exposed(ctx):
    """Settings full of secrets (the database itself stays the test's own)."""
    ctx.settings = ctx.settings.with_overrides(
        database_url=f"postgresql+psycopg://wm:{DB_PASSWORD}@db.internal:5432/wildmail?sslpassword={SSL_PASSWORD}",
        smtp_user="relay-user",
        smtp_password=SMTP_PASSWORD,
        secret_key=SECRET_KEY,
        trusted_proxies=("10.0.0.0/8",),
    )
    return ctx


def test_settings_page_masks_every_secret(exposed, users) -> None:
    http = TestClient(create_app(exposed), base_url="http://testserver")  # no lifespan: the URL is fake
    log_in(http, users["admin"])
    page = http.get("/dashboard/settings")
    assert page.status_code == 200
    for secret in SECRETS:
        assert secret not in page.text
    assert "postgresql+psycopg://wm:***@db.internal:5432/wildmail?sslpassword=***" in page.text
    assert "relay-user" in page.text and "10.0.0.0/8" in page.text  # what is not secret is still shown
    assert page.text.count("(set, hidden)") == 2  # secret_key and smtp_password


def test_settings_repr_masks_every_secret(exposed) -> None:
    text = repr(exposed.settings) + str(exposed.settings)
    for secret in SECRETS:
        assert secret not in text
    assert "db.internal" in text


def test_a_bad_database_url_error_does_not_echo_the_password(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as caught:
        load_settings(None, {"WILDMAIL_DATABASE_URL": f"wm:{DB_PASSWORD}@db.internal/wildmail"})
    assert "WILDMAIL_DATABASE_URL" in str(caught.value) and DB_PASSWORD not in str(caught.value)
