"""``wildmail inbound poll`` against a real IMAP server (a private Dovecot on loopback): our DSN is
acted on and moved to the processed folder, everything else to the unknown folder, nothing deleted."""

from __future__ import annotations

import pytest
from imap_tools import MailBoxUnencrypted
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from subscribers.models import Subscriber
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import dovecot
from tests.inbound import helpers as h
from wildmail.cli import app
from wildmail.runtime.smtp_sink import free_port


@pytest.fixture
def imap_server():
    reason = dovecot.unavailable()
    if reason:
        pytest.skip(reason)
    server = dovecot.PrivateDovecot(free_port()).start()
    yield server
    server.stop()


def test_poll_acts_on_ours_and_files_every_message_without_deleting(ctx, imap_server, monkeypatch) -> None:
    campaign = make_campaign(ctx, emails=1)
    (ana,) = add_subscribers(ctx, [("ana@example.org", "Ana", None)])
    (d_ana,) = h.sent_deliveries(ctx, campaign.id, [ana])
    corpus = h.CORPUS / "gmail-vacation.eml"
    with MailBoxUnencrypted("127.0.0.1", imap_server.port).login(
        imap_server.user, imap_server.password
    ) as box:
        box.append(h.dsn("ana@example.org", to=h.return_path(ctx, d_ana)), "INBOX")
        box.append(corpus.read_bytes(), "INBOX")
        box.append(h.dsn("zed@example.org", to="b-1-aaaaaaaaaaaaaaaaaaaa@" + h.BOUNCE_DOMAIN), "INBOX")
    for key, value in {
        "CONFIG": "/dev/null",
        "DATABASE_URL": ctx.settings.database_url,
        "SECRET_KEY": ctx.settings.secret_key,
        "IMAP_HOST": "127.0.0.1",
        "IMAP_PORT": str(imap_server.port),
        "IMAP_TLS": "none",
        "IMAP_USER": imap_server.user,
        "IMAP_PASSWORD": imap_server.password,
    }.items():
        monkeypatch.setenv(f"WILDMAIL_{key}", value)
    result = CliRunner().invoke(app, ["inbound", "poll"])
    assert result.exit_code == 0, result.output
    assert "3 message(s) read" in result.stdout and "hard suppressed" in result.stdout
    with Session(ctx.engine) as s:
        person = s.get(Subscriber, ana)
        assert person is not None and person.status == "bounced"
    with MailBoxUnencrypted("127.0.0.1", imap_server.port).login(
        imap_server.user, imap_server.password
    ) as box:
        counts = {}
        for folder in ("INBOX", "wildmail-processed", "wildmail-unknown"):
            box.folder.set(folder)
            counts[folder] = sorted(m.subject for m in box.fetch(mark_seen=False))
    assert counts["INBOX"] == []
    assert counts["wildmail-processed"] == ["Undelivered Mail Returned to Sender"]
    assert counts["wildmail-unknown"] == ["Away until Monday", "Undelivered Mail Returned to Sender"]
    again = CliRunner().invoke(app, ["inbound", "poll"])
    assert again.exit_code == 0 and "0 message(s) read" in again.stdout


def test_poll_names_a_missing_setting_and_an_unreachable_server(ctx, monkeypatch) -> None:
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", ctx.settings.secret_key)
    missing = CliRunner().invoke(app, ["inbound", "poll"])
    assert missing.exit_code == 2 and "WILDMAIL_IMAP_HOST" in missing.stderr
    for key, value in {"IMAP_HOST": "127.0.0.1", "IMAP_PORT": str(free_port()), "IMAP_TLS": "none",
                       "IMAP_USER": "u", "IMAP_PASSWORD": "p"}.items():  # fmt: skip
        monkeypatch.setenv(f"WILDMAIL_{key}", value)
    down = CliRunner().invoke(app, ["inbound", "poll"])
    assert (
        down.exit_code == 1 and "cannot reach IMAP server" in down.stderr and "Traceback" not in down.output
    )
