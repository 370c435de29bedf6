"""One person as the dashboard shows them, and the staff actions on them.

The profile (lists, consent history, suppression state) is read here; their deliveries and
engagement live in higher layers (:mod:`tracking.activity`). Actions reuse the lifecycle and
privacy use-cases (the CLI's ``unsubscribe``, ``forget`` and ``unsuppress`` call the same ones).
Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import lifecycle, privacy
from subscribers.addresses import hash_of
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    ListMembership,
    Subscriber,
    SubscriberList,
    Suppression,
)
from wildmail.core.csvsafe import SafeWriter

CSV_CHUNK_ROWS = 1000


@dataclass(frozen=True)
class Membership:
    slug: str
    name: str
    joined_at: datetime


@dataclass(frozen=True)
class SuppressionState:
    """Why and since when the address must not be mailed."""

    reason: str
    since: datetime

    @property
    def liftable(self) -> bool:
        """Only a bounce's suppression may be lifted by an admin (see :func:`lifecycle.lift_bounce`)."""
        return self.reason == "bounced"


@dataclass(frozen=True)
class Profile:
    """What the person page shows about the subscriber themselves."""

    subscriber: Subscriber
    memberships: list[Membership]
    history: list[ConsentEvent]
    suppression: SuppressionState | None

    def paused(self, now: datetime) -> bool:
        """True while the person paused their emails."""
        until = self.subscriber.paused_until
        return until is not None and until > now


def get_person(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this id, or None (also for forgotten people: nothing is left to show)."""
    sub = session.get(Subscriber, subscriber_id)
    return None if sub is None or sub.forgotten_at is not None else sub


def profile(session: Session, subscriber: Subscriber) -> Profile:
    """Lists, consent history (oldest first) and suppression state of one subscriber."""
    memberships = [
        Membership(slug, name, at)
        for slug, name, at in session.execute(
            select(SubscriberList.slug, SubscriberList.name, ListMembership.created_at)
            .join(ListMembership, ListMembership.list_id == SubscriberList.id)
            .where(ListMembership.subscriber_id == subscriber.id)
            .order_by(SubscriberList.name)
        )
    ]
    history = list(
        session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
        )
    )
    entry = session.scalars(
        select(Suppression).where(Suppression.address_hash == hash_of(subscriber.email))
    ).first()
    suppression = SuppressionState(entry.reason, entry.created_at) if entry is not None else None
    return Profile(subscriber, memberships, history, suppression)


def unsubscribe_person(session: Session, subscriber: Subscriber, at: datetime, by: str) -> bool:
    """Unsubscribe at a staff member's request (kept in the consent history with who did it)."""
    return lifecycle.unsubscribe(session, subscriber, ConsentSource.ADMIN, at, detail=f"by {by}")


def forget_person(session: Session, subscriber: Subscriber, at: datetime) -> None:
    """GDPR erasure: :func:`subscribers.privacy.forget`."""
    privacy.forget(session, subscriber, at)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(f"{prefix}[{index}]", item)
    else:
        yield prefix, "" if value is None else value


def person_csv(session: Session, subscriber: Subscriber) -> str:
    """Everything stored about one person (:func:`privacy.person_data`) as a two-column CSV
    (``field``, ``value``; nested records as ``deliveries[0].state``), formula-safe."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(["field", "value"])
    writer.writerows(_flatten("", privacy.person_data(session, subscriber)))
    return out.getvalue()


def export_chunks(session: Session, list_slug: str | None = None, status: str | None = None) -> Iterator[str]:
    """The list export (:func:`privacy.export_rows`) as CSV text in chunks of rows, for streaming."""
    out = io.StringIO()
    writer = SafeWriter(out)
    for count, row in enumerate(privacy.export_rows(session, list_slug, status), start=1):
        writer.writerow(row)
        if count % CSV_CHUNK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()
