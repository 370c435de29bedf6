"""``scheduler --once`` and ``worker --until-idle``: the cron-friendly roles, through the real CLI,
a real database and a real SMTP server (the wall clock: ``campaign schedule --now``)."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from tests.delivery.factories import add_subscribers, make_campaign
from tests.delivery.test_cli import env
from wildmail.cli import app
from wildmail.core.clock import SystemClock
from wildmail.runtime.smtp_sink import free_port

pytestmark = pytest.mark.postgres


def run(settings, *args, port=25, code=0):
    result = CliRunner().invoke(app, list(args), env=env(settings, port))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def test_schedule_now_then_one_tick_then_send_until_idle(ctx, settings, smtp_server, caplog):
    ctx.clock = SystemClock()
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, 3)
    run(settings, "campaign", "schedule", "leopard", "--now")
    assert "tick: queued 3 email(s)" in run(settings, "scheduler", "--once").stdout
    assert "tick: queued 0 email(s)" in run(settings, "scheduler", "--once").stdout  # idempotent
    caplog.set_level(logging.INFO)
    run(settings, "worker", "--until-idle", port=smtp_server.port)
    assert sorted(smtp_server.recipients()) == [f"reader{i}@example.org" for i in range(3)]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("worker started") for m in messages)
    assert any(m.endswith("sent 3, retried 0, bounced 0, unknown 0") for m in messages)
    assert messages[-1] == "worker idle: sent 3"
    run(settings, "worker", "--until-idle", port=smtp_server.port)  # nothing due: exits at once, 0


def test_until_idle_exits_1_when_the_relay_failed_throughout(ctx, settings, caplog):
    ctx.clock = SystemClock()
    make_campaign(ctx, emails=1)
    add_subscribers(ctx, 2)
    run(settings, "campaign", "schedule", "leopard", "--now")
    run(settings, "scheduler", "--once")
    caplog.set_level(logging.INFO)
    port = free_port()
    run(settings, "worker", "--until-idle", port=port, code=1)
    last = caplog.records[-1]
    assert last.levelno == logging.WARNING
    text = last.getMessage()
    assert text.startswith(f"worker idle: sent 0; relay 127.0.0.1:{port} paused until ")
    assert "cannot connect" in text and "1 waiting for a retry" in text
    status = run(settings, "campaign", "status", "leopard")
    assert f"alert: relay 127.0.0.1:{port} is paused until" in " ".join(status.stdout.split())
    stats = run(settings, "stats")
    assert "alert: relay" in stats.stdout and "settling window" in " ".join(stats.stdout.split())
