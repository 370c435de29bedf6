"""What the outbox holds right now: due, in flight, waiting for a retry (``worker --until-idle``,
``campaign status``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from delivery.models import Delivery, DeliveryState

QUEUED = DeliveryState.QUEUED.value
SENDING = DeliveryState.SENDING.value
RETRY_WAIT = DeliveryState.RETRY_WAIT.value


@dataclass(frozen=True)
class QueueState:
    """Deliveries due now, being sent (leased), and waiting for a later retry (with the earliest
    retry time and the relay's last answer to the most recent of them)."""

    due: int
    in_flight: int
    retrying: int
    next_retry_at: datetime | None
    last_reply: str

    @property
    def idle(self) -> bool:
        """Nothing to send now and nothing being sent."""
        return self.due == 0 and self.in_flight == 0


def queue_state(engine: Engine, now: datetime, campaign_id: int | None = None) -> QueueState:
    """The outbox at ``now`` (one campaign's part of it when ``campaign_id`` is given)."""
    waiting = (Delivery.state.in_((QUEUED, RETRY_WAIT))) & (Delivery.next_attempt_at <= now)
    later = (Delivery.state == RETRY_WAIT) & (Delivery.next_attempt_at > now)
    query = select(
        func.count(case((waiting, 1))),
        func.count(case((Delivery.state == SENDING, 1))),
        func.count(case((later, 1))),
    ).where(Delivery.state.in_((QUEUED, SENDING, RETRY_WAIT)))
    first = select(func.min(Delivery.next_attempt_at)).where(later)
    last = select(Delivery.last_reply).where(later, Delivery.last_reply != "")
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
        first = first.where(Delivery.campaign_id == campaign_id)
        last = last.where(Delivery.campaign_id == campaign_id)
    next_retry, reply = None, ""
    with Session(engine) as s:
        due, in_flight, retrying = s.execute(query).one()
        if retrying:
            next_retry = s.execute(first).scalar()
            reply = s.execute(last.order_by(Delivery.updated_at.desc()).limit(1)).scalar() or ""
    return QueueState(due, in_flight, retrying, next_retry, reply)
