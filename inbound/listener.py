"""``wildmail inbound serve``: an SMTP or LMTP listener (aiosmtpd) for the bounce and unsubscribe
addresses. Only addresses whose token verifies are accepted at RCPT (``550 5.1.1`` otherwise);
messages over ``inbound_max_bytes`` are refused at DATA (``552``). Each accepted message goes
through :func:`inbound.intake.process` in a worker thread, so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine

from inbound.intake import Arrival, Intake, process, verify_recipient

log = logging.getLogger("wildmail.inbound")


class Handler:
    """aiosmtpd hooks: check each recipient, hand each message to the intake."""

    def __init__(self, engine: Engine, intake: Intake, now: Callable[[], datetime], via: str) -> None:
        self.engine, self.intake, self.now, self.via = engine, intake, now, via

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        problem = verify_recipient(self.intake, address)
        if problem is not None:
            log.warning("inbound %s: refused RCPT %s: %s", self.via, address, problem)
            return "550 5.1.1 no such address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        arrival = Arrival(bytes(content), self.via, tuple(envelope.rcpt_tos))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: process(self.engine, self.intake, arrival, self.now()))
        except Exception:
            log.exception("inbound %s: message not stored", self.via)
            return "451 4.3.0 try again later"
        per_recipient = len(envelope.rcpt_tos) if self.via == "lmtp" else 1
        return "\r\n".join(["250 2.0.0 received"] * per_recipient)


class Listener(Controller):  # type: ignore[misc]
    """The threaded aiosmtpd controller speaking SMTP or LMTP."""

    def __init__(self, handler: Handler, host: str, port: int, lmtp: bool, max_bytes: int) -> None:
        self.lmtp = lmtp
        self.max_bytes = max_bytes
        super().__init__(handler, hostname=host, port=port, ready_timeout=10)

    def factory(self) -> Any:
        server_class = LMTP if self.lmtp else SMTP
        return server_class(self.handler, data_size_limit=self.max_bytes, ident="wildmail inbound")


def listener(
    engine: Engine,
    intake: Intake,
    now: Callable[[], datetime],
    *,
    host: str = "127.0.0.1",
    port: int = 2525,
    lmtp: bool = False,
) -> Listener:
    """A listener ready to :meth:`~Listener.start` (and ``stop``)."""
    handler = Handler(engine, intake, now, "lmtp" if lmtp else "smtp")
    return Listener(handler, host, port, lmtp, intake.max_bytes)
