"""Commands that write succeed while another writer commits all the time (as the worker does).

A SQLite session that reads first and writes later fails at once with "database is locked" when
another connection committed in between; the commands take the writer lock before they read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.conftest import SEED
from wildmail.cli import app
from wildmail.core.db import make_engine, write_connection


@pytest.fixture
def busy_writer(db_url: str) -> Iterator[list[int]]:
    """A thread committing small write transactions back to back on its own engine."""
    engine = make_engine(db_url)
    with write_connection(engine) as conn:
        conn.execute(text("CREATE TABLE churn (n INTEGER)"))
    done = threading.Event()
    commits = [0]

    def churn() -> None:
        while not done.is_set():
            with write_connection(engine) as conn:
                conn.execute(text("INSERT INTO churn VALUES (1)"))
            commits[0] += 1

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    yield commits
    done.set()
    thread.join(timeout=30)
    engine.dispose()


def test_commands_that_write_succeed_beside_a_busy_writer(
    db_url, smtp_server, monkeypatch, busy_writer
) -> None:
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "cli-test-secret-key-not-for-production")
    monkeypatch.setenv("WILDMAIL_SMTP_PORT", str(smtp_server.port))
    runner = CliRunner()
    commands = [
        ["subscribers", "list-create", "open", "--single-opt-in"],
        ["subscribers", "add", "ana@example.org", "--list", "open"],
        ["subscribers", "add", "ben@example.org", "--list", "open"],
        ["subscribers", "unsubscribe", "ben@example.org"],
        ["campaign", "create", str(SEED), "--name", "leopards", "--list", "open"],
        ["campaign", "schedule", "leopards"],
        ["campaign", "pause", "leopards"],
        ["subscribers", "forget", "ana@example.org", "--yes"],
    ]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert busy_writer[0] > 50  # the other writer kept committing meanwhile
