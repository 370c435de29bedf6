"""``wildmail dkim keygen`` and DKIM key errors at the start of every sending command."""

from __future__ import annotations

import re
import stat
import subprocess
from email import message_from_bytes, policy

import dkim
import pytest
from typer.testing import CliRunner

from tests.delivery.factories import make_campaign
from tests.delivery.test_cli import env
from wildmail.cli import app

runner = CliRunner()


def keygen(*args: str, environ: dict[str, str] | None = None):
    return runner.invoke(
        app, ["dkim", "keygen", *args], env=environ or {"WILDMAIL_CONFIG": "/nonexistent.toml"}
    )


def printed(output: str) -> tuple[str, str, dict[str, str]]:
    """(record name, record value, settings lines) from keygen's output."""
    name = re.search(r"name:\s+(\S+)", output)
    value = re.search(r"value: (v=DKIM1;[^\n]+)", output)
    assert name is not None and value is not None, output
    lines = dict(re.findall(r'^\s+(dkim_\w+) = "([^"]+)"$', output, re.M))
    return name.group(1), value.group(1).strip(), lines


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_keygen_writes_a_private_key_and_prints_the_record(tmp_path, key_type):
    result = keygen("--selector", "s1", "--domain", "example.org", "--out", str(tmp_path), "--type", key_type)
    assert result.exit_code == 0, result.output
    name, value, lines = printed(result.output)
    assert name == "s1._domainkey.example.org"
    assert value.startswith(f"v=DKIM1; k={key_type}; p=")
    key_file = tmp_path / f"s1.example.org.{key_type}.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    selector, key_setting = {
        "rsa": ("dkim_selector", "dkim_private_key_file"),
        "ed25519": ("dkim_ed25519_selector", "dkim_ed25519_key_file"),
    }[key_type]
    assert lines[selector] == "s1" and lines[key_setting] == str(key_file)
    before = key_file.read_bytes()
    again = keygen("--selector", "s1", "--domain", "example.org", "--out", str(tmp_path), "--type", key_type)
    assert again.exit_code == 2 and "not overwriting" in again.output
    assert key_file.read_bytes() == before


def test_keygen_refuses_bad_input(tmp_path):
    assert keygen("--selector", "s 1", "--domain", "example.org", "--out", str(tmp_path)).exit_code == 2
    assert (
        keygen(
            "--selector", "s1", "--domain", "example.org", "--type", "dsa", "--out", str(tmp_path)
        ).exit_code
        == 2
    )
    assert (
        keygen(
            "--selector", "s1", "--domain", "example.org", "--bits", "512", "--out", str(tmp_path)
        ).exit_code
        == 2
    )
    assert list(tmp_path.iterdir()) == []


def test_generated_key_signs_test_sends_that_verify_against_the_printed_record(
    ctx, settings, smtp_server, tmp_path
):
    made = keygen("--selector", "wm1", "--domain", "wildmail.test", "--out", str(tmp_path))
    name, value, lines = printed(made.output)
    make_campaign(ctx, emails=2)
    environ = env(settings, smtp_server.port) | {f"WILDMAIL_{k.upper()}": v for k, v in lines.items()}
    result = runner.invoke(
        app,
        ["campaign", "test-send", "leopard", "--to", "a@example.org", "--to", "b@example.org"],
        env=environ,
    )
    assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == 4
    ids = set()
    for received in smtp_server.messages:
        assert dkim.verify(
            received.data, dnsfunc=lambda n, timeout=5: value.encode() if n.decode() == name + "." else b""
        )
        ids.add(message_from_bytes(received.data, policy=policy.default)["Message-ID"])
    assert len(ids) == 4
    assert (
        sorted(r.rcpt_tos[0] for r in smtp_server.messages) == ["a@example.org"] * 2 + ["b@example.org"] * 2
    )


SENDING_COMMANDS = [
    ["worker"],
    ["run", "--port", "1"],
    ["campaign", "test-send", "leopard", "--to", "a@example.org"],
    ["subscribers", "add", "x@example.org", "--list", "main"],
]


@pytest.mark.parametrize("command", SENDING_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_short_key_stops_every_sending_command_with_one_line(settings, tmp_path, command):
    short = tmp_path / "short.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(short), "768"], check=True, capture_output=True)
    environ = env(settings) | {"WILDMAIL_DKIM_SELECTOR": "s1", "WILDMAIL_DKIM_PRIVATE_KEY_FILE": str(short)}
    result = runner.invoke(app, command, env=environ)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "WILDMAIL_DKIM_PRIVATE_KEY_FILE" in lines[0] and "768-bit" in lines[0]
