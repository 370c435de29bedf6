"""What the worker needs from a way of handing messages over: the ``Transport`` protocol.

Domain code never imports smtplib: the worker is given a transport (SMTP in
``delivery.smtp_transport``, files in ``delivery.file_transport``, or a test double).
Failures are reported as :class:`SendFailure` carrying the SMTP phase and reply, so the worker
can tell "certainly not delivered" (safe to retry) from "maybe delivered" (``unknown``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from delivery.models import SmtpPhase


class SendFailure(Exception):
    """The relay refused the message, or the conversation broke off.

    ``code`` is the SMTP reply code (None for timeouts and dropped connections);
    ``uncertain`` is True when the message content had been transmitted before the break,
    so the relay may have accepted it.
    """

    def __init__(self, phase: SmtpPhase, code: int | None, reply: str, *, uncertain: bool = False) -> None:
        super().__init__(f"{phase.value}: {code or ''} {reply}".strip())
        self.phase = phase
        self.code = code
        self.reply = reply
        self.uncertain = uncertain

    @property
    def permanent(self) -> bool:
        """A 5xx answer at RCPT or DATA: the address is refused for good."""
        return self.code is not None and 500 <= self.code < 600 and self.phase != SmtpPhase.CONNECT

    @property
    def relay_busy(self) -> bool:
        """Back off the whole relay: a 421, or no usable session (unreachable, TLS, refused login).

        A failure before MAIL FROM says nothing about the recipient, so it is never a bounce and
        never makes the worker give up on the message.
        """
        return self.code == 421 or self.phase == SmtpPhase.CONNECT


class LeaseLost(Exception):
    """``before_data`` said this worker no longer owns the delivery; nothing was sent."""


@dataclass(frozen=True)
class Envelope:
    """SMTP envelope and content of one message."""

    sender: str
    recipient: str
    data: bytes
    message_id: str = ""
    wire: bytes = b""  # ``data`` as SMTP DATA content (dot-stuffed, ends ".\r\n"), when prepared


class StreamJob(Protocol):
    """One message of a stream: its envelope and the ``data`` mark made before its content."""

    envelope: Envelope

    def before_data(self) -> bool:
        """Record the ``data`` phase; False when the lease is lost (the content is not sent)."""
        ...


Result = str | SendFailure | LeaseLost
"""How one job of a stream ended: the relay's final reply, a failure, or a lost lease."""


@runtime_checkable
class StreamTransport(Protocol):
    """A transport that can overlap consecutive messages (SMTP pipelining)."""

    name: str

    def send_stream(self, jobs: Iterator[StreamJob], report: Callable[[StreamJob, Result], None]) -> None:
        """Send every job ``jobs`` yields; call ``report`` exactly once per job, in order.

        ``before_data`` of a job is called only after the previous job was reported, and
        before any of its content leaves, so the previous outcome and this job's ``data``
        mark can be one write. ``jobs`` is pulled lazily, one job ahead at most.
        """
        ...


class Transport(Protocol):
    """Hands one message at a time to a relay (or a folder)."""

    name: str

    def send(self, envelope: Envelope, before_data: Callable[[], bool]) -> str:
        """Send; call ``before_data`` right before DATA (stop with LeaseLost if it returns False).

        Returns the relay's final reply text; raises :class:`SendFailure` or :class:`LeaseLost`.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
