"""Who may not be mailed, and the hard-bounce transition.

The suppression list stores ``subscribers.addresses.address_hash`` of the normalised (stored)
address; the check here is batched for a whole claim. A 5xx reply goes through the subscribers
package's own transition (``mark_bounced``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from delivery.models import Delivery
from subscribers.addresses import address_hash
from subscribers.lifecycle import mark_bounced
from subscribers.models import SubscriberStatus
from wildmail.core.outbox import EventType, emit

ACTIVE = SubscriberStatus.ACTIVE.value
SUPPRESSED_SQL = "SELECT address_hash FROM suppressions WHERE address_hash IN ({hashes})"


def suppressed_among(conn: Connection, people: Iterable[Any]) -> set[int]:
    """Ids among ``people`` (rows with id, email, status) that must not be mailed now, found with
    one plain statement on ``conn`` (the claim's hot path). The hashes are inlined: they are
    SHA-256 hex digests we computed, nothing a user typed."""
    people = list(people)
    blocked = {p.id for p in people if p.status != ACTIVE}
    hashes = {address_hash(p.email): p.id for p in people if p.id not in blocked}
    if hashes:
        found = conn.exec_driver_sql(SUPPRESSED_SQL.format(hashes=",".join(f"'{h}'" for h in hashes)))
        blocked.update(hashes[row[0]] for row in found)
    return blocked


_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def bounce_subscriber(
    conn: Connection, subscriber_id: int, reply: str, now: datetime, *, delivery_id: int | None = None
) -> None:
    """Hard bounce through ``subscribers.lifecycle.mark_bounced`` (status, consent event,
    suppression) and its ``bounce`` event, inside the caller's transaction on ``conn``."""
    if not conn.in_transaction():
        conn.begin()
    with Session(bind=conn) as session:  # joins the connection's transaction; the caller commits
        mark_bounced(session, subscriber_id, now, reply[:500])
        delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
        found = _STATUS.search(reply)
        data = {
            "delivery_id": delivery_id,
            "subscriber_id": subscriber_id,
            "campaign_id": delivery.campaign_id if delivery else None,
            "email_id": delivery.email_id if delivery else None,
            "suppressed": True,
            "kind": "hard",
            "status": found.group(1) if found else reply[:3],
        }
        emit(session, EventType.BOUNCE, data, now)
        session.flush()
