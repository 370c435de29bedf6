"""SMTP transport: one long-lived connection per worker thread, TLS, AUTH, timeouts.

The only module of the domain packages that imports smtplib. DATA is driven by hand
(``DATA`` -> 354 -> content -> reply) so a failure before the content left is known to be
"not delivered" while a break after it is "maybe delivered" (``uncertain``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from delivery.models import SmtpPhase
from delivery.smtp_data import frame
from delivery.transport import Envelope, LeaseLost, Result, SendFailure, StreamJob
from wildmail.core.settings import Settings

NETWORK_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)
MAX_LINE = 8192  # as smtplib


def read_reply(conn: smtplib.SMTP) -> tuple[int, bytes]:
    """One (possibly multi-line) reply: smtplib's ``getreply`` without its per-line overhead."""
    file = conn.file
    if file is None:
        file = conn.file = conn.sock.makefile("rb")  # type: ignore[union-attr]
    lines = []
    while True:
        line = file.readline(MAX_LINE + 1)
        if not line:
            conn.close()
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        if len(line) > MAX_LINE:
            conn.close()
            raise smtplib.SMTPResponseException(500, "Line too long.")
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            break
    try:
        code = int(line[:3])
    except ValueError:
        code = -1
    return code, b"\n".join(lines)


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
    _unsent: bytes = field(default=b"", init=False, repr=False)  # content waiting for the next write
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
        conn = open_session(
            self.host, self.port, tls=self.tls, user=self.user, password=self.password,
            ca_file=self.ca_file, timeout=self.timeout, name=self.name,
        )  # fmt: skip
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
        reused = self._conn is not None and self._used > 0
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
            conn.send(envelope.wire or frame(envelope.data))  # type: ignore[arg-type]
            code, reply = read_reply(conn)
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
        conn.send(prelude(envelope))
        try:
            mail, rcpt, data = read_prelude_replies(conn)
        except PreludeCut as cut:
            self._abort()
            raise SendFailure(cut.phase, None, f"{type(cut.error).__name__}: {cut.error}") from None
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            conn.send(b".\r\n")  # the server opened DATA without a recipient: close it empty
            read_reply(conn)
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

    # -- streaming (RFC 2920): one round trip per message -------------------------------------
    #
    # Job N's content goes out, then job N+1's MAIL/RCPT/DATA right behind it (the content may
    # start a pipelined group, DATA must end it), in ONE write: N's content waits in
    # ``_unsent`` while N+1 is built. Then N's final reply is read and reported, then N+1's
    # three replies; only after its 354 is N+1 marked ``data`` (one write together with N's
    # outcome) and its content queued. A crash therefore leaves at most one message between
    # its ``data`` mark and its recorded outcome; a crash before the mark leaves the server
    # inside DATA with no content, which it discards when the connection drops.

    def send_stream(self, jobs: Iterator[StreamJob], report: Callable[[StreamJob, Result], None]) -> None:
        """Send every job, pipelined when the relay offers PIPELINING; see :class:`StreamTransport`."""
        pending: StreamJob | None = None  # content queued or sent, final reply not read yet
        self._unsent = b""
        try:
            while True:
                try:
                    job = next(jobs, None)
                except BaseException:
                    self._send_unsent()
                    self._finish(pending, report)  # its outcome is known: do not leave it unknown
                    raise
                if job is None:
                    break
                written = self._open_prelude(job, pending is not None)
                self._send_unsent()  # not written with the prelude: the content goes alone
                self._finish(pending, report)
                pending = None
                if written is not True:
                    report(job, written if written is not None else self._send_alone(job))
                    continue
                failure = self._read_prelude(job)
                if failure is not None:
                    report(job, failure)
                    continue
                if not job.before_data():
                    self._abort()  # inside DATA: only dropping the connection abandons it unsent
                    report(job, LeaseLost(job.envelope.message_id))
                    continue
                envelope = job.envelope
                self._unsent = envelope.wire or frame(envelope.data)
                pending = job
            self._send_unsent()
            self._finish(pending, report)
        except BaseException:
            self._unsent = b""
            self._abort()  # a half-read pipeline cannot be reused
            raise

    def _send_unsent(self) -> None:
        """Write queued content on its own. A failure drops the connection; the job's final
        reply is then reported as uncertain by :meth:`_finish`."""
        data, self._unsent = self._unsent, b""
        if not data or self._conn is None:
            return
        try:
            self._conn.sock.sendall(data)  # type: ignore[union-attr]
        except NETWORK_ERRORS:
            self._abort()

    def _send_alone(self, job: StreamJob) -> Result:
        """One message the unpipelined way (relay without PIPELINING)."""
        try:
            return self.send(job.envelope, job.before_data)
        except (SendFailure, LeaseLost) as exc:
            return exc

    def _open_prelude(self, job: StreamJob, busy: bool) -> Literal[True] | SendFailure | None:
        """Write MAIL/RCPT/DATA for ``job``: True when written, None when the relay does not
        pipeline, a failure when no connection could be had. ``busy``: a reply is outstanding."""
        if self._conn is not None and self._used + busy >= self.reconnect_every:
            return None  # let the pending reply arrive first; ``send`` reconnects
        if self._conn is None:
            try:
                self._conn = self._connect()
            except SendFailure as exc:
                return exc
        if not (self.pipelining and self._conn.has_extn("pipelining")):
            return None
        data, self._unsent = self._unsent + prelude(job.envelope), b""  # the previous content first
        try:
            self._conn.sock.sendall(data)  # type: ignore[union-attr]
        except NETWORK_ERRORS:
            self._abort()  # noticed when the replies are read (the content's as uncertain)
        return True

    def _finish(self, pending: StreamJob | None, report: Callable[[StreamJob, Result], None]) -> None:
        """Read and report the final reply of the job whose content went out last."""
        if pending is None:
            return
        conn = self._conn
        if conn is None:
            lost = SendFailure(SmtpPhase.DATA, None, "connection lost after the content", uncertain=True)
            report(pending, lost)
            return
        try:
            code, reply = read_reply(conn)
        except NETWORK_ERRORS as exc:
            self._abort()
            report(pending, SendFailure(SmtpPhase.DATA, None, _err(exc), uncertain=True))
            return
        self._used += 1
        if code == 250:
            report(pending, f"{code} {_text(reply)}")
            return
        if code == 421 or code < 0:
            self._abort()
        report(pending, SendFailure(SmtpPhase.DATA, code if code > 0 else None, _text(reply)))

    def _read_prelude(self, job: StreamJob, retry: bool = True) -> SendFailure | None:
        """The replies to ``job``'s MAIL, RCPT and DATA: None once the relay said 354.

        A used connection that broke before MAIL was answered is reopened once (the relay
        closed it while idle, or it broke under the previous message): nothing of ``job``
        was delivered.
        """
        conn = self._conn
        reused = self._used > 0
        try:
            if conn is None:
                raise PreludeCut(SmtpPhase.MAIL, smtplib.SMTPServerDisconnected("connection lost"))
            mail, rcpt, data = read_prelude_replies(conn)
        except PreludeCut as cut:
            self._abort()
            if retry and reused and cut.phase == SmtpPhase.MAIL:
                written = self._open_prelude(job, False)
                if written is True:
                    return self._read_prelude(job, retry=False)
                if written is not None:
                    return written
            return SendFailure(cut.phase, None, _err(cut.error))
        phase = SmtpPhase.DATA
        try:
            if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
                conn.sock.sendall(b".\r\n")  # type: ignore[union-attr]  # DATA opened without a recipient
                read_reply(conn)
            self._check(*mail, SmtpPhase.MAIL, (250,))
            self._check(*rcpt, SmtpPhase.RCPT, (250, 251))
            self._check(*data, SmtpPhase.DATA, (354,))
        except SendFailure as exc:
            return exc
        except NETWORK_ERRORS as exc:
            self._abort()
            return SendFailure(phase, None, _err(exc))
        return None

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


