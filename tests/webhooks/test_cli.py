"""``wildmail webhooks`` and ``wildmail worker`` end to end: real SQLite/PostgreSQL, a real receiver."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.delivery.worker_env import start_worker, wait_ready, worker_env
from wildmail.cli import app

pytestmark = pytest.mark.postgres


@pytest.fixture
def cli(db_url, smtp_server, monkeypatch):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "cli-test-secret-key-not-for-production")
    monkeypatch.setenv("WILDMAIL_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("WILDMAIL_WEBHOOKS_ALLOW_PRIVATE", "true")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    return invoke


def _readme_verify():
    """The receiver snippet of the README, as a reader would paste it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Outbound webhooks", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    scope: dict[str, object] = {}
    exec(code, scope)  # noqa: S102 (our own README)
    return scope["verify"]


def _add(cli, receiver, events: str) -> int:
    out = cli("webhooks", "add", receiver.url, "--events", events, "--description", "CRM sync")
    receiver.secret = out.strip().splitlines()[-1]
    assert receiver.secret.startswith("whsec_")
    return int(out.split("added endpoint ", 1)[1].split(":", 1)[0])


def test_a_subscription_through_the_cli_reaches_the_receiver(cli, receiver) -> None:
    endpoint = _add(cli, receiver, "subscriber.created,subscriber.confirmed")
    listed = cli("webhooks", "list")
    assert receiver.url in listed and "subscriber.created" in listed
    assert receiver.secret not in listed  # shown once, at creation
    cli("subscribers", "list-create", "open", "--single-opt-in")
    cli("subscribers", "add", "ana@example.org", "--list", "open")
    assert "2 delivered" in cli("webhooks", "deliver", "--until-idle")
    types = sorted(r.document["type"] for r in receiver.received)
    assert types == ["subscriber.confirmed", "subscriber.created"]
    assert all(r.fresh for r in receiver.received)  # the library's full check, timestamp included
    verify = _readme_verify()
    for r in receiver.received:
        assert verify(receiver.secret, r.headers, r.body)
        assert not verify(receiver.secret, r.headers, r.body.replace(b"ana@", b"eve@"))
    log = cli("webhooks", "log", str(endpoint))
    assert "subscriber.created" in log and "delivered" in log and "200" in log
    assert "nothing due" in cli("webhooks", "deliver", "--until-idle")


def test_test_ping_resend_remove_and_mistakes(cli, receiver) -> None:
    endpoint = _add(cli, receiver, "*")
    assert "ping 1 delivered: HTTP 200" in cli("webhooks", "test", str(endpoint))
    ping = receiver.received[0]
    assert ping.fresh and ping.document["type"] == "webhook.ping"
    assert ping.document["data"] == {"endpoint_id": endpoint}
    receiver.default = 500
    assert "not delivered: HTTP 500" in cli("webhooks", "test", str(endpoint), code=1)
    receiver.default = 200
    assert "queued delivery 3" in cli("webhooks", "resend", "2")
    # The resend, and the failed ping's own retry when its 5 s have passed meanwhile.
    assert re.search(r"webhooks: [12] delivered", cli("webhooks", "deliver", "--until-idle"))
    assert receiver.received[-1].msg_id == receiver.received[1].msg_id
    assert "no webhook delivery 99" in cli("webhooks", "resend", "99", code=2)
    assert "no webhook endpoint 42 (known: 1)" in cli("webhooks", "log", "42", code=2)
    assert "http:// or https://" in cli("webhooks", "add", "file:///etc/passwd", "--events", "*", code=2)
    assert "unknown event type" in cli("webhooks", "add", receiver.url, "--events", "bounced", code=2)
    cli("webhooks", "disable", str(endpoint))
    assert "disabled" in cli("webhooks", "list")
    assert "is disabled; enable it first" in cli("webhooks", "test", str(endpoint), code=2)
    cli("webhooks", "enable", str(endpoint))
    assert f"removed endpoint {endpoint}" in cli("webhooks", "remove", str(endpoint))
    assert "No webhook endpoints yet" in cli("webhooks", "list")


def test_private_addresses_need_the_setting(cli, receiver, monkeypatch) -> None:
    monkeypatch.setenv("WILDMAIL_WEBHOOKS_ALLOW_PRIVATE", "false")
    out = cli("webhooks", "add", receiver.url, "--events", "*", code=2)
    assert "private, loopback or reserved" in out and "webhooks_allow_private" in out
    monkeypatch.setenv("WILDMAIL_WEBHOOKS_ALLOW_PRIVATE", "maybe")
    out = cli("webhooks", "list", code=2)
    assert "WILDMAIL_WEBHOOKS_ALLOW_PRIVATE: expected true or false, got 'maybe'" in out


@pytest.mark.parametrize("sessions", ["1", "2"])
def test_the_worker_delivers_webhooks(cli, receiver, settings, smtp_server, sessions) -> None:
    _add(cli, receiver, "subscriber.created")
    env = worker_env(settings, smtp_server.port)
    env["WILDMAIL_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    proc = start_worker(env, "--concurrency", sessions)
    try:
        wait_ready(proc, timeout=180)  # three Python processes start on a busy machine
        cli("subscribers", "list-create", "open", "--single-opt-in")
        cli("subscribers", "add", "ana@example.org", "--list", "open")
        arrived = receiver.wait_for("subscriber.created")
        assert arrived.fresh and arrived.document["data"]["email"] == "ana@example.org"
        time.sleep(1.5)  # two dispatchers would both have sent it by now
        assert len(receiver.received) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
