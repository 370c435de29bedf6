"""The worker: claim a batch, build each message, hand it to the transport, record the outcome.

Per message exactly one short write happens before its content leaves: it records the previous
message's outcome and marks this one's phase ``data`` (fenced by the lease). A crash before
that write leaves the row requeueable; a crash after it makes the row ``unknown`` (reaper), so
with the default mark window at most one row per sending session ends ``unknown`` per crash.
With a streaming transport (SMTP pipelining) the next message's MAIL/RCPT/DATA travel with
this one's content: one round trip per message, the write order unchanged.

Refusals are judged by :mod:`delivery.replies`. Only a permanent refusal about the recipient
bounces and suppresses, and even then the worker holds it back while the same reply (addresses
removed) keeps coming for different recipients: ``refusal_streak`` of them in a row is the relay
refusing everyone, so none is suppressed. A held streak is judged genuine when something else
comes (an accepted message, another answer) or when there is nothing left to compare it with
(the queue is empty, or a one-pass run ends); it is carried over a batch end into the worker's
next batch (the rows stay leased, nothing is written), and handed back to the queue untouched
when the worker stops. A refusal about the relay, the sender or the content, a relay-wide
streak, or ``unknown_streak`` unknown outcomes with nothing accepted between them pause the
relay for every worker (:func:`delivery.ratelimit.pause`, with an alert and a WARNING line);
the deliveries concerned wait for the pause to end, without counting as an attempt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError

from delivery import ratelimit
from delivery.claim import Claimed, claim, extend_leases, reap, release, uncount
from delivery.compose import TemplateCache
from delivery.ledger import Ledger, Outcome
from delivery.message import HeaderInjection, Sender
from delivery.models import DeliveryState, SmtpPhase
from delivery.replies import Verdict, classify, reply_shape, without_addresses
from delivery.retry import RetryPolicy
from delivery.transport import Envelope, LeaseLost, Result, SendFailure, StreamJob, StreamTransport, Transport
from wildmail.core.store import Store

log = logging.getLogger("wildmail.worker")

# How each outcome counts in the batch line (``queued`` again: an unknown row resent by request).
_TALLY = {
    DeliveryState.SENT: "sent",
    DeliveryState.RETRY_WAIT: "retried",
    DeliveryState.BOUNCED: "bounced",
    DeliveryState.UNKNOWN: "unknown",
    DeliveryState.QUEUED: "unknown",
}


def _trouble(reply: str) -> str:
    """What a relay-wide back-off means, in words an operator acts on."""
    if reply.startswith("421"):
        return f"answered 421 ({reply[3:].strip() or 'try again later'})"
    if "cannot connect" in reply:
        return f"is unreachable ({reply})"
    if "login" in reply and "refused" in reply:
        return f"refused the login ({reply})"
    return f"cannot be used ({reply})"


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
    """Where a batch stands: messages accepted, first row not started, relay backed off
    (``paused``: with an alert), rows never sent because the relay was paused first."""

    sent: int = 0
    next_index: int = 0
    halted: bool = False
    paused: bool = False
    unsent: list[int] = field(default_factory=list)


@dataclass
class _Job:
    """One built message of a batch (a :class:`delivery.transport.StreamJob`)."""

    item: Claimed
    envelope: Envelope
    ledger: Ledger
    window: list[int]
    done: _Progress

    def before_data(self) -> bool:
        if self.done.halted:
            return False  # the relay was paused while this message's envelope was on its way
        return self.ledger.mark_data(self.item.id, self.window)


class Worker:
    """Sends queued deliveries through one transport; use :meth:`run_once` or :meth:`run`."""

    def __init__(
        self, store: Store, transport: Transport, sender: Sender, config: WorkerConfig | None = None
    ) -> None:
        self.store = store
        self.transport = transport
        self.config = config or WorkerConfig()
        self.cache = TemplateCache(sender)
        self.stop = threading.Event()
        self.last_claimed = 0
        self.ledger = Ledger(store, self.config.owner, durable=self.config.durable_marks)
        self.held: list[tuple[Claimed, Outcome]] = []  # recipient refusals of the current streak
        self._held_shape = ""
        self._waiting: list[int] = []  # rows written as waiting for a pause: their attempt is taken back
        self._unknowns = 0  # unknown outcomes since the relay last accepted a message
        self.tally: Counter[str] = Counter()  # outcomes recorded since the last batch line

    def _record(self, outcome: Outcome) -> None:
        """Queue ``outcome`` for the ledger (written with the next mark) and count it for the batch line."""
        self.ledger.pending.append(outcome)
        self.tally[_TALLY.get(outcome.state, outcome.state.value)] += 1

    def _log_batch(self, claimed: int | None) -> None:
        """One line per batch (``claimed`` None: a held refusal streak judged after its batch's
        line): what happened to the messages, and through which relay."""
        t, self.tally = self.tally, Counter()
        log.info(
            "%s via relay %s: sent %d, retried %d, bounced %d, unknown %d",
            f"batch of {claimed}" if claimed is not None else "held refusals",
            self.transport.name,
            t["sent"],
            t["retried"],
            t["bounced"],
            t["unknown"],
            extra={"data": {"relay": self.transport.name, "claimed": claimed, **t}},
        )

    def run_once(self) -> int:
        """Claim one batch and send it; returns how many messages were accepted by the relay."""
        cfg, store = self.config, self.store
        self.last_claimed = 0
        reap(store, resend_unknown=cfg.resend_unknown)
        status = ratelimit.relay_status(store, self.transport.name)
        if status is not None and status.backoff_until is not None and status.paused(store.clock.now()):
            self.settle_held(wait_until=status.backoff_until)  # paused by another worker meanwhile
            return 0
        want = ratelimit.acquire(store, self.transport.name, cfg.batch, cfg.rate_per_second)
        if want == 0:
            return 0
        batch = claim(store, cfg.owner, want, cfg.lease)
        self.last_claimed = len(batch)
        ratelimit.give_back(store, self.transport.name, want - len(batch) if cfg.rate_per_second > 0 else 0)
        if not batch:
            self.settle_held()  # nobody left to compare the streak with: its refusals are genuine
            return 0
        if self.held:
            extend_leases(
                store.engine, cfg.owner, [i.id for i, _ in self.held], store.clock.now() + cfg.lease
            )
        done = self._send_batch(batch)
        self._log_batch(len(batch))
        if done.sent and not done.paused and status is not None and (status.alert or status.pauses):
            ratelimit.clear_alert(store, self.transport.name)  # the relay accepts messages again
        return done.sent

    def settle_held(self, *, wait_until: datetime | None = None, release_rows: bool = False) -> None:
        """Judge the held refusal streak now and write it: genuine bounces by default; waiting
        until ``wait_until`` (the relay is paused); or back to the queue (``release_rows``)."""
        self._take_held(wait_until=wait_until, release_rows=release_rows)
        self._write_now()
        if self.tally:  # the streak's refusals, judged after their batch's line
            self._log_batch(None)

    def _take_held(self, *, wait_until: datetime | None = None, release_rows: bool = False) -> None:
        """Move the held streak into the ledger's pending outcomes (written with the next mark)."""
        held, self.held, self._held_shape = self.held, [], ""
        if not held:
            return
        if release_rows:
            release(self.store, self.config.owner, [item.id for item, _ in held])
            return
        for item, outcome in held:
            if wait_until is None:
                self._record(outcome)
            else:
                self._record(
                    Outcome(
                        item.id, DeliveryState.RETRY_WAIT, outcome.phase, outcome.reply, retry_at=wait_until
                    )
                )
                self._waiting.append(item.id)

    def _write_now(self) -> None:
        self.ledger.flush()
        waiting, self._waiting = self._waiting, []
        uncount(self.store, waiting)

    def _send_batch(self, batch: list[Claimed]) -> _Progress:
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
        self._write_now()
        unsent = done.unsent + [c.id for c in batch[done.next_index :]]
        if unsent:
            release(self.store, self.config.owner, unsent)
        return done

    def _jobs(self, batch: list[Claimed], done: _Progress) -> Iterator[_Job]:
        """The batch's messages, built one at a time; stops early on shutdown or relay back-off
        (``done.next_index`` is then the first row never started, for :func:`release`)."""
        cfg, ledger = self.config, self.ledger
        lease_end = self.store.clock.now() + cfg.lease
        sender = self.cache.sender
        for index, item in enumerate(batch):
            done.next_index = index
            if self.stop.is_set() or done.halted:
                return
            now = self.store.clock.now()
            if lease_end - now < cfg.lease / 2:
                lease_end = now + cfg.lease
                extend_leases(self.store.engine, cfg.owner, [c.id for c in batch[index:]], lease_end)
            try:
                template = self.cache.get(self.store, item.email_id, item.variant_id)
                data, wire = template.render_wire(
                    item.id, item.message_id, item.address, item.name, now, ask_donation=item.ask_donation
                )
            except HeaderInjection as exc:
                refused = f"message refused: {exc}"
                self._record(Outcome(item.id, DeliveryState.BOUNCED, SmtpPhase.NONE, refused))
                continue
            window = [c.id for c in batch[index + 1 : index + cfg.mark_window]]
            envelope = Envelope(sender.envelope_sender(item.id), item.address, data, item.message_id, wire)
            yield _Job(item, envelope, ledger, window, done)
        done.next_index = len(batch)

    def _report(self, job: StreamJob, result: Result, done: _Progress) -> None:
        """Record how one message ended (written with the next ``data`` mark, or on flush)."""
        assert isinstance(job, _Job)
        item = job.item
        if isinstance(result, LeaseLost):
            if done.halted:
                done.unsent.append(item.id)  # the relay was paused before its content left
            else:
                log.warning("lease on delivery %s lost before DATA; not sent", item.id)
            return
        if isinstance(result, SendFailure):
            outcome = self._failure(item, result, done)
            if outcome is None:
                return
        else:
            self._take_held()  # a message accepted: the refusals before it were about their recipients
            self._unknowns = 0
            outcome = Outcome(item.id, DeliveryState.SENT, SmtpPhase.DONE, result)
            done.sent += 1
        self._record(outcome)
        if outcome.relay_busy and outcome.retry_at is not None:
            ratelimit.back_off(self.store, self.transport.name, outcome.retry_at, outcome.reply)
            done.halted = True
            log.warning(
                "relay %s %s; every worker waits until %s, then retries",
                self.transport.name,
                _trouble(outcome.reply),
                outcome.retry_at.isoformat(timespec="seconds"),
            )

    def _pause(self, done: _Progress, reason: str) -> datetime:
        """Pause the relay for every worker with an alert; the held streak waits for it too."""
        policy, name = self.config.retry, self.transport.name
        reason = without_addresses(reason)
        until = ratelimit.pause(self.store, name, reason, policy.relay_pause, policy.relay_pause_cap)
        log.warning("relay %s paused until %s: %s", name, until.isoformat(timespec="seconds"), reason)
        done.halted = done.paused = True
        self._take_held(wait_until=until)
        return until

    def _hold(self, item: Claimed, exc: SendFailure, reply: str, done: _Progress) -> None:
        """Keep a recipient refusal back until the streak it belongs to is judged."""
        shape = reply_shape(exc.code, exc.reply)
        if self.held and shape != self._held_shape:
            self._take_held()  # a different answer: the streak so far was about its recipients
        bounce = (item.subscriber_id, item.address)
        self.held.append((item, Outcome(item.id, DeliveryState.BOUNCED, exc.phase, reply, bounce=bounce)))
        self._held_shape = shape
        recipients = len({i.address for i, _ in self.held})
        if recipients >= self.config.retry.refusal_streak:
            self._pause(done, f"the same refusal for {recipients} different recipients in a row: {reply}")

    def _failure(self, item: Claimed, exc: SendFailure, done: _Progress) -> Outcome | None:
        """The outcome to write now, or None when it is held or already pending."""
        now = self.store.clock.now()
        reply = f"{exc.code or ''} {exc.reply}".strip()
        policy = self.config.retry
        if exc.uncertain:
            self._take_held()
            state = DeliveryState.QUEUED if self.config.resend_unknown else DeliveryState.UNKNOWN
            self._record(Outcome(item.id, state, SmtpPhase.DATA, reply, retry_at=now))
            self._unknowns += 1
            if self._unknowns >= policy.unknown_streak:
                count, self._unknowns = self._unknowns, 0
                self._pause(
                    done,
                    f"{count} messages in a row ended unknown (connection lost after the content);"
                    f" last: {reply}",
                )
            return None
        verdict = classify(exc.code, exc.reply, exc.phase)
        if verdict is Verdict.RELAY:
            until = self._pause(done, f"relay refused at {exc.phase.value}: {reply}")
            self._waiting.append(item.id)
            return Outcome(item.id, DeliveryState.RETRY_WAIT, exc.phase, reply, retry_at=until)
        if verdict is Verdict.RECIPIENT and exc.phase in (SmtpPhase.RCPT, SmtpPhase.DATA):
            self._hold(item, exc, reply, done)
            return None
        self._take_held()
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
                except DBAPIError as exc:  # the database is down or restarting: one line, not a traceback
                    reason = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
                    log.warning("database unavailable (%s); retrying shortly", reason[0])
                    self.last_claimed = 0
                except Exception:
                    log.exception("worker step failed; retrying shortly")
                    self.last_claimed = 0
                if self.last_claimed == 0 and wait(self.config.idle_sleep):
                    break
        finally:
            try:
                self.settle_held(release_rows=True)  # stopping: an unjudged streak goes back to the queue
            finally:
                self.ledger.close()
                self.transport.close()


def run_worker_once(
    store: Store, transport: Transport, sender: Sender, config: WorkerConfig | None = None
) -> int:
    """Send one batch in-process (tests, the demo); returns the number sent."""
    worker = Worker(store, transport, sender, config)
    try:
        sent = worker.run_once()
        worker.settle_held()  # the pass ends like an empty queue: a streak short of the threshold is genuine
        return sent
    finally:
        worker.ledger.close()


def run_workers(
    store: Store,
    make_transport: Callable[[], Transport],
    sender: Sender,
    concurrency: int,
    stop: threading.Event,
    config: WorkerConfig | None = None,
) -> None:
    """Run ``concurrency`` worker threads (one SMTP connection each) until ``stop`` is set."""
    base = config or WorkerConfig()
    workers = []
    for _ in range(max(1, concurrency)):
        cfg = WorkerConfig(**{**base.__dict__, "owner": owner_name()})
        w = Worker(store, make_transport(), sender, cfg)
        w.stop = stop
        workers.append(w)
    threads = [
        threading.Thread(target=w.run, name=f"wm-worker-{i}", daemon=True) for i, w in enumerate(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
