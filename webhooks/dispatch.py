"""Fan-out and delivery: outbox events become one delivery per subscribed endpoint, and due
deliveries are POSTed, signed, with retries on a schedule of about a day.

Every step is its own short write transaction; the HTTP request runs outside any transaction.
A claimed delivery's ``next_attempt_at`` moves one lease ahead, so two dispatchers (two worker
processes) never send it at once, and one that dies mid-request leaves it due again later.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from webhooks.addresses import WebhookError, refuse_private
from webhooks.endpoints import ALL
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.retention import Pruned, prune
from webhooks.signing import headers
from wildmail.core.db import write_transaction
from wildmail.core.outbox import OutboxEvent
from wildmail.core.settings import Settings
from wildmail.core.store import Store

log = logging.getLogger("wildmail.webhooks")

# Waits after the 1st, 2nd, ... failed attempt; after the last one the delivery is failed.
# Eight attempts over about 27 hours.
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # each wait is stretched or shortened by up to 10%, so retries do not arrive in step
FAN_OUT_BATCH = 500
CLAIM_BATCH = 20
PARALLEL = 8  # requests in flight per dispatcher
ERROR_CHARS = 300
PRUNE_EVERY = 3600.0  # seconds between prunes of old history by a running dispatcher


@dataclass(frozen=True)
class DispatchConfig:
    """What the shell passes in from the settings."""

    timeout: float = 10.0
    allow_private: bool = False
    user_agent: str = "wildmail-webhooks/1"
    keep: timedelta = timedelta(days=30)  # finished deliveries and their events, then pruned

    @classmethod
    def from_settings(cls, s: Settings) -> DispatchConfig:
        return cls(
            timeout=s.webhooks_timeout,
            allow_private=s.webhooks_allow_private,
            keep=timedelta(days=s.webhooks_keep_days),
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is left alone: longer than any request can take."""
        return timedelta(seconds=self.timeout * 3 + 30)


@dataclass(frozen=True)
class Attempt:
    """What one POST got: a status code or an error, and how long it took."""

    status_code: int | None
    error: str
    ms: int


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    created_at: datetime
    payload: dict[str, Any]
    attempts: int


def message_id(event_id: int) -> str:
    """The ``webhook-id`` of an event: the same for every endpoint, retry and resend."""
    return f"msg_{event_id}"


def body_of(event_type: str, created_at: datetime, payload: dict[str, Any]) -> bytes:
    """The JSON body (Standard Webhooks shape): ``{"type", "timestamp", "data"}``."""
    stamp = created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document = {"type": event_type, "timestamp": stamp, "data": payload}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def next_delay(failed_attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """The wait after ``failed_attempts`` failures (None when the schedule is used up)."""
    if failed_attempts < 1 or failed_attempts > len(SCHEDULE):
        return None
    base = SCHEDULE[failed_attempts - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def fan_out(store: Store, limit: int = FAN_OUT_BATCH) -> int:
    """One delivery per enabled endpoint subscribed to each undispatched event; the events are
    marked dispatched in the same transaction. Returns the events handled."""
    now = store.clock.now()
    if not _any(store, select(OutboxEvent.id).where(OutboxEvent.dispatched.is_(False))):
        return 0
    with write_transaction(store.engine) as s:
        query = (
            select(OutboxEvent.id, OutboxEvent.event_type)
            .where(OutboxEvent.dispatched.is_(False))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        events = s.execute(query).all()
        if not events:
            return 0
        endpoints = s.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled.is_(True))
        ).all()
        rows = [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
            for event_id, event_type in events
            for endpoint_id, types in endpoints
            if ALL in types or event_type in types
        ]
        if rows:
            s.execute(insert(WebhookDelivery), rows)
        s.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in events])).values(dispatched=True)
        )
        return len(events)


def _any(store: Store, query: Select[Any]) -> bool:
    """A read on the index before taking the write lock: an idle dispatcher never writes (on
    SQLite every write transaction holds up the other writers)."""
    with store.session() as s:
        return s.execute(query.limit(1)).first() is not None


def _claim(store: Store, lease: timedelta, limit: int, only: int | None = None) -> list[_Claimed]:
    now = store.clock.now()
    due = select(WebhookDelivery.id).where(
        WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now
    )
    if not _any(store, due if only is None else due.where(WebhookDelivery.id == only)):
        return []
    with write_transaction(store.engine) as s:
        query = (
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if only is not None:
            query = query.where(WebhookDelivery.id == only)
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
        ids = list(s.scalars(query))
        if not ids:
            return []
        s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=now + lease)
        )
        rows = s.execute(
            select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret, OutboxEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        ).all()
        return [
            _Claimed(
                d.id,
                d.endpoint_id,
                url,
                secret,
                e.id,
                e.event_type,
                e.created_at,
                dict(e.payload),
                d.attempts,
            )
            for d, url, secret, e in rows
        ]


