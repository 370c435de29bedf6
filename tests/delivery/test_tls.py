"""STARTTLS, implicit TLS and AUTH against a real aiosmtpd server with a test certificate.

The certificate is self-signed for 127.0.0.1/localhost and made at test time with the
``openssl`` command line; the client trusts it through ``ca_file`` / ``smtp_ca_file`` (never by
turning verification off).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from delivery import ratelimit
from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery, DeliveryState, RelayState, SmtpPhase
from delivery.retry import RetryPolicy
from delivery.smtp_transport import SmtpTransport
from delivery.transport import Envelope, SendFailure
from delivery.worker import WorkerConfig, run_worker_once
from subscribers.models import Suppression
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.runtime.mailer import MailError, send_one
from wildmail.runtime.smtp_sink import free_port

USER, PASSWORD = "wildmail", "correct horse battery"
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is not installed (and neither is 'cryptography')")
    folder = tmp_path_factory.mktemp("tls")
    made = Cert(folder / "cert.pem", folder / "key.pem")
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    command += ["-keyout", str(made.key), "-out", str(made.cert), "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    subprocess.run(command, check=True, capture_output=True)
    return made


@dataclass
class Recorder:
    """aiosmtpd handler keeping each message with whether it came over TLS, and by whom."""

    messages: list[tuple[str, list[str], bytes, bool, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if session.authenticated else None
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, over_tls, login))
        return "250 2.0.0 queued"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
    ok = ok and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class Relay:
    port: int
    handler: Recorder


@pytest.fixture
def start_relay(cert: Cert) -> Iterator[Any]:
    """Start an aiosmtpd relay: ``mode`` is plain, starttls or implicit; AUTH when ``auth``."""
    controllers: list[Controller] = []

    def start(mode: str, auth: bool = True) -> Relay:
        handler = Recorder()
        port = free_port()
        kwargs: dict[str, Any] = {}
        smtp_kwargs: dict[str, Any] = {}
        if auth:
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is encrypted already.
            smtp_kwargs.update(authenticator=authenticator, auth_require_tls=mode == "starttls")
        if mode == "starttls":
            smtp_kwargs.update(tls_context=cert.server_context(), require_starttls=True)
        elif mode == "implicit":
            kwargs["ssl_context"] = cert.server_context()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs, **smtp_kwargs
        )
        controller.start()
        controllers.append(controller)
        return Relay(port, handler)

    yield start
    for controller in controllers:
        controller.stop()


def transport(relay: Relay, cert: Cert, **kw: Any) -> SmtpTransport:
    values: dict[str, Any] = {
        "tls": "starttls",
        "user": USER,
        "password": PASSWORD,
        "ca_file": str(cert.cert),
    }
    values.update(kw)
    return SmtpTransport("127.0.0.1", relay.port, timeout=5.0, **values)


ENVELOPE = Envelope(
    "news@wildmail.test", "ana@example.org", b"Subject: hi\r\n\r\n.leading dot\r\n", "<m1@wildmail.test>"
)


def test_starttls_then_auth_delivers_over_tls(start_relay, cert):
    relay = start_relay("starttls")
    t = transport(relay, cert)
    assert t.send(ENVELOPE, lambda: True).startswith("250")
    t.close()
    [(sender, rcpts, data, over_tls, login)] = relay.handler.messages
    assert (sender, rcpts, over_tls, login) == (
        "news@wildmail.test",
        ["ana@example.org"],
        True,
        USER.encode(),
    )
    assert data.endswith(b".leading dot\r\n") and b"Subject: hi" in data


def test_wrong_password_is_a_connect_failure_that_backs_off_the_relay(start_relay, cert):
    relay = start_relay("starttls")
    with pytest.raises(SendFailure) as info:
        transport(relay, cert, password="wrong").send(ENVELOPE, lambda: True)
    failure = info.value
    assert failure.phase == SmtpPhase.CONNECT and failure.code == 535
    assert "login as 'wildmail' refused" in failure.reply and "wrong" not in str(failure)
    assert failure.relay_busy and not failure.permanent and not failure.uncertain
    assert relay.handler.messages == []


def test_relay_without_starttls_is_refused_not_spoken_to_in_clear(start_relay, cert):
    relay = start_relay("plain", auth=False)
    called: list[int] = []

    def before_data() -> bool:
        called.append(1)
        return True

    with pytest.raises(SendFailure) as info:
        transport(relay, cert, user="", password="").send(ENVELOPE, before_data)
    assert "does not offer STARTTLS" in info.value.reply
    assert info.value.phase == SmtpPhase.CONNECT and info.value.relay_busy
    assert relay.handler.messages == [] and called == []


def test_untrusted_certificate_is_refused(start_relay, cert):
    relay = start_relay("starttls")
    with pytest.raises(SendFailure) as info:
        transport(relay, cert, ca_file="").send(ENVELOPE, lambda: True)
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.reply
    assert relay.handler.messages == []


def test_implicit_tls_with_auth(start_relay, cert):
    relay = start_relay("implicit")
    t = transport(relay, cert, tls="implicit")
    t.send(ENVELOPE, lambda: True)
    t.send(Envelope("news@wildmail.test", "bo@example.org", b"Subject: 2\r\n\r\nx\r\n"), lambda: True)
    t.close()
    assert t.connects == 1
    assert [(m[1], m[3], m[4]) for m in relay.handler.messages] == [
        (["ana@example.org"], True, USER.encode()),
        (["bo@example.org"], True, USER.encode()),
    ]


def test_transport_from_settings_uses_the_ca_file(start_relay, cert, settings):
    relay = start_relay("starttls")
    configured = settings.with_overrides(
        smtp_port=relay.port, smtp_tls="starttls", smtp_user=USER, smtp_password=PASSWORD,
        smtp_ca_file=str(cert.cert),
    )  # fmt: skip
    t = SmtpTransport.from_settings(configured, timeout=5.0)
    assert t.ca_file == str(cert.cert) and PASSWORD not in repr(t)
    t.send(ENVELOPE, lambda: True)
    t.close()
    assert len(relay.handler.messages) == 1


# --- the worker: a refused login is the relay's problem, not the recipients' -----------------


def attempts_by_id(ctx) -> dict[int, int]:
    with ctx.session() as s:
        return dict(s.execute(select(Delivery.id, Delivery.attempts)).tuples().all())


def test_worker_with_wrong_password_backs_off_relay_and_bounces_nobody(ctx, clock, start_relay, cert):
    relay = start_relay("starttls")
    make_campaign(ctx)
    add_subscribers(ctx, 4)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == 4
    config = WorkerConfig(retry=RetryPolicy(jitter=0.0, max_attempts=1))
    bad = transport(relay, cert, password="wrong")
    assert run_worker_once(ctx, bad, ctx.sender(), config) == 0
    status = ratelimit.relay_status(ctx, bad.name)
    assert status is not None and status.paused(ctx.clock.now())
    with ctx.session() as s:
        deliveries = s.execute(select(Delivery)).scalars().all()
        states = sorted(d.state for d in deliveries)
        assert DeliveryState.BOUNCED not in states, "an auth failure must not bounce recipients"
        assert all(d.state in (DeliveryState.QUEUED, DeliveryState.RETRY_WAIT) for d in deliveries)
        assert s.query(Suppression).count() == 0
        last = s.execute(select(RelayState.last_reply).where(RelayState.name == bad.name)).scalar()
        assert last is not None and "535" in last
    # While backed off, no worker touches the relay or the deliveries.
    attempts = attempts_by_id(ctx)
    assert run_worker_once(ctx, bad, ctx.sender(), config) == 0 and attempts_by_id(ctx) == attempts
    # A refused login is the relay's refusal: paused with an alert. Once the operator fixes the
    # password and the pause ends, everything goes out.
    status = ratelimit.relay_status(ctx, bad.name)
    assert status is not None and "535" in status.alert
    clock.advance(config.retry.relay_pause * 2)
    good = transport(relay, cert)
    assert run_worker_once(ctx, good, ctx.sender(), config) == 4
    good.close()
    assert len(relay.handler.messages) == 4 and all(m[3] for m in relay.handler.messages)


# --- wildmail.runtime.mailer.send_one -----------------------------------------------------------------


def mail(to: str = "pat@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "news@wildmail.test"
    message["To"] = to
    message["Subject"] = "Please confirm"
    message.set_content("Confirm here.\n")
    return message


def mail_settings(settings, relay: Relay, cert: Cert, **kw: Any):
    values: dict[str, Any] = dict(
        smtp_port=relay.port, smtp_tls="starttls", smtp_user=USER, smtp_password=PASSWORD,
        smtp_ca_file=str(cert.cert), smtp_timeout=5.0,
    )  # fmt: skip
    values.update(kw)
    return settings.with_overrides(**values)


def test_send_one_starttls_and_auth(start_relay, cert, settings):
    relay = start_relay("starttls")
    send_one(mail_settings(settings, relay, cert), mail())
    [(sender, rcpts, data, over_tls, login)] = relay.handler.messages
    assert (sender, rcpts, over_tls, login) == (
        "news@wildmail.test",
        ["pat@example.org"],
        True,
        USER.encode(),
    )
    assert b"Please confirm" in data


def test_send_one_wrong_password_is_a_clear_error(start_relay, cert, settings):
    relay = start_relay("starttls")
    with pytest.raises(MailError) as info:
        send_one(mail_settings(settings, relay, cert, smtp_password="wrong"), mail())
    message = str(info.value)
    assert f"could not send through 127.0.0.1:{relay.port}: 535 login as 'wildmail' refused" in message
    assert "wrong" not in message
    assert relay.handler.messages == []


# --- one policy, both callers: the worker's transport and the single-message mailer ---------


@pytest.fixture(params=["worker", "mailer"])
def send_via(request, cert, settings):
    """Send one message through ``relay`` with the given policy (tls, user, password, ca_file);
    None when it went out, else the error text. Both callers read the same policy."""

    def worker(relay: Relay, **policy: Any) -> str | None:
        t = SmtpTransport.from_settings(policy_settings(relay, **policy), timeout=5.0)
        try:
            t.send(ENVELOPE, lambda: True)
        except SendFailure as exc:
            assert exc.phase == SmtpPhase.CONNECT and exc.relay_busy and not exc.uncertain
            return str(exc)
        finally:
            t.close()
        return None

    def mailer(relay: Relay, **policy: Any) -> str | None:
        try:
            send_one(policy_settings(relay, **policy), mail("ana@example.org"))
        except MailError as exc:
            return str(exc)
        return None

    def policy_settings(
        relay: Relay, tls: str, user: str = USER, password: str = PASSWORD, ca_file: str = ""
    ):
        return settings.with_overrides(
            smtp_port=relay.port, smtp_tls=tls, smtp_user=user, smtp_password=password,
            smtp_ca_file=ca_file or str(cert.cert), smtp_timeout=5.0,
        )  # fmt: skip

    return worker if request.param == "worker" else mailer


def delivered(relay: Relay) -> list[tuple[list[str], bool, Any]]:
    return [(m[1], m[3], m[4]) for m in relay.handler.messages]


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_both_callers_deliver_over_tls_with_auth(start_relay, send_via, mode):
    relay = start_relay(mode)
    assert send_via(relay, tls=mode) is None
    assert delivered(relay) == [(["ana@example.org"], True, USER.encode())]


def test_both_callers_speak_plainly_when_tls_is_none(start_relay, send_via):
    relay = start_relay("plain", auth=False)
    assert send_via(relay, tls="none", user="") is None
    assert delivered(relay) == [(["ana@example.org"], False, None)]


def test_both_callers_refuse_clear_text_when_starttls_is_configured(start_relay, send_via):
    relay = start_relay("plain", auth=False)
    error = send_via(relay, tls="starttls", user="")
    assert error is not None and "does not offer STARTTLS; refusing to send in clear text" in error
    assert relay.handler.messages == []


def test_both_callers_verify_the_certificate(start_relay, send_via, tmp_path):
    """Only the CA file makes the test certificate trusted: another CA's file is not enough."""
    other = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other",
         "-keyout", str(tmp_path / "other.key"), "-out", str(other)],
        check=True, capture_output=True,
    )  # fmt: skip
    for mode in ("starttls", "implicit"):
        relay = start_relay(mode)
        error = send_via(relay, tls=mode, ca_file=str(other))
        assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error
        assert relay.handler.messages == []


def test_both_callers_report_a_refused_login_without_the_password(start_relay, send_via):
    relay = start_relay("starttls")
    error = send_via(relay, tls="starttls", password="wrong")
    assert error is not None and "535" in error and "login as 'wildmail' refused" in error
    assert "wrong" not in error and relay.handler.messages == []


def test_both_callers_keep_the_password_from_a_relay_without_auth(start_relay, send_via):
    relay = start_relay("plain", auth=False)  # AUTH is offered only over TLS here
    error = send_via(relay, tls="none")
    assert error is not None and "does not offer AUTH; not sending the password" in error
    assert relay.handler.messages == []
