"""The worker: claim a batch, build each message, hand it to the transport, record the outcome.

Per message exactly one short write happens before its content leaves: it records the previous
message's outcome and marks this one's phase ``data`` (fenced by the lease). A crash before
that write leaves the row requeueable; a crash after it makes the row ``unknown`` (reaper), so
with the default mark window at most one row per sending session ends ``unknown`` per crash.
With a streaming transport (SMTP pipelining) the next message's MAIL/RCPT/DATA travel with
this one's content: one round trip per message, the write order unchanged.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from delivery import ratelimit
from delivery.claim import Claimed, claim, extend_leases, reap, release
from delivery.compose import TemplateCache
from delivery.ledger import Ledger, Outcome
from delivery.message import HeaderInjection, Sender
from delivery.models import DeliveryState, SmtpPhase
from delivery.retry import RetryPolicy
from delivery.transport import Envelope, LeaseLost, Result, SendFailure, StreamJob, StreamTransport, Transport
from wildmail.context import AppContext

log = logging.getLogger("wildmail.worker")


def owner_name() -> str:
    """A lease owner id unique to this process and thread."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerConfig:
    """Tunables of one worker loop."""

    batch: int = 50
    lease: timedelta = timedelta(minutes=5)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_per_second: float = 0.0
    resend_unknown: bool = False
    owner: str = field(default_factory=owner_name)
    idle_sleep: float = 1.0
    durable_marks: bool = True
    mark_window: int = 1


@dataclass
class _Progress:
    """Where a batch stands: messages accepted, first row not started, relay backed off."""

    sent: int = 0
    next_index: int = 0
    halted: bool = False


@dataclass
class _Job:
    """One built message of a batch (a :class:`delivery.transport.StreamJob`)."""

    item: Claimed
    envelope: Envelope
    ledger: Ledger
    window: list[int]

    def before_data(self) -> bool:
        return self.ledger.mark_data(self.item.id, self.window)


