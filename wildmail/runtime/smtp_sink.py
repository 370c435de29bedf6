"""A real SMTP server on loopback (aiosmtpd) that keeps messages and can misbehave on purpose.

Used by the tests and by ``wildmail demo``. Faults are queued per SMTP phase
(``mail``, ``rcpt``, ``data``): answer a code, delay, or drop the connection.
Addresses in ``hard_bounce`` always get ``550`` at RCPT. PIPELINING (RFC 2920) is advertised, as
by every real relay, so the worker streams MAIL/RCPT/DATA behind the previous message's content
and the faults hit that path; ``pipelining=False`` gives a relay without it (one reply at a time).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

PHASES = ("mail", "rcpt", "data")


@dataclass
class Fault:
    """What to do at one phase: reply ``code message``, sleep ``delay`` first, or ``drop``."""

    code: int = 0
    message: str = ""
    delay: float = 0.0
    drop: bool = False


@dataclass
class Received:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    sink: RecordingSMTPServer

    async def _apply(self, phase: str, server: SMTP) -> str | None:
        fault = self.sink.take_fault(phase)
        if fault is None:
            return None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            transport = server.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            return "421 connection dropped"
        if fault.code:
            return f"{fault.code} {fault.message or 'injected fault'}"
        return None

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self._apply("mail", server)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.sink.hard_bounce:
            return "550 5.1.1 mailbox unavailable"
        reply = await self._apply("rcpt", server)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await self._apply("data", server)
        if reply:
            return reply
        content = envelope.original_content or b""
        self.sink.record(Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content)))
        return "250 2.0.0 queued"


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RecordingSMTPServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``messages`` holds what was accepted."""

    host: str = "127.0.0.1"
    port: int = 0
    hard_bounce: set[str] = field(default_factory=set)
    pipelining: bool = True
    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    _faults: dict[str, deque[Fault]] = field(default_factory=lambda: {p: deque() for p in PHASES})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    def start(self) -> RecordingSMTPServer:
        self.port = self.port or free_port()
        sink = self

        class _CountingSMTP(SMTP):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                with sink._lock:
                    sink.connections += 1
                super().connection_made(transport)

        class _Controller(Controller):
            def factory(self) -> SMTP:
                return _CountingSMTP(self.handler, **self.SMTP_kwargs)

        self._controller = _Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> RecordingSMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, phase: str, code: int, message: str = "", times: int = 1) -> None:
        """Answer ``code`` at ``phase`` for the next ``times`` messages."""
        self._queue(phase, Fault(code=code, message=message), times)

    def delay(self, phase: str, seconds: float, times: int = 1) -> None:
        """Sleep before answering at ``phase`` (to trigger client timeouts)."""
        self._queue(phase, Fault(delay=seconds), times)

    def drop(self, phase: str, times: int = 1) -> None:
        """Close the connection abruptly at ``phase``."""
        self._queue(phase, Fault(drop=True), times)

    def _queue(self, phase: str, fault: Fault, times: int) -> None:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        with self._lock:
            self._faults[phase].extend([fault] * times)

    def take_fault(self, phase: str) -> Fault | None:
        with self._lock:
            queue = self._faults[phase]
            return queue.popleft() if queue else None

    def record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)

    def recipients(self) -> list[str]:
        """Every accepted recipient, one entry per message and recipient."""
        with self._lock:
            return [r for m in self.messages for r in m.rcpt_tos]
