"""DKIM signing with the key named in settings, through the normal message paths."""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from campaigns.models import Email
from delivery.compose import build_message
from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.smtp_transport import SmtpTransport
from delivery.worker import run_worker_once
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.core.settings import SettingsError, load_settings
from wildmail.runtime.context import AppContext

SELECTOR, DOMAIN = "wm2026", "mail.wildmail.test"


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh RSA private key file and its base64 DER public key (for the DNS record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    path.write_bytes(pem(key))
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, base64.b64encode(der)


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
    data = build_message(signing, signing.sender(), email_id, "ana@example.org", "Ana", delivery_id=7)
    check(data, public)


def test_worker_sends_signed_mail(ctx, clock, smtp_server, rsa_key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    key, public = rsa_key
    signing = with_dkim(ctx, key)
    make_campaign(signing)
    add_subscribers(signing, 2)
    schedule_campaign(signing, "leopard")
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert tick(signing, signing.message_ids).queued == 2
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5.0)
    assert run_worker_once(signing, transport, signing.sender()) == 2
    transport.close()
    assert len(smtp_server.messages) == 2
    for received in smtp_server.messages:
        check(received.data, public)


def _write_problem_key(path: Path, problem: str) -> None:
    if problem == "unreadable":
        path.mkdir()  # reading a folder fails even as root
    elif problem == "not a key":
        path.write_text("-----BEGIN NOTHING-----\nabc\n-----END NOTHING-----\n")
    elif problem == "ed25519 in the RSA setting":
        path.write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    elif problem == "too short":
        subprocess.run(["openssl", "genrsa", "-out", str(path), "768"], check=True, capture_output=True)
    elif problem == "encrypted":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )


PROBLEMS = {
    "missing": "cannot read",
    "unreadable": "cannot read",
    "not a key": "is not a PEM private key",
    "ed25519 in the RSA setting": "is not an RSA key",
    "too short": "is a 768-bit RSA key; DKIM needs at least 1024 bits",
    "encrypted": "is encrypted",
}


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_bad_key_file_is_a_one_line_error_naming_the_setting(ctx, tmp_path, problem):
    path = tmp_path / "dkim.pem"
    _write_problem_key(path, problem)
    with pytest.raises(SettingsError) as info:  # refused when the settings are loaded: at startup
        ctx.settings.with_overrides(
            dkim_selector=SELECTOR, dkim_domain=DOMAIN, dkim_private_key_file=str(path)
        )
    message = str(info.value)
    assert message.startswith("WILDMAIL_DKIM_PRIVATE_KEY_FILE: ") and "\n" not in message
    assert str(path) in message and PROBLEMS[problem] in message


def test_rsa_key_in_the_ed25519_setting_is_refused(ctx, rsa_key, tmp_path):
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_ED25519_KEY_FILE: .* is not an Ed25519 key$"):
        ctx.settings.with_overrides(
            dkim_selector=SELECTOR,
            dkim_private_key_file=str(rsa_key[0]),
            dkim_ed25519_selector="ed1",
            dkim_ed25519_key_file=str(rsa_key[0]),
        )
    ed_file = tmp_path / "ed.pem"
    ed_file.write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_ED25519_KEY_FILE: .*second one"):
        ctx.settings.with_overrides(dkim_ed25519_selector="ed1", dkim_ed25519_key_file=str(ed_file))


def test_selector_without_key_file_or_key_file_without_selector_is_refused(ctx, tmp_path):
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_PRIVATE_KEY_FILE: .*needs both"):
        ctx.settings.with_overrides(dkim_selector=SELECTOR)
    with pytest.raises(SettingsError, match=r"^WILDMAIL_DKIM_SELECTOR: .*needs both"):
        ctx.settings.with_overrides(dkim_private_key_file=str(tmp_path / "k.pem"))
