"""The event outbox: domain changes that other systems hear about (outbound webhooks).

A use case calls `emit` inside the transaction that makes the change, so the event is stored if
and only if the change is (the transactional outbox pattern). The webhooks package fans stored
events out to the registered endpoints and delivers them; nothing here knows about HTTP.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Connection, Index, Integer, String, false, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wildmail.core.db import Base, JSONType, UTCDateTime


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


def emit(session: Session, event_type: EventType, data: dict[str, Any], at: datetime) -> None:
    """Store one event in the caller's transaction. `data` must be JSON and hold no secret."""
    emit_many(session, event_type, [data], at)


def emit_many(
    session: Session | Connection, event_type: EventType, items: list[dict[str, Any]], at: datetime
) -> None:
    """Store several events of one type in one statement (for batch paths; a Connection too)."""
    if not items:
        return
    session.execute(
        insert(OutboxEvent),
        [
            {"event_type": event_type.value, "payload": data, "created_at": at, "dispatched": False}
            for data in items
        ],
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
