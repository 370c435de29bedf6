"""SMTP transport: one long-lived connection per worker thread, TLS, AUTH, timeouts.

The only module of the domain packages that imports smtplib. DATA is driven by hand
(``DATA`` -> 354 -> content -> reply) so a failure before the content left is known to be
"not delivered" while a break after it is "maybe delivered" (``uncertain``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from delivery.models import SmtpPhase
from delivery.transport import Envelope, LeaseLost, SendFailure
from wildmail.settings import Settings

NETWORK_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)


def dot_stuff(data: bytes) -> bytes:
    """CRLF-terminated content with leading dots doubled, plus the end-of-data marker."""
    body = data.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


@dataclass
class SmtpTransport:
    """Pooled (kept-open) SMTP connection to one relay; reconnects every ``reconnect_every``."""

    host: str
    port: int
    tls: str = "none"  # none | starttls | implicit
    user: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""  # extra CA bundle (PEM) to trust, e.g. a private relay's; verification stays on
    timeout: float = 30.0
    reconnect_every: int = 1000
    pipelining: bool = True
    name: str = ""
    _conn: smtplib.SMTP | None = field(default=None, init=False, repr=False)
    _used: int = field(default=0, init=False)
    connects: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.host}:{self.port}"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> SmtpTransport:
        """A transport for the relay configured in ``settings``."""
        values: dict[str, object] = dict(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout,
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def _connect(self) -> smtplib.SMTP:
        """Open, secure and log in; every failure here is the relay's, never the recipient's."""
        try:
            if self.tls == "implicit":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=tls_context(self.ca_file)
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except NETWORK_ERRORS as exc:
            raise SendFailure(SmtpPhase.CONNECT, None, f"cannot connect to {self.name}: {exc}") from None
        try:
            secure_and_login(conn, self.tls, self.user, self.password, self.ca_file)
        except SendFailure:
            conn.close()
            raise
        except smtplib.SMTPResponseException as exc:
            conn.close()
            raise SendFailure(SmtpPhase.CONNECT, exc.smtp_code, _text(exc.smtp_error)) from None
        except NETWORK_ERRORS as exc:
            conn.close()
            raise SendFailure(SmtpPhase.CONNECT, None, f"{self.name}: {type(exc).__name__}: {exc}") from None
        self.connects += 1
        self._used = 0
        return conn

    def close(self) -> None:
        """Say QUIT (best effort) and drop the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except NETWORK_ERRORS:
                conn.close()

    def _abort(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def send(self, envelope: Envelope, before_data: Callable[[], bool]) -> str:
        """Deliver one message; see :class:`delivery.transport.Transport`."""
        if self._conn is not None and self._used >= self.reconnect_every:
            self.close()
        reused = self._conn is not None
        try:
            return self._send(envelope, before_data)
        except SendFailure as exc:
            # A kept-open connection the relay closed while idle: one immediate retry on a fresh one.
            if reused and exc.code is None and exc.phase == SmtpPhase.MAIL:
                return self._send(envelope, before_data)
            raise

    def _send(self, envelope: Envelope, before_data: Callable[[], bool]) -> str:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        phase = SmtpPhase.MAIL
        try:
            if self.pipelining and conn.has_extn("pipelining"):
                self._pipelined_prelude(conn, envelope, before_data)
                phase = SmtpPhase.DATA
            else:
                phase = self._prelude(conn, envelope, before_data)
        except NETWORK_ERRORS as exc:
            self._abort()
            raise SendFailure(phase, None, f"{type(exc).__name__}: {exc}") from None
        try:
            conn.send(dot_stuff(envelope.data))  # type: ignore[arg-type]
            code, reply = conn.getreply()
        except NETWORK_ERRORS as exc:
            self._abort()
            raise SendFailure(phase, None, f"{type(exc).__name__}: {exc}", uncertain=True) from None
        self._used += 1
        if code != 250:
            if code == 421:
                self._abort()
            raise SendFailure(phase, code, _text(reply))
        return f"{code} {_text(reply)}"

    def _pipelined_prelude(
        self, conn: smtplib.SMTP, envelope: Envelope, before_data: Callable[[], bool]
    ) -> None:
        """MAIL, RCPT and DATA in one write (RFC 2920); the ``data`` mark is made before it."""
        if not before_data():
            raise LeaseLost(envelope.message_id)
        conn.send(f"mail FROM:<{envelope.sender}>\r\nrcpt TO:<{envelope.recipient}>\r\ndata\r\n")
        phase = SmtpPhase.MAIL
        try:
            mail = conn.getreply()
            phase = SmtpPhase.RCPT
            rcpt = conn.getreply()
            phase = SmtpPhase.DATA
            data = conn.getreply()
        except NETWORK_ERRORS as exc:
            self._abort()
            raise SendFailure(phase, None, f"{type(exc).__name__}: {exc}") from None
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            conn.send(b".\r\n")  # the server opened DATA without a recipient: close it empty
            conn.getreply()
        self._check(*mail, SmtpPhase.MAIL, (250,))
        self._check(*rcpt, SmtpPhase.RCPT, (250, 251))
        self._check(*data, SmtpPhase.DATA, (354,))

    def _prelude(self, conn: smtplib.SMTP, envelope: Envelope, before_data: Callable[[], bool]) -> SmtpPhase:
        """MAIL, RCPT, then the ``data`` mark, then DATA, one reply at a time."""
        phase = SmtpPhase.MAIL
        try:
            code, reply = conn.mail(envelope.sender)
            self._check(code, reply, phase, (250,))
            phase = SmtpPhase.RCPT
            code, reply = conn.rcpt(envelope.recipient)
            self._check(code, reply, phase, (250, 251))
            if not before_data():
                self._reset()
                raise LeaseLost(envelope.message_id)
            phase = SmtpPhase.DATA
            conn.putcmd("data")
            code, reply = conn.getreply()
            self._check(code, reply, phase, (354,))
        except NETWORK_ERRORS as exc:
            self._abort()
            raise SendFailure(phase, None, f"{type(exc).__name__}: {exc}") from None
        return phase

    def _check(self, code: int, reply: bytes, phase: SmtpPhase, ok: tuple[int, ...]) -> None:
        if code in ok:
            return
        if code == 421 or code < 0:
            self._abort()
        else:
            self._reset()
        raise SendFailure(phase, code if code > 0 else None, _text(reply))

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except NETWORK_ERRORS:
            self._abort()


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context: system CAs, plus ``ca_file`` when given (hostname checked)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def secure_and_login(conn: smtplib.SMTP, tls: str, user: str, password: str, ca_file: str = "") -> None:
    """EHLO, STARTTLS when ``tls == "starttls"`` (never falling back to clear text), then AUTH.

    Raises :class:`SendFailure` (phase ``connect``) when the relay does not offer STARTTLS or AUTH,
    or refuses the login; smtplib/ssl errors otherwise.
    """
    conn.ehlo()
    if tls == "starttls":
        if not conn.has_extn("starttls"):
            raise SendFailure(
                SmtpPhase.CONNECT, None, "relay does not offer STARTTLS; refusing to send in clear text"
            )
        conn.starttls(context=tls_context(ca_file))
        conn.ehlo()
    if not user:
        return
    if not conn.has_extn("auth"):
        raise SendFailure(SmtpPhase.CONNECT, None, "relay does not offer AUTH; not sending the password")
    try:
        conn.login(user, password)
    except smtplib.SMTPAuthenticationError as exc:
        reply = _text(exc.smtp_error)
        raise SendFailure(SmtpPhase.CONNECT, exc.smtp_code, f"login as {user!r} refused: {reply}") from None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
