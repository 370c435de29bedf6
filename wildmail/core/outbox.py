"""The event outbox: domain changes that other systems hear about (outbound webhooks).

A use case calls `emit` inside the transaction that makes the change, so the event is stored if
and only if the change is (the transactional outbox pattern), and only when an endpoint wants its
type (:func:`on_wanted`): an import of a million people with no endpoint writes no event. The
webhooks package fans stored events out to the registered endpoints and delivers them; nothing
here knows about HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Index,
    Integer,
    String,
    bindparam,
    false,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from wildmail.core.db import Base, JSONType, UTCDateTime
from wildmail.core.sql import is_postgres


class EventType(StrEnum):
    """Every event an endpoint can subscribe to; the value is the payload's `type`."""

    SUBSCRIBER_CREATED = "subscriber.created"
    SUBSCRIBER_CONFIRMED = "subscriber.confirmed"
    SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed"
    SUBSCRIBER_FORGOTTEN = "subscriber.forgotten"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    SUPPRESSION_ADDED = "suppression.added"
    CAMPAIGN_STARTED = "campaign.started"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_FINISHED = "campaign.finished"
    DONATION_CLICKED = "donation.clicked"
    DONATION_ATTRIBUTED = "donation.attributed"


class OutboxEvent(Base):
    """One event, stored with the change that caused it; `dispatched` once fanned out."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "dispatched", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched: Mapped[bool] = mapped_column(default=False, server_default=false())


Wanted = Callable[[Session | Connection, EventType], bool]
_wanted: list[Wanted] = []


def on_wanted(check: Wanted | None) -> None:
    """Let the consumer of events (the webhooks package, wired by
    :func:`wildmail.runtime.startup.wire_hooks`) say whether anyone wants an event type now; events
    nobody wants are not stored. Without a check every event is stored. ``None`` removes it."""
    _wanted.clear()
    if check is not None:
        _wanted.append(check)


def wanted_check() -> Wanted | None:
    """The check :func:`on_wanted` registered, if any."""
    return _wanted[0] if _wanted else None


def wanted(bind: Session | Connection, event_type: EventType) -> bool:
    """Whether an event of ``event_type`` would be stored now (for a batch path that can skip
    building its events)."""
    return not _wanted or _wanted[0](bind, event_type)


def emit(session: Session, event_type: EventType, data: dict[str, Any], at: datetime) -> None:
    """Store one event in the caller's transaction. `data` must be JSON and hold no secret."""
    emit_many(session, event_type, [data], at)


_TYPES = (bindparam("at", type_=UTCDateTime()), bindparam("dispatched", type_=Boolean()))
_INSERT_SQLITE = text(
    "INSERT INTO outbox_events (event_type, payload, created_at, dispatched)"
    " SELECT :event_type, value, :at, :dispatched FROM json_each(:items) ORDER BY key"
).bindparams(*_TYPES)
_INSERT_PG = text(
    "INSERT INTO outbox_events (event_type, payload, created_at, dispatched)"
    " SELECT :event_type, e.value, :at, :dispatched"
    " FROM jsonb_array_elements(CAST(:items AS jsonb)) WITH ORDINALITY AS e(value, n) ORDER BY e.n"
).bindparams(*_TYPES)


def emit_many(
    session: Session | Connection, event_type: EventType, items: list[dict[str, Any]], at: datetime
) -> None:
    """Store several events of one type in one statement (for batch paths; a Connection too).

    The payloads travel as one JSON array that the database takes apart (``json_each`` on SQLite,
    ``jsonb_array_elements`` on PostgreSQL): an import chunk's thousands of events cost one
    ``json.dumps`` and one statement instead of a bound row each (docs/performance.md, "Outbox")."""
    if not items or not wanted(session, event_type):
        return
    statement = _INSERT_PG if is_postgres(session) else _INSERT_SQLITE
    session.execute(
        statement,
        {"event_type": event_type.value, "items": json.dumps(items), "at": at, "dispatched": False},
    )


PERSONAL_KEYS = ("email", "name")


def redact_subscriber(session: Session, subscriber_id: int) -> int:
    """Remove the address and name from every stored event about one subscriber (``forget``), in
    the caller's transaction; deliveries not yet made then carry the ids only. Returns rows changed."""
    about = OutboxEvent.payload["subscriber_id"].as_integer() == subscriber_id
    changed = 0
    for event_id, payload in session.execute(select(OutboxEvent.id, OutboxEvent.payload).where(about)):
        if any(key in payload for key in PERSONAL_KEYS):
            kept = {k: v for k, v in payload.items() if k not in PERSONAL_KEYS}
            session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(payload=kept))
            changed += 1
    return changed
