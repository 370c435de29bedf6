"""The event outbox: domain changes that other systems hear about (outbound webhooks).

A use case calls `emit` inside the transaction that makes the change, so the event is stored if
and only if the change is (the transactional outbox pattern). The webhooks package fans stored
events out to the registered endpoints and delivers them; nothing here knows about HTTP.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, false, insert
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


def emit_many(session: Session, event_type: EventType, items: list[dict[str, Any]], at: datetime) -> None:
    """Store several events of one type in one statement (for batch paths)."""
    if not items:
        return
    session.execute(
        insert(OutboxEvent),
        [
            {"event_type": event_type.value, "payload": data, "created_at": at, "dispatched": False}
            for data in items
        ],
    )
