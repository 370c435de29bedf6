"""Every message the product sends is DKIM-signed and verifies with dkimpy after a real SMTP trip:
the sample campaign through the worker (plain and pipelined paths), test sends, confirmations."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from delivery.dkim import dns_record, split_message
from delivery.enqueue import tick
from delivery.lifecycle import CampaignOptions, create_campaign_from_file, schedule_campaign, test_send
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from subscribers import optin
from subscribers.lifecycle import create_list
from tests.conftest import REPO
from tests.delivery.factories import add_subscribers
from wildmail.runtime.context import AppContext
from wildmail.runtime.mailer import send_one
from wildmail.runtime.smtp_sink import free_port

SAMPLE = REPO / "campaigns" / "samples" / "amur-leopard.md"
DOMAIN = "wildmail.test"
SINK = Path("/usr/sbin/smtp-sink")
CAMPAIGN_HEADERS = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "list-id",
    "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "reply-to",
}  # fmt: skip
OVERSIGNED = ("from", "subject", "list-unsubscribe", "list-unsubscribe-post")


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """RSA and Ed25519 key files, and the DNS TXT records that publish them."""
    folder = tmp_path_factory.mktemp("dkim-keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    (folder / "rsa.pem").write_bytes(_pem(rsa_key))
    (folder / "ed.pem").write_bytes(_pem(ed_key))
    records = {
        f"s1._domainkey.{DOMAIN}.": dns_record(rsa_key),
        f"e1._domainkey.{DOMAIN}.": dns_record(ed_key),
    }
    return folder / "rsa.pem", folder / "ed.pem", records


@pytest.fixture
def signing(ctx: AppContext, keys) -> AppContext:
    rsa_file, ed_file, _records = keys
    settings = ctx.settings.with_overrides(
        dkim_selector="s1",
        dkim_private_key_file=str(rsa_file),
        dkim_ed25519_selector="e1",
        dkim_ed25519_key_file=str(ed_file),
        reply_to="desk@wildmail.test",
    )
    return AppContext(settings=settings, engine=ctx.engine, clock=ctx.clock)


def check_signed(data: bytes, records: dict[str, str], expected: set[str]) -> list[str]:
    """Both signatures verify with dkimpy; returns the RSA signature's h= names (lowercase)."""

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode(), "").encode()

    checker = dkim.DKIM(data)
    assert checker.verify(idx=0, dnsfunc=dns), checker.logger
    assert dkim.DKIM(data).verify(idx=1, dnsfunc=dns)
    fields, _body = split_message(data)
    signatures = [re.sub(rb"\s+", b"", v).decode() for n, v in fields if n.lower() == b"dkim-signature"]
    assert len(signatures) == 2
    assert ["a=rsa-sha256" in signatures[0], "a=ed25519-sha256" in signatures[1]] == [True, True]
    h_tag = re.search(r"(?:^|;)h=([^;]+)", signatures[0])
    assert h_tag is not None
    names = [n.lower() for n in h_tag.group(1).split(":")]
    present = {n.decode().lower() for n, _v in fields}
    assert set(names) - {"list-unsubscribe", "list-unsubscribe-post"} <= present | {"from", "subject"}
    assert expected <= set(names), expected - set(names)
    for name in OVERSIGNED:
        count = sum(1 for n, _v in fields if n.decode().lower() == name)
        assert names.count(name) == count + 1, name
    tampered = data.replace(b"\r\nSubject:", b"\r\nSubject: [changed]", 1)
    assert tampered != data and not dkim.verify(tampered, dnsfunc=dns)
    return names


def sample_campaign(ctx: AppContext, people: int = 2) -> int:
    """The sample article as a drip campaign for ``people`` subscribers; returns its email count."""
    with ctx.session() as s:
        create_list(s, "main", "Supporters", double_opt_in=False, at=ctx.clock.now())
        s.commit()
    add_subscribers(ctx, people)
    options = CampaignOptions(
        name="amur-leopard",
        list_slug="main",
        start=date(2026, 1, 5),
        weekday="mon",
        hour=9,
        timezone="UTC",
        mode="drip",
        donation_url="https://donate.wildlife-fund.example/amur-leopard",
    )
    with ctx.session() as s:
        campaign = create_campaign_from_file(s, ctx.settings, SAMPLE, options, ctx.clock.now())
        count = len(campaign.emails)
        s.commit()
    schedule_campaign(ctx, "amur-leopard")
    return count


