"""Who may not be mailed, and the hard-bounce transition.

The suppression list stores ``subscribers.addresses.address_hash`` of the normalised (stored)
address; the check here is batched for a whole claim. A 5xx reply goes through the subscribers
package's own transition (``mark_bounced``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash
from subscribers.lifecycle import mark_bounced
from subscribers.models import SubscriberStatus

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


def bounce_subscriber(conn: Connection, subscriber_id: int, reply: str, now: datetime) -> None:
    """Hard bounce through ``subscribers.lifecycle.mark_bounced`` (status, consent event,
    suppression), inside the caller's transaction on ``conn``."""
    if not conn.in_transaction():
        conn.begin()
    with Session(bind=conn) as session:  # joins the connection's transaction; the caller commits
        mark_bounced(session, subscriber_id, now, reply[:500])
        session.flush()
