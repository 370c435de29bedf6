"""One person's deliveries and engagement, for the dashboard's person page.

Every delivery with its state and the relay's last reply, and their opens and clicks with the
classification kept apart (human, machine, bot): a machine open is a mail client or privacy
proxy fetching the pixel, a bot click a link scanner or a hit on a hidden honeypot link.
Reads ``deliveries`` by the ``(subscriber_id, email_id)`` unique index and ``events`` by
``(delivery_id, at)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Link
from delivery.models import Delivery
from tracking.models import Classification, Event, EventKind

MAX_EVENTS = 500  # the page lists the latest events; the counts cover all of them


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    campaign_title: str
    campaign_slug: str
    position: int
    subject: str
    state: str
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    last_reply: str


@dataclass(frozen=True)
class EventRow:
    at: datetime
    kind: str
    classification: str
    campaign_title: str
    position: int
    link_url: str
    link_kind: str
    implied: bool


@dataclass
class Activity:
    """Deliveries (newest first), events (newest first, at most :data:`MAX_EVENTS`) and counts of
    ``(kind, classification)`` over all events."""

    deliveries: list[DeliveryRow]
    events: list[EventRow]
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def count(self, kind: EventKind, classification: Classification) -> int:
        return self.counts[(kind.value, classification.value)]


def activity(session: Session, subscriber_id: int) -> Activity:
    """Everything the person page shows about what was sent to ``subscriber_id`` and what they did."""
    deliveries = [
        DeliveryRow(*row)
        for row in session.execute(
            select(
                Delivery.id,
                Campaign.title,
                Campaign.slug,
                Delivery.position,
                Email.subject,
                Delivery.state,
                Delivery.attempts,
                Delivery.queued_at,
                Delivery.sent_at,
                Delivery.last_reply,
            )
            .join(Email, Email.id == Delivery.email_id)
            .join(Campaign, Campaign.id == Email.campaign_id)
            .where(Delivery.subscriber_id == subscriber_id)
            .order_by(Delivery.queued_at.desc(), Delivery.id.desc())
        )
    ]
    ids = select(Delivery.id).where(Delivery.subscriber_id == subscriber_id).scalar_subquery()
    counts: Counter[tuple[str, str]] = Counter()
    for kind, classification, n in session.execute(
        select(Event.kind, Event.classification, func.count())
        .where(Event.delivery_id.in_(ids))
        .group_by(Event.kind, Event.classification)
    ):
        counts[(kind, classification)] = n
    events = [
        EventRow(at, kind, classification, title, position, url or "", link_kind or "", implied)
        for at, kind, classification, title, position, url, link_kind, implied in session.execute(
            select(
                Event.at,
                Event.kind,
                Event.classification,
                Campaign.title,
                Email.position,
                Link.url,
                Link.kind,
                Event.implied,
            )
            .join(Email, Email.id == Event.email_id)
            .join(Campaign, Campaign.id == Email.campaign_id)
            .outerjoin(Link, Link.id == Event.link_id)
            .where(Event.delivery_id.in_(ids))
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(MAX_EVENTS)
        )
    ]
    return Activity(deliveries, events, counts)
