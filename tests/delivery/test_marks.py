"""Data marks are durable by default: a commit that marks a message survives a database crash.

The crash itself is in tests/delivery/test_crash_postgres.py; these check the settings it relies on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from delivery.ledger import GROUP_COMMIT, Ledger, default_mark_window
from delivery.worker import Worker, WorkerConfig
from tests.delivery.test_cli import run
from wildmail.runtime.smtp_sink import RecordingSMTPServer


def _synchronous_commit(ledger: Ledger) -> str:
    conn = ledger.store.connection()
    value = str(conn.execute(text("SHOW synchronous_commit")).scalar_one())
    conn.rollback()
    return value


@pytest.mark.postgres_only
def test_the_default_worker_commits_its_marks_synchronously(ctx, smtp_server: RecordingSMTPServer):
    from delivery.smtp_transport import SmtpTransport

    worker = Worker(ctx, SmtpTransport("127.0.0.1", smtp_server.port), ctx.sender())
    try:
        assert _synchronous_commit(worker.ledger) == "on"
    finally:
        worker.ledger.close()
    fast = Worker(
        ctx, SmtpTransport("127.0.0.1", smtp_server.port), ctx.sender(), WorkerConfig(durable_marks=False)
    )
    try:
        assert _synchronous_commit(fast.ledger) == "off"
    finally:
        fast.ledger.close()


@pytest.mark.postgres
def test_the_default_mark_window_groups_durable_commits_only_on_postgres(ctx, backend):
    expected = GROUP_COMMIT if backend == "postgres" else 1
    assert default_mark_window(ctx.engine) == expected
    assert default_mark_window(ctx.engine, durable=False) == 1


def test_fast_and_durable_marks_together_are_refused(settings):
    result = run(settings, "worker", "--fast-marks", "--durable-marks")
    assert result.exit_code == 2
    assert "--fast-marks and --durable-marks" in result.output
    assert "Traceback" not in result.output
