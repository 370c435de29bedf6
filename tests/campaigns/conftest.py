"""Fixtures for campaign tests: the CLI on a real SQLite file, the sample article."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO

SAMPLE = REPO / "campaigns" / "samples" / "amur-leopard.md"


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run CLI commands in ``tmp_path`` against this test's migrated SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WILDMAIL_CONFIG", raising=False)
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "campaign-cli-test-secret-not-for-production")
    monkeypatch.setenv("WILDMAIL_BASE_URL", "http://testserver")
    return tmp_path


@pytest.fixture
def run(cli_env: Path):
    """Invoke ``wildmail <args>``; returns the click Result."""
    from wildmail.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
