"""The CLI shell, the web shell and the SMTP test server work as real parts."""

import smtplib
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from wildmail.cli import app
from wildmail.core.signing import BadToken, sign_ints, verify_ints
from wildmail.runtime.smtp_sink import RecordingSMTPServer


def _all_command_paths(group, prefix=()):  # type: ignore[no-untyped-def]
    import typer.main

    cmd = typer.main.get_command(group)
    stack = [(prefix, cmd)]
    while stack:
        path, c = stack.pop()
        yield path
        for name, sub in getattr(c, "commands", {}).items():
            stack.append(((*path, name), sub))


def test_help_works_everywhere() -> None:
    runner = CliRunner()
    paths = list(_all_command_paths(app))
    assert ("db", "upgrade") in paths and ("demo",) in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_bad_setting_is_one_line_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"WILDMAIL_SMTP_PORT": "abc", "WILDMAIL_CONFIG": "/dev/null", "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "wildmail.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert "WILDMAIL_SMTP_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_db_upgrade_via_cli(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "0005" in result.output or "revision" in result.output
    result = CliRunner().invoke(app, ["db", "downgrade", "base"])
    assert "base" in result.output


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"


def test_smtp_server_records_and_injects_faults(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.hard_bounce.add("gone@example.org")
    smtp_server.fail("data", 451, "try later")
    with smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=5) as c:
        with pytest.raises(smtplib.SMTPDataError) as err:
            c.sendmail("a@x.org", ["b@example.org"], b"Subject: t\r\n\r\nhi\r\n")
        assert err.value.smtp_code == 451
        c.sendmail("a@x.org", ["b@example.org"], b"Subject: t\r\n\r\nhi\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail("a@x.org", ["gone@example.org"], b"Subject: t\r\n\r\nhi\r\n")
    assert smtp_server.recipients() == ["b@example.org"]
    assert smtp_server.messages[0].message["Subject"] == "t"
    smtp_server.drop("mail")
    with (
        smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=5) as c,
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        c.sendmail("a@x.org", ["b@example.org"], b"Subject: t\r\n\r\nhi\r\n")


def test_signed_tokens_reject_tampering() -> None:
    key = b"k" * 32
    token = sign_ints(key, "open", 42)
    assert verify_ints(key, "open", token, 1) == (42,)
    for bad in (
        token[:-1],
        "x" + token,
        token.replace(".", ""),
        sign_ints(key, "click", 42),
        sign_ints(b"other", "open", 42),
    ):
        with pytest.raises(BadToken):
            verify_ints(key, "open", bad, 1)
