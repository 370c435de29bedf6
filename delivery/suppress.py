"""Who may not be mailed, and the hard-bounce transition.

The suppression list stores SHA-256 hex of the normalised (stored) address, the same formula
as ``subscribers.addresses.address_hash``. ``bounce_subscriber`` is a small local transition
(status -> bounced, a consent event, a suppression row) used by the worker on a 5xx reply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from campaigns.enrolment import upsert_ignore
from subscribers.models import ConsentEvent, ConsentSource, Subscriber, SubscriberStatus, Suppression

ACTIVE = SubscriberStatus.ACTIVE.value


def address_hash(address: str) -> str:
    """SHA-256 hex of a stored (already normalised) address."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


def suppressed_ids(s: Session, people: Iterable[Any]) -> set[int]:
    """Ids among ``people`` (rows with id, email, status) that must not be mailed now."""
    people = list(people)
    blocked = {p.id for p in people if p.status != ACTIVE}
    hashes = {address_hash(p.email): p.id for p in people if p.id not in blocked}
    if hashes:
        found = s.execute(select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes)))
        blocked.update(hashes[h] for h in found.scalars())
    return blocked


def is_mailable(s: Session, subscriber_id: int) -> bool:
    """True when this subscriber is active and their address is not suppressed."""
    row = s.execute(
        select(Subscriber.id, Subscriber.email, Subscriber.status).where(Subscriber.id == subscriber_id)
    ).first()
    return row is not None and not suppressed_ids(s, [row])


def bounce_subscriber(
    s: Session | Connection, subscriber_id: int, address: str, reply: str, now: datetime
) -> None:
    """Hard bounce: subscriber -> bounced (consent history kept) and the address suppressed."""
    current = s.execute(select(Subscriber.status).where(Subscriber.id == subscriber_id)).scalar()
    if current is not None and current != SubscriberStatus.BOUNCED.value:
        s.execute(
            update(Subscriber)
            .where(Subscriber.id == subscriber_id)
            .values(status=SubscriberStatus.BOUNCED.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        s.execute(
            insert(ConsentEvent).values(
                subscriber_id=subscriber_id,
                from_status=current,
                to_status=SubscriberStatus.BOUNCED.value,
                source=ConsentSource.BOUNCE.value,
                detail=reply[:500],
                at=now,
            )
        )
    s.execute(
        upsert_ignore(s, Suppression.__table__).values(
            address_hash=address_hash(address), reason="bounce", created_at=now
        )
    )
