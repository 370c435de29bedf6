"""What the shell shows of the intake: the latest messages received and what was decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from inbound.models import InboundMessage
from wildmail.core.store import Store


@dataclass(frozen=True)
class Received:
    """One kept message, as ``wildmail inbound recent`` lists it."""

    id: int
    received_at: datetime
    via: str
    kind: str
    action: str
    reason: str
    delivery_id: int | None


def recent(store: Store, limit: int = 50, kind: str = "") -> list[Received]:
    """The latest kept messages, newest first (``kind``: only that kind)."""
    query = select(
        InboundMessage.id,
        InboundMessage.received_at,
        InboundMessage.via,
        InboundMessage.kind,
        InboundMessage.action,
        InboundMessage.reason,
        InboundMessage.delivery_id,
    ).order_by(InboundMessage.id.desc())
    if kind:
        query = query.where(InboundMessage.kind == kind)
    with store.session() as s:
        return [Received(*row) for row in s.execute(query.limit(limit)).tuples()]
