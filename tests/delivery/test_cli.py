"""The delivery-backed commands through the real CLI: exit codes and messages."""

import json

from typer.testing import CliRunner

from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.cli import app
from wildmail.runtime.smtp_sink import free_port

runner = CliRunner()


def env(settings, port=25):
    return {
        "WILDMAIL_DATABASE_URL": settings.database_url,
        "WILDMAIL_SECRET_KEY": settings.secret_key,
        "WILDMAIL_SENDER_ADDRESS": settings.sender_address,
        "WILDMAIL_SMTP_HOST": "127.0.0.1",
        "WILDMAIL_SMTP_PORT": str(port),
        "WILDMAIL_SMTP_TIMEOUT": "2",
        "WILDMAIL_CONFIG": "/dev/null",
    }


def run(settings, *args, port=25):
    return runner.invoke(app, list(args), env=env(settings, port))


def test_schedule_pause_resume_status(ctx, settings):
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, 2)
    result = run(settings, "campaign", "schedule", "leopard")
    assert result.exit_code == 0, result.output
    assert "2 subscribers enrolled" in result.output
    status = json.loads(run(settings, "campaign", "status", "leopard", "--json").output)
    assert status["status"] == "scheduled"
    assert status["enrolments"] == {"active": 2} and status["positions"] == {"1": 2}
    assert run(settings, "campaign", "pause", "leopard").exit_code == 0
    again = run(settings, "campaign", "pause", "leopard")
    assert again.exit_code == 2 and "paused, not running" in again.output
    assert run(settings, "campaign", "resume", "leopard").exit_code == 0
    missing = run(settings, "campaign", "schedule", "no-such-campaign")
    assert missing.exit_code == 2 and "no campaign named" in missing.output


def test_test_send_uses_the_relay_and_reports_failures(ctx, settings, smtp_server):
    make_campaign(ctx, emails=3)
    ok = run(settings, "campaign", "test-send", "leopard", "--to", "me@example.org", port=smtp_server.port)
    assert ok.exit_code == 0, ok.output
    subjects = [m.message["Subject"] for m in smtp_server.messages]
    assert subjects[0] == "[TEST] Part 1: the leopard's forest"
    assert len(smtp_server.messages) == 3
    down = run(settings, "campaign", "test-send", "leopard", "--to", "me@example.org", port=free_port())
    assert down.exit_code == 1 and "test send failed" in down.output
    bad = run(settings, "campaign", "test-send", "leopard", "--to", "me@example.org\r\nBcc: x@y.z")
    assert bad.exit_code == 2


def test_schedule_now_says_who_gets_email_1_and_when(ctx, settings):
    make_campaign(ctx, emails=2, weekday=1)
    add_subscribers(ctx, 3)
    dry = run(settings, "campaign", "schedule", "leopard", "--now", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would schedule leopard: 3 subscribers would be enrolled; email 1 is due now" in dry.output
    assert json.loads(run(settings, "campaign", "status", "leopard", "--json").output)["status"] == "draft"
    both = run(settings, "campaign", "schedule", "leopard", "--now", "--start", "2030-01-01")
    assert both.exit_code == 2 and "alternatives" in both.output
    bad_day = run(settings, "campaign", "schedule", "leopard", "--start", "next tuesday")
    assert bad_day.exit_code == 2 and "--start: 'next tuesday' is not a date" in bad_day.output
    result = run(settings, "campaign", "schedule", "leopard", "--now")
    assert result.exit_code == 0, result.output
    assert "scheduled leopard: 3 subscribers enrolled; email 1 is due now" in result.output
    assert "later emails weekly on" in result.output
    status = json.loads(run(settings, "campaign", "status", "leopard", "--json").output)
    assert status["status"] == "scheduled" and status["positions"] == {"1": 3}
