"""Read-only questions about the send queue, for the demo and the command line."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select

from campaigns.models import Campaign, Email, Enrolment, Link
from delivery.models import Delivery, DeliveryState
from wildmail.core.store import Store

WAITING = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)


class SentAs(NamedTuple):
    """Which email of its series a sent message was, and when it left."""

    position: int
    sent_at: datetime | None


def next_due(store: Store) -> datetime | None:
    """When something next becomes due: an active enrolment's next email or a delivery waiting to be sent."""
    with store.session() as s:
        enrol = s.scalar(select(func.min(Enrolment.next_send_at)).where(Enrolment.status == "active"))
        retry = s.scalar(select(func.min(Delivery.next_attempt_at)).where(Delivery.state.in_(WAITING)))
    times = [t for t in (enrol, retry) if t is not None]
    return min(times) if times else None


def sent_as(store: Store, message_id: str) -> SentAs | None:
    """The delivery a Message-ID belongs to, or None for a message wildmail did not queue."""
    with store.session() as s:
        row = s.execute(
            select(Delivery.position, Delivery.sent_at).where(Delivery.message_id == message_id)
        ).first()
    return SentAs(row.position, row.sent_at) if row is not None else None


def link_kind(store: Store, link_id: int) -> str | None:
    """The kind of a tracked link (content, donation, trap ...), None when it does not exist."""
    with store.session() as s:
        return s.scalar(select(Link.kind).where(Link.id == link_id))


def email_count(store: Store, slug: str) -> int:
    """How many emails the campaign's series has."""
    with store.session() as s:
        return s.scalar(select(func.count(Email.id)).join(Campaign).where(Campaign.slug == slug)) or 0