class Worker:
    """Sends queued deliveries through one transport; use :meth:`run_once` or :meth:`run`."""

    def __init__(self, ctx: AppContext, transport: Transport, config: WorkerConfig | None = None) -> None:
        self.ctx = ctx
        self.transport = transport
        self.config = config or WorkerConfig()
        self.cache = TemplateCache(Sender.from_settings(ctx.settings))
        self.stop = threading.Event()
        self.last_claimed = 0
        self.ledger = Ledger(ctx, self.config.owner, durable=self.config.durable_marks)

    def run_once(self) -> int:
        """Claim one batch and send it; returns how many messages were accepted by the relay."""
        cfg, ctx = self.config, self.ctx
        self.last_claimed = 0
        reap(ctx, resend_unknown=cfg.resend_unknown)
        if ratelimit.blocked_until(ctx, self.transport.name) is not None:
            return 0
        want = ratelimit.acquire(ctx, self.transport.name, cfg.batch, cfg.rate_per_second)
        if want == 0:
            return 0
        batch = claim(ctx, cfg.owner, want, cfg.lease)
        self.last_claimed = len(batch)
        ratelimit.give_back(ctx, self.transport.name, want - len(batch) if cfg.rate_per_second > 0 else 0)
        return self._send_batch(batch)

    def _send_batch(self, batch: list[Claimed]) -> int:
        ledger = self.ledger
        ledger.marked = set()
        done = _Progress()
        jobs = self._jobs(batch, done)
        if isinstance(self.transport, StreamTransport):
            self.transport.send_stream(jobs, lambda job, result: self._report(job, result, done))
        else:
            for job in jobs:
                try:
                    result: Result = self.transport.send(job.envelope, job.before_data)
                except (SendFailure, LeaseLost) as exc:
                    result = exc
                self._report(job, result, done)
        ledger.flush()
        if done.next_index < len(batch):
            release(self.ctx, self.config.owner, [c.id for c in batch[done.next_index :]])
        return done.sent

    def _jobs(self, batch: list[Claimed], done: _Progress) -> Iterator[_Job]:
        """The batch's messages, built one at a time; stops early on shutdown or relay back-off
        (``done.next_index`` is then the first row never started, for :func:`release`)."""
        cfg, ledger = self.config, self.ledger
        lease_end = self.ctx.clock.now() + cfg.lease
        sender = self.ctx.settings.sender_address
        for index, item in enumerate(batch):
            done.next_index = index
            if self.stop.is_set() or done.halted:
                return
            now = self.ctx.clock.now()
            if lease_end - now < cfg.lease / 2:
                lease_end = now + cfg.lease
                extend_leases(self.ctx.engine, cfg.owner, [c.id for c in batch[index:]], lease_end)
            try:
                template = self.cache.get(self.ctx, item.email_id)
                data, wire = template.render_wire(
                    item.id, item.message_id, item.address, item.name, now, ask_donation=item.ask_donation
                )
            except HeaderInjection as exc:
                refused = f"message refused: {exc}"
                ledger.pending.append(Outcome(item.id, DeliveryState.BOUNCED, SmtpPhase.NONE, refused))
                continue
            window = [c.id for c in batch[index + 1 : index + cfg.mark_window]]
            envelope = Envelope(sender, item.address, data, item.message_id, wire)
            yield _Job(item, envelope, ledger, window)
        done.next_index = len(batch)

    def _report(self, job: StreamJob, result: Result, done: _Progress) -> None:
        """Record how one message ended (written with the next ``data`` mark, or on flush)."""
        assert isinstance(job, _Job)
        item = job.item
        if isinstance(result, LeaseLost):
            log.warning("lease on delivery %s lost before DATA; not sent", item.id)
            return
        if isinstance(result, SendFailure):
            outcome = self._failure(item, result)
        else:
            outcome = Outcome(item.id, DeliveryState.SENT, SmtpPhase.DONE, result)
            done.sent += 1
        self.ledger.pending.append(outcome)
        if outcome.relay_busy and outcome.retry_at is not None:
            ratelimit.back_off(self.ctx, self.transport.name, outcome.retry_at, outcome.reply)
            done.halted = True

    def _failure(self, item: Claimed, exc: SendFailure) -> Outcome:
        now = self.ctx.clock.now()
        reply = f"{exc.code or ''} {exc.reply}".strip()
        policy = self.config.retry
        if exc.uncertain:
            state = DeliveryState.QUEUED if self.config.resend_unknown else DeliveryState.UNKNOWN
            return Outcome(item.id, state, SmtpPhase.DATA, reply, retry_at=now)
        if exc.permanent and exc.phase in (SmtpPhase.RCPT, SmtpPhase.DATA):
            return Outcome(
                item.id, DeliveryState.BOUNCED, exc.phase, reply, bounce=(item.subscriber_id, item.address)
            )
        if exc.relay_busy:
            until = now + policy.relay_backoff
            return Outcome(
                item.id, DeliveryState.RETRY_WAIT, exc.phase, reply, retry_at=until, relay_busy=True
            )
        if policy.gives_up(item.attempts):
            return Outcome(
                item.id, DeliveryState.BOUNCED, exc.phase, f"gave up after {item.attempts}: {reply}"
            )
        return Outcome(
            item.id, DeliveryState.RETRY_WAIT, exc.phase, reply, retry_at=now + policy.delay(item.attempts)
        )

    def run(self, sleep: Callable[[float], bool] | None = None) -> None:
        """Loop until :attr:`stop` is set, sleeping when there is nothing to send."""
        wait = sleep or self.stop.wait
        try:
            while not self.stop.is_set():
                try:
                    self.run_once()
                except Exception:
                    log.exception("worker step failed; retrying shortly")
                    self.last_claimed = 0
                if self.last_claimed == 0 and wait(self.config.idle_sleep):
                    break
        finally:
            self.ledger.close()
            self.transport.close()


def run_worker_once(ctx: AppContext, transport: Transport, config: WorkerConfig | None = None) -> int:
    """Send one batch in-process (tests, the demo); returns the number sent."""
    worker = Worker(ctx, transport, config)
    try:
        return worker.run_once()
    finally:
        worker.ledger.close()


def run_workers(
    ctx: AppContext,
    make_transport: Callable[[], Transport],
    concurrency: int,
    stop: threading.Event,
    config: WorkerConfig | None = None,
) -> None:
    """Run ``concurrency`` worker threads (one SMTP connection each) until ``stop`` is set."""
    base = config or WorkerConfig()
    workers = []
    for _ in range(max(1, concurrency)):
        cfg = WorkerConfig(**{**base.__dict__, "owner": owner_name()})
        w = Worker(ctx, make_transport(), cfg)
        w.stop = stop
        workers.append(w)
    threads = [
        threading.Thread(target=w.run, name=f"wm-worker-{i}", daemon=True) for i, w in enumerate(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
