"""``wildmail stats`` and ``wildmail users`` through the real CLI on a real database file."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.stats import scenario as sc
from wildmail.cli import app
from wildmail.runtime.users import authenticate


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    return db_url


def _run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_stats_json_csv_and_table_agree(cli_env, engine) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    data = json.loads(_run("stats", "leopard", "--json").stdout)
    assert data["total"]["human_openers"] == 6 and data["emails"][0]["open_rate"] == 0.6
    assert [x["position"] for x in data["dropoff"]] == [1, 2, 3]
    rows = list(csv.DictReader(io.StringIO(_run("stats", "leopard", "--csv").stdout)))
    assert [r["position"] for r in rows] == ["1", "2", "3", "total"]
    assert rows[0]["delivered"] == "5" and rows[0]["click_to_open"] == "0.6667"
    assert rows[3]["human_openers"] == "6"
    rebuilt = _run("stats", "leopard", "--json", "--rebuild")
    assert json.loads(rebuilt.stdout)["total"] == data["total"] and "folded 16 events" in rebuilt.stderr
    table = _run("stats", "leopard")
    assert table.exit_code == 0 and "60.0%" in table.stdout and "All emails" in table.stdout


def test_stats_overview_formats(cli_env, engine) -> None:
    assert "No campaigns yet" in _run("stats").stdout
    with Session(engine) as s:
        sc.build_leopard(s)
        sc.build_anonymous(s)
    data = json.loads(_run("stats", "--json").stdout)
    assert {d["campaign"]: d["human_clickers"] for d in data} == {"leopard": 3, "anon": 2}
    rows = list(csv.DictReader(io.StringIO(_run("stats", "--csv").stdout)))
    assert {r["campaign"] for r in rows} == {"leopard", "anon"}
    assert "leopard" in _run("stats").stdout


def test_stats_html_report_file(cli_env, engine, tmp_path) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    target = tmp_path / "report.html"
    result = _run("stats", "leopard", "--html", str(target))
    assert result.exit_code == 0 and "<svg" in target.read_text()
    assert _run("stats", "--html", str(target)).exit_code == 2
    assert _run("stats", "leopard", "--html", str(tmp_path / "no" / "dir.html")).exit_code == 1


def test_stats_errors(cli_env) -> None:
    result = _run("stats", "missing")
    assert result.exit_code == 2 and "no campaign named 'missing'" in result.stderr
    assert _run("stats", "--json", "--csv").exit_code == 2


def test_users_lifecycle(cli_env, engine, clock) -> None:
    added = _run(
        "users", "add", "Ana@Example.org", "--role", "marketer", "--password-stdin", stdin="long-password-1\n"
    )
    assert added.exit_code == 0, added.output
    assert (
        _run("users", "add", "ana@example.org", "--password-stdin", stdin="long-password-1\n").exit_code == 2
    )
    assert (
        _run("users", "add", "bo@example.org", "--role", "boss", "--password-stdin", stdin="x" * 12).exit_code
        == 2
    )
    short = _run("users", "add", "bo@example.org", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2 and "at least" in short.stderr
    listing = _run("users", "list").stdout
    assert "ana@example.org" in listing and "marketer" in listing
    assert (
        _run(
            "users", "set-password", "ana@example.org", "--password-stdin", stdin="another-pass-2\n"
        ).exit_code
        == 0
    )
    with Session(engine) as s:
        assert authenticate(s, "ana@example.org", "long-password-1", clock.now()) is None
        assert authenticate(s, "ANA@example.org", "another-pass-2", clock.now()) is not None
    assert _run("users", "remove", "ana@example.org").exit_code == 0
    assert _run("users", "remove", "ana@example.org").exit_code == 2
    assert "No users yet" in _run("users", "list").stdout