def send_every_week(ctx: AppContext, clock, transport: SmtpTransport, weeks: int) -> None:
    for week in range(weeks):
        clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=7 * week))
        tick(ctx, ctx.message_ids)
        while run_worker_once(ctx, transport, ctx.sender(), WorkerConfig()) > 0:
            pass
    transport.close()


def test_every_sample_campaign_message_verifies_after_smtp(signing, clock, smtp_server, keys):
    emails = sample_campaign(signing, people=2)
    assert emails >= 3
    send_every_week(signing, clock, SmtpTransport("127.0.0.1", smtp_server.port, timeout=5), emails)
    assert len(smtp_server.messages) == 2 * emails
    subjects = set()
    for received in smtp_server.messages:
        check_signed(received.data, keys[2], CAMPAIGN_HEADERS)
        msg = message_from_bytes(received.data, policy=policy.default)
        assert re.fullmatch(r"amur-leopard:main:wildlife-fund:wildmail", msg["Feedback-ID"])
        subjects.add(str(msg["Subject"]))
    assert len(subjects) == emails


@pytest.mark.skipif(not SINK.exists(), reason="Postfix smtp-sink not installed")
def test_pipelined_path_messages_verify(signing, clock, keys):
    emails = sample_campaign(signing, people=3)
    port = free_port()
    dump = Path(tempfile.mkdtemp(prefix="wm-dkim-sink-"))  # the sink runs as nobody
    dump.chmod(0o777)
    proc = subprocess.Popen([str(SINK), "-u", "nobody", "-d", str(dump / "m-"), f"127.0.0.1:{port}", "10"])
    try:
        time.sleep(0.3)
        transport = SmtpTransport("127.0.0.1", port, timeout=5)
        send_every_week(signing, clock, transport, 1)
        clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
        tick(signing, signing.message_ids)
        transport = SmtpTransport("127.0.0.1", port, timeout=5)
        assert run_worker_once(signing, transport, signing.sender(), WorkerConfig(mark_window=4)) == 3
        assert transport._conn is not None and transport._conn.has_extn("pipelining")
        transport.close()
    finally:
        proc.terminate()
        proc.wait()
    try:
        dumped = [p.read_bytes() for p in sorted(dump.iterdir())]
    finally:
        shutil.rmtree(dump, ignore_errors=True)
    assert len(dumped) == 6 and emails >= 2
    for data in dumped:
        # smtp-sink writes its own X-* lines first (not signed) and bare LF line ends
        data = data if b"\r\n" in data else data.replace(b"\n", b"\r\n")
        check_signed(data, keys[2], CAMPAIGN_HEADERS)


def test_test_sends_and_confirmations_verify(signing, smtp_server, keys):
    sample_campaign(signing, people=0)
    settings = signing.settings.with_overrides(smtp_port=smtp_server.port)
    sending = AppContext(settings=settings, engine=signing.engine, clock=signing.clock)
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)
    assert (
        test_send(
            sending, sending.sender(), "amur-leopard", ["ana@example.org", "bo@example.org"], transport, 1
        )
        == 2
    )
    with sending.session() as s:
        lst = create_list(s, "news", "News", double_opt_in=True, at=sending.clock.now())
        result = optin.subscribe(
            s,
            settings,
            lst,
            "cy@example.org",
            sending.clock.now(),
            lambda m: send_one(settings, m),
            name="Cy",
        )
        s.commit()
    assert result.outcome == optin.Outcome.CONFIRMATION_SENT
    test_a, test_b, confirmation = smtp_server.messages
    for received in (test_a, test_b):
        check_signed(received.data, keys[2], CAMPAIGN_HEADERS)
    ids = {message_from_bytes(r.data, policy=policy.default)["Message-ID"] for r in (test_a, test_b)}
    assert len(ids) == 2
    assert [test_a.rcpt_tos, test_b.rcpt_tos] == [["ana@example.org"], ["bo@example.org"]]
    check_signed(confirmation.data, keys[2], {"from", "to", "subject", "date", "message-id", "content-type"})
