"""What the shell shows of the intake: the latest messages received and what was decided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from campaigns.models import Campaign
from inbound.models import InboundMessage
from inbound.parse import Kind
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


def campaign_alerts(store: Store, slug: str) -> list[str]:
    """One line when receivers refused some of the campaign's mail for policy or reputation
    (5.7.x, 4.7.x; counted, never suppressing anyone), with the latest reason."""
    with store.session() as s:
        campaign_id = s.scalar(select(Campaign.id).where(Campaign.slug == slug))
        if campaign_id is None:
            return []
        mine = (InboundMessage.campaign_id == campaign_id, InboundMessage.kind == Kind.BLOCK.value)
        count = s.scalar(select(func.count()).select_from(InboundMessage).where(*mine)) or 0
        if not count:
            return []
        latest = s.scalar(
            select(InboundMessage.reason).where(*mine).order_by(InboundMessage.id.desc()).limit(1)
        )
    return [f"{count} deliveries refused later for policy or reputation; latest: {latest}"]


RETURN_KINDS = (Kind.HARD.value, Kind.SOFT.value, Kind.BLOCK.value, Kind.COMPLAINT.value)


@dataclass(frozen=True)
class Returned:
    """One bounce or complaint as the REST API lists it."""

    id: int
    received_at: datetime
    via: str
    kind: str  # hard | soft | block | complaint
    action: str
    reason: str
    status: str  # the RFC 3463 code when there is one
    delivery_id: int | None
    subscriber_id: int | None
    campaign_id: int | None


def returns_page(
    store: Store, after_id: int, limit: int, kinds: Sequence[str] = RETURN_KINDS
) -> list[Returned]:
    """Bounces and complaints received (kept messages and provider events) with id > ``after_id``, in
    id order (a keyset page); ``kinds`` narrows them (e.g. ``("complaint",)``)."""
    query = (
        select(
            InboundMessage.id,
            InboundMessage.received_at,
            InboundMessage.via,
            InboundMessage.kind,
            InboundMessage.action,
            InboundMessage.reason,
            InboundMessage.status,
            InboundMessage.delivery_id,
            InboundMessage.subscriber_id,
            InboundMessage.campaign_id,
        )
        .where(InboundMessage.id > after_id, InboundMessage.kind.in_(list(kinds)))
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    with store.session() as s:
        return [Returned(*row) for row in s.execute(query).tuples()]
