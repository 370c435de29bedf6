"""``wildmail subscribers`` end to end: real SQLite file, real SMTP server, exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from tests.subscribers.helpers import LINK
from wildmail.cli import app


@pytest.fixture
def run(db_url, smtp_server, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "cli-test-secret-key-not-for-production")
    monkeypatch.setenv("WILDMAIL_BASE_URL", "http://news.example")
    monkeypatch.setenv("WILDMAIL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WILDMAIL_SMTP_PORT", str(smtp_server.port))
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, input: str | None = None):
        result = runner.invoke(app, ["subscribers", *args], input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke


def test_lists_add_confirm_show_unsubscribe(run, smtp_server) -> None:
    run("list-create", "news", "--name", "Leopard News")
    run("list-create", "open", "--single-opt-in")
    assert "already exists" in run("list-create", "news", code=2).output
    out = run(
        "add", "Ada@Example.org", "--list", "news", "--name", "Ada", "--timezone", "Europe/Berlin"
    ).output
    assert "confirmation email sent to ada@example.org" in out
    assert smtp_server.recipients() == ["ada@example.org"]
    message = smtp_server.messages[0].message
    assert "Leopard News" in message["Subject"]
    link = LINK.findall(message.get_body(("plain",)).get_content())[0]
    assert link.startswith("http://news.example/confirm/")
    assert "active member" in run("add", "bob@example.org", "--list", "open").output
    lists = run("lists").output
    assert "news" in lists and "double" in lists and "single" in lists
    shown = run("show", "ADA@example.org").output
    assert "pending" in shown and "Europe/Berlin" in shown and "form" not in shown and "admin" in shown
    assert "unsubscribed" in run("unsubscribe", "bob@example.org").output
    shown = run("show", "bob@example.org").output
    assert "suppressed: yes" in shown and "unsubscribed" in shown
    assert (
        run("confirm-link", "ada@example.org", "--list", "news")
        .output.strip()
        .startswith("http://news.example/confirm/")
    )


def test_user_errors_exit_2_and_smtp_failure_exit_1(run, smtp_server) -> None:
    run("list-create", "news")
    assert "no list 'tigers'" in run("add", "a@example.org", "--list", "tigers", code=2).output
    assert "invalid email" in run("add", "nope", "--list", "news", code=2).output
    assert "no subscriber" in run("show", "ghost@example.org", code=2).output
    smtp_server.fail("rcpt", 451, "try later")
    assert "nothing was saved" in run("add", "c@example.org", "--list", "news", code=1).output
    assert "no subscriber" in run("show", "c@example.org", code=2).output
    assert "--status" in run("import", "x.csv", "--list", "news", "--status", "gone", code=2).output


def test_import_export_person_and_forget(run, tmp_path) -> None:
    run("list-create", "news")
    source = tmp_path / "in.csv"
    source.write_text("email,name,country\nada@example.org,Ada,ru\nbad-address,X,\nbob@example.org,Bob,cn\n")
    rejects = tmp_path / "rejects.csv"
    dry = run("import", str(source), "--list", "news", "--dry-run").output
    assert "2 new" in dry and "not saved" in dry
    assert "0 subscribers" in run("export", "--output", str(tmp_path / "none.csv")).output
    out = run("import", str(source), "--list", "news", "--rejects", str(rejects)).output
    assert "2 new" in out and "1 rejected" in out and "line 3" in out
    assert list(csv.reader(rejects.open()))[1][:3] == [
        "3",
        "invalid email address: An email address must have an @-sign.",
        "bad-address",
    ]
    again = run("import", str(source), "--list", "news").output
    assert "0 new" in again and "2 unchanged" in again
    exported = list(csv.DictReader(io.StringIO(run("export", "--list", "news", "--status", "active").output)))
    assert [(r["email"], r["country"]) for r in exported] == [
        ("ada@example.org", "ru"),
        ("bob@example.org", "cn"),
    ]
    person = json.loads(run("export-person", "ada@example.org").output)
    assert person["subscriber"]["name"] == "Ada" and person["consent_history"][0]["source"] == "import"
    assert "nothing erased" in run("forget", "ada@example.org", input="n\n", code=2).output
    assert "forgotten" in run("forget", "ada@example.org", "--yes").output
    assert "no subscriber" in run("show", "ada@example.org", code=2).output
    assert "1 skipped" in run("import", str(source), "--list", "news").output
    missing = run("import", str(tmp_path / "missing.csv"), "--list", "news", code=2).output
    assert "missing.csv" in missing and "cannot open" in missing
