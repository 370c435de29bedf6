"""DKIM signing with the key named in settings, through the normal message paths."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest

from campaigns.models import Email
from delivery.compose import build_message
from delivery.control import schedule_campaign
from delivery.enqueue import tick
from delivery.message import Sender
from delivery.smtp_transport import SmtpTransport
from delivery.worker import run_worker_once
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.context import AppContext
from wildmail.settings import SettingsError, load_settings

SELECTOR, DOMAIN = "wm2026", "mail.wildmail.test"


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh RSA private key file and its base64 DER public key (for the DNS record)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is not installed (and neither is 'cryptography')")
    key = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, base64.b64encode(der)


def dns_for(public: bytes):
    looked_up: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode():
            return b"v=DKIM1; k=rsa; p=" + public
        return b""

    return dns, looked_up


def signed_headers(data: bytes) -> set[str]:
    signature = message_from_bytes(data, policy=policy.default)["DKIM-Signature"]
    tags = re.sub(r"\s+", "", str(signature))
    found = re.search(r"(?:^|;)h=([^;]+)", tags)
    assert found is not None
    assert re.search(r"(?:^|;)d=([^;]+)", tags).group(1) == DOMAIN  # type: ignore[union-attr]
    assert re.search(r"(?:^|;)s=([^;]+)", tags).group(1) == SELECTOR  # type: ignore[union-attr]
    return {h.lower() for h in found.group(1).split(":")}


def with_dkim(ctx: AppContext, key: Path) -> AppContext:
    """``ctx`` with DKIM configured the way an operator does it: keys in the environment."""
    env = {
        "WILDMAIL_DATABASE_URL": ctx.settings.database_url,
        "WILDMAIL_SECRET_KEY": ctx.settings.secret_key,
        "WILDMAIL_BASE_URL": ctx.settings.base_url,
        "WILDMAIL_SENDER_ADDRESS": ctx.settings.sender_address,
        "WILDMAIL_DKIM_SELECTOR": SELECTOR,
        "WILDMAIL_DKIM_DOMAIN": DOMAIN,
        "WILDMAIL_DKIM_PRIVATE_KEY_FILE": str(key),
    }
    settings = load_settings(environ=env)
    return AppContext(settings=settings, engine=ctx.engine, clock=ctx.clock)


def check(data: bytes, public: bytes) -> None:
    dns, looked_up = dns_for(public)
    assert data.startswith(b"DKIM-Signature:")
    assert dkim.verify(data, dnsfunc=dns)
    assert looked_up == [f"{SELECTOR}._domainkey.{DOMAIN}.".encode()]
    assert {"from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= signed_headers(data)
    tampered = re.sub(
        rb"List-Unsubscribe: <[^>]*>", b"List-Unsubscribe: <https://evil.example/u>", data, count=1
    )
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)


def test_build_message_signs_with_the_key_from_settings(ctx, rsa_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray wildmail.toml is read
    key, public = rsa_key
    signing = with_dkim(ctx, key)
    campaign = make_campaign(signing, emails=1)
    with signing.session() as s:
        email_id = s.query(Email.id).filter_by(campaign_id=campaign.id).scalar()
    data = build_message(signing, email_id, "ana@example.org", "Ana", delivery_id=7)
    check(data, public)


def test_worker_sends_signed_mail(ctx, clock, smtp_server, rsa_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key, public = rsa_key
    signing = with_dkim(ctx, key)
    make_campaign(signing)
    add_subscribers(signing, 2)
    schedule_campaign(signing, "leopard")
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert tick(signing).queued == 2
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5.0)
    assert run_worker_once(signing, transport) == 2
    transport.close()
    assert len(smtp_server.messages) == 2
    for received in smtp_server.messages:
        check(received.data, public)


@pytest.mark.parametrize("problem", ["missing", "unreadable", "not a key"])
def test_bad_key_file_is_a_one_line_error_naming_the_setting(ctx, tmp_path, problem):
    path = tmp_path / "dkim.pem"
    if problem == "unreadable":
        path.mkdir()  # reading a folder fails even as root
    elif problem == "not a key":
        path.write_text("-----BEGIN NOTHING-----\nabc\n-----END NOTHING-----\n")
    settings = ctx.settings.with_overrides(
        dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_file=str(path)
    )
    with pytest.raises(SettingsError) as info:
        Sender.from_settings(settings)
    message = str(info.value)
    assert message.startswith("WILDMAIL_DKIM_PRIVATE_KEY_FILE: ") and "\n" not in message
    assert str(path) in message


def test_selector_without_key_file_or_key_file_without_selector_is_refused(ctx, tmp_path):
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_PRIVATE_KEY_FILE: .*needs both"):
        ctx.settings.with_overrides(dkim_selector=SELECTOR)
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_SELECTOR: .*needs both"):
        ctx.settings.with_overrides(dkim_private_key_file=str(tmp_path / "k.pem"))
