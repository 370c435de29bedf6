"""The ``data`` mark and the ``sent`` record as plain ORM updates: the reference the production
mark store (``delivery.ledger.MarkStore``) is compared against. Never used by the product."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from delivery.models import Delivery, DeliveryState, SmtpPhase
from wildmail.core.sql import rowcount

SENDING = DeliveryState.SENDING.value


def mark_data(s: Session, owner: str, delivery_id: int, now: datetime) -> bool:
    """Record that DATA is about to be sent; False when ``owner`` no longer holds the lease."""
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.lease_owner == owner, Delivery.state == SENDING)
        .values(smtp_phase=SmtpPhase.DATA.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(s.execute(stmt)) == 1


def mark_sent(s: Session, owner: str, delivery_id: int, reply: str, now: datetime) -> bool:
    """Record a leased (or ``unknown``) row sent and release its lease; False when not ours."""
    stmt = (
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.lease_owner == owner,
            Delivery.state.in_((SENDING, DeliveryState.UNKNOWN.value)),
        )
        .values(
            state=DeliveryState.SENT.value,
            smtp_phase=SmtpPhase.DONE.value,
            sent_at=now,
            updated_at=now,
            last_reply=reply,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(s.execute(stmt)) == 1