# -- the relay policy: one for the worker and for single messages (wildmail.runtime.mailer) --


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context: system CAs, plus ``ca_file`` when given (hostname checked)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def open_session(
    host: str, port: int, *, tls: str, user: str, password: str, ca_file: str, timeout: float, name: str = ""
) -> smtplib.SMTP:
    """A connection to the relay, secured and logged in, ready for MAIL FROM.

    ``tls``: ``implicit`` (TLS from the first byte), ``starttls`` (required: a relay that does
    not offer it is refused, never spoken to in clear text) or ``none``. Certificates are always
    verified (system CAs plus ``ca_file``). With ``user``, AUTH is required. Every failure is
    raised as :class:`SendFailure` in phase ``connect``: the relay's problem, never a recipient's.
    ``name`` names the relay in errors (default ``host:port``).
    """
    name = name or f"{host}:{port}"
    try:
        if tls == "implicit":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context(ca_file))
        else:
            conn = smtplib.SMTP(host, port, timeout=timeout)
    except NETWORK_ERRORS as exc:
        raise SendFailure(SmtpPhase.CONNECT, None, f"cannot connect to {name}: {exc}") from None
    try:
        _secure_and_login(conn, tls, user, password, ca_file)
    except SendFailure:
        conn.close()
        raise
    except smtplib.SMTPResponseException as exc:
        conn.close()
        raise SendFailure(SmtpPhase.CONNECT, exc.smtp_code, _text(exc.smtp_error)) from None
    except NETWORK_ERRORS as exc:
        conn.close()
        raise SendFailure(SmtpPhase.CONNECT, None, f"{name}: {type(exc).__name__}: {exc}") from None
    return conn


def _secure_and_login(conn: smtplib.SMTP, tls: str, user: str, password: str, ca_file: str) -> None:
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


class PreludeCut(Exception):
    """The connection broke while the replies to a pipelined MAIL, RCPT and DATA were read."""

    def __init__(self, phase: SmtpPhase, error: BaseException) -> None:
        super().__init__(phase, error)
        self.phase, self.error = phase, error


def read_prelude_replies(
    conn: smtplib.SMTP,
) -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
    """The replies to MAIL, RCPT and DATA sent in one write; a network error is raised as
    :class:`PreludeCut` naming the phase whose reply was being read."""
    phase = SmtpPhase.MAIL
    try:
        mail = read_reply(conn)
        phase = SmtpPhase.RCPT
        rcpt = read_reply(conn)
        phase = SmtpPhase.DATA
        return mail, rcpt, read_reply(conn)
    except NETWORK_ERRORS as exc:
        raise PreludeCut(phase, exc) from exc


def prelude(envelope: Envelope) -> bytes:
    """MAIL, RCPT and DATA as one pipelined write (addresses were checked for CR/LF when the
    message was built)."""
    return f"MAIL FROM:<{envelope.sender}>\r\nRCPT TO:<{envelope.recipient}>\r\nDATA\r\n".encode()


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