def post(client: httpx.Client, item: _Claimed, config: DispatchConfig, now: datetime) -> Attempt:
    """POST one signed message; never raises for what the network or the endpoint does."""
    body = body_of(item.event_type, item.created_at, item.payload)
    sent = headers(item.secret, message_id(item.event_id), int(now.timestamp()), body)
    sent["user-agent"] = config.user_agent
    started = time.perf_counter()
    try:
        refuse_private(item.url, config.allow_private)
        with client.stream("POST", item.url, content=body, headers=sent) as response:
            code = response.status_code
        error = "" if 200 <= code < 300 else f"HTTP {code}"
        return Attempt(code, error, round((time.perf_counter() - started) * 1000))
    except WebhookError as exc:
        return Attempt(None, str(exc)[:ERROR_CHARS], 0)
    except httpx.TimeoutException:
        return Attempt(
            None, f"no answer within {config.timeout:g} s", round((time.perf_counter() - started) * 1000)
        )
    except (httpx.HTTPError, OSError) as exc:
        return Attempt(
            None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], round((time.perf_counter() - started) * 1000)
        )


def record(store: Store, item: _Claimed, attempt: Attempt, rng: random.Random | None = None) -> str:
    """Store one attempt's outcome; returns the delivery's new status."""
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        delivery = s.get(WebhookDelivery, item.delivery_id)
        if delivery is None:  # the endpoint was removed meanwhile
            return DeliveryStatus.FAILED.value
        delivery.attempts = item.attempts + 1
        delivery.last_attempt_at = now
        delivery.last_status_code = attempt.status_code
        delivery.last_error = attempt.error
        delivery.response_ms = attempt.ms
        code = attempt.status_code
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.DELIVERED.value, None
        elif code == 410:
            _gone(s, delivery, now)
        else:
            wait = next_delay(delivery.attempts, rng)
            if wait is None:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
                log.warning(
                    "webhook delivery %d (%s to endpoint %d) failed after %d attempts: %s",
                    delivery.id, delivery.event_type, delivery.endpoint_id, delivery.attempts, attempt.error,
                )  # fmt: skip
            else:
                delivery.next_attempt_at = now + wait
        return delivery.status


def _gone(s: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """410 Gone: the receiver asks us to stop; the endpoint is disabled, this delivery failed."""
    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
    endpoint = s.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is not None and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = f"answered 410 Gone at {now:%Y-%m-%d %H:%M} UTC"
        log.warning("webhook endpoint %d answered 410 Gone: disabled", endpoint.id)


@dataclass
class Dispatcher:
    """Fans out and delivers; :meth:`run_once` for cron and tests, :meth:`run` for the worker."""

    store: Store
    config: DispatchConfig = field(default_factory=DispatchConfig)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._pruned_at: float | None = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout),
            follow_redirects=False,
        )
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="wm-webhook")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def deliver(self, only: int | None = None) -> dict[str, int]:
        """Claim the due deliveries (or one) and send them; outcomes counted by new status."""
        claimed = _claim(self.store, self.config.lease, CLAIM_BATCH, only)
        outcomes: dict[str, int] = {}

        def one(item: _Claimed) -> str:
            attempt = post(self._client, item, self.config, self.store.clock.now())
            return record(self.store, item, attempt, self.rng)

        for status in self._pool.map(one, claimed):
            outcomes[status] = outcomes.get(status, 0) + 1
        return outcomes

    def run_once(self) -> int:
        """Fan out new events, then send what is due; returns events plus attempts handled."""
        events = fan_out(self.store)
        attempts = sum(self.deliver().values())
        return events + attempts

    def until_idle(self, on_round: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
        """Fan out and send until nothing is due now; outcomes counted by status."""
        total: dict[str, int] = {}
        while True:
            fan_out(self.store)
            outcomes = self.deliver()
            if not outcomes and fan_out(self.store) == 0:
                return total
            for k, v in outcomes.items():
                total[k] = total.get(k, 0) + v
            if on_round is not None:
                on_round(outcomes)

    def prune_if_due(self) -> Pruned | None:
        """Prune old history (:mod:`webhooks.retention`) at most once per :data:`PRUNE_EVERY`."""
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return None
        self._pruned_at = now
        pruned = prune(self.store, self.config.keep)
        if pruned.deliveries or pruned.events:
            log.info(
                "webhooks: pruned %d finished deliveries and %d events older than %d days",
                pruned.deliveries, pruned.events, self.config.keep.days,
            )  # fmt: skip
        return pruned

    def run(self, stop: threading.Event, idle: float = 1.0) -> None:
        """Loop until ``stop`` is set (the worker's thread); a database hiccup is logged, not fatal."""
        while not stop.is_set():
            try:
                self.prune_if_due()
                busy = self.run_once()
            except Exception:
                log.exception("webhook dispatcher step failed; trying again")
                busy = 0
            if not busy:
                stop.wait(idle)


def waiting(store: Store) -> tuple[int, datetime | None]:
    """Deliveries pending a retry, and the next retry's time."""
    with store.session() as s:
        count, first = s.execute(
            select(func.count(), func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value
            )
        ).one()
    return int(count or 0), first
