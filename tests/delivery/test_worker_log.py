"""The worker says what it did: one line per batch, and a clear line when the relay is
unreachable or answers 421, with the time sending resumes; relay trouble shows in the alerts."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from delivery.alerts import relay_alerts
from delivery.lifecycle import campaign_status
from delivery.smtp_transport import SmtpTransport
from delivery.worker import run_worker_once
from tests.delivery.test_worker import SLOT, config, queue, smtp
from wildmail.runtime.smtp_sink import free_port

pytestmark = pytest.mark.postgres


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wildmail.worker" and r.levelno >= level]


def test_one_line_per_batch_counts_each_outcome(ctx, clock, smtp_server, caplog, backend):
    queue(ctx, clock, 3)
    smtp_server.fail("rcpt", 550, "5.1.1 no such user")
    caplog.set_level(logging.INFO, "wildmail.worker")
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 2
    # The first recipient is refused; the next one accepted shows the refusal was about that address.
    assert lines(caplog) == [f"batch of 3 via relay {t.name}: sent 2, retried 0, bounced 1, unknown 0"]
    record = next(r for r in caplog.records if r.name == "wildmail.worker")
    assert record.data["relay"] == t.name and record.data["sent"] == 2  # type: ignore[attr-defined]


def test_a_refusal_judged_after_its_batch_gets_a_line_of_its_own(ctx, clock, smtp_server, caplog, backend):
    queue(ctx, clock, 1)
    smtp_server.fail("rcpt", 550, "5.1.1 no such user")
    caplog.set_level(logging.INFO, "wildmail.worker")
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    assert lines(caplog) == [
        f"batch of 1 via relay {t.name}: sent 0, retried 0, bounced 0, unknown 0",
        f"held refusals via relay {t.name}: sent 0, retried 0, bounced 1, unknown 0",
    ]


def test_an_unreachable_relay_is_one_warning_with_the_retry_time_and_an_alert(ctx, clock, caplog, backend):
    queue(ctx, clock, 3)
    caplog.set_level(logging.INFO, "wildmail.worker")
    port = free_port()
    dead = SmtpTransport("127.0.0.1", port, timeout=2.0)
    assert run_worker_once(ctx, dead, ctx.sender(), config()) == 0
    resume = (SLOT + timedelta(minutes=5)).isoformat(timespec="seconds")
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"relay 127.0.0.1:{port} is unreachable (cannot connect to 127.0.0.1:{port}"
    )
    assert warnings[0].endswith(f"every worker waits until {resume}, then retries")
    assert f"batch of 3 via relay 127.0.0.1:{port}: sent 0, retried 1" in lines(caplog)[-1]
    alerts = relay_alerts(ctx)
    assert alerts[0].startswith(
        f"relay 127.0.0.1:{port} is paused until 2026-01-05 09:05:00 UTC: cannot connect"
    )
    assert any("wait for a retry" in a for a in alerts)
    assert campaign_status(ctx, "leopard").alerts == alerts


def test_a_421_is_one_warning_with_the_retry_time(ctx, clock, smtp_server, caplog, backend):
    queue(ctx, clock, 2)
    smtp_server.fail("mail", 421, "4.3.2 too busy, come back later")
    caplog.set_level(logging.INFO, "wildmail.worker")
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    (warning,) = lines(caplog, logging.WARNING)
    resume = (SLOT + timedelta(minutes=5)).isoformat(timespec="seconds")
    assert warning == (
        f"relay {t.name} answered 421 (4.3.2 too busy, come back later); every worker waits until {resume},"
        " then retries"
    )
