"""What a bounce or complaint changes: suppression, the soft-bounce score, the campaign circuit breaker.

* Hard bounce: the address is suppressed at once (``subscribers.lifecycle.mark_bounced``) and the
  delivery counts as bounced.
* Policy or reputation block (5.7.x, 4.7.x, content): never about the person; counted against the
  campaign and logged as an alert (``wildmail campaign status`` shows the count and the latest).
* Soft bounce: counted. The score is the number of soft-bounced deliveries among the subscriber's
  last ``soft_bounce_window`` sends, counted from the newest back to the first *success*: a send
  that did not bounce and is at least :data:`SETTLED` old (bounces arrive within hours or days),
  or a human open or click. Soft bounces older than ``soft_bounce_expiry_days`` no longer count
  (the score decays). At ``soft_bounce_threshold`` the address is suppressed.
* Complaint: the person is unsubscribed from everything (status ``complained``) and suppressed.
* Circuit breaker: once a campaign has ``breaker_min_deliveries`` sends, complaints above
  ``breaker_complaint_rate`` or hard bounces above ``breaker_hard_bounce_rate`` of them pause it,
  with the reason kept on the campaign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, CampaignStatus, Email
from delivery.lifecycle import trip_breaker
from delivery.models import Delivery, DeliveryState
from inbound.models import InboundMessage
from inbound.parse import Kind
from subscribers import lifecycle
from tracking.models import Classification, Event, EventKind
from tracking.unsubscribe import stop_sending
from wildmail.core.settings import Settings

log = logging.getLogger("wildmail.inbound")

SETTLED = timedelta(days=3)  # a send this old without a bounce counts as delivered
SENT_STATES = (DeliveryState.SENT.value, DeliveryState.BOUNCED.value, DeliveryState.UNKNOWN.value)


@dataclass(frozen=True)
class Policy:
    """The thresholds, from settings."""

    soft_threshold: int = 3
    soft_window: int = 5
    soft_expiry: timedelta = timedelta(days=30)
    breaker_min: int = 1000
    complaint_rate: float = 0.001
    hard_rate: float = 0.05

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            soft_threshold=s.soft_bounce_threshold,
            soft_window=s.soft_bounce_window,
            soft_expiry=timedelta(days=s.soft_bounce_expiry_days),
            breaker_min=s.breaker_min_deliveries,
            complaint_rate=s.breaker_complaint_rate,
            hard_rate=s.breaker_hard_bounce_rate,
        )


def hard_bounce(
    session: Session, delivery: Delivery, detail: str, at: datetime, *, mark_delivery: bool = True
) -> None:
    """Suppress the address, mark the delivery bounced (unless it already counts as a soft
    bounce) and stop whatever else was queued for them."""
    if mark_delivery and delivery.state in (DeliveryState.SENT.value, DeliveryState.UNKNOWN.value):
        delivery.state = DeliveryState.BOUNCED.value
        delivery.last_reply = detail[:500]
        delivery.updated_at = at
    lifecycle.mark_bounced(session, delivery.subscriber_id, at, detail[:500])
    stop_sending(session, delivery.subscriber_id, at, reason="bounced", reply="address bounced")


def complaint(session: Session, delivery: Delivery, detail: str, at: datetime) -> None:
    """Unsubscribe from everything and suppress, whatever list the complaint came from."""
    lifecycle.mark_complained(session, delivery.subscriber_id, at, detail[:500])
    stop_sending(session, delivery.subscriber_id, at, reason="complained", reply="recipient complained")


def soft_score(
    session: Session, subscriber_id: int, policy: Policy, now: datetime, bouncing: int | None = None
) -> int:
    """The subscriber's soft-bounce score now (see the module's description); ``bouncing``: a
    delivery whose soft bounce is being recorded now."""
    sends = session.execute(
        select(Delivery.id, Delivery.sent_at)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(policy.soft_window)
    ).all()
    if not sends:
        return 0
    ids = [d for d, _ in sends]
    bounced = dict(
        session.execute(
            select(InboundMessage.delivery_id, func.max(InboundMessage.received_at))
            .where(
                InboundMessage.delivery_id.in_(ids),
                InboundMessage.kind.in_([Kind.SOFT.value, Kind.HARD.value, Kind.BLOCK.value]),
            )
            .group_by(InboundMessage.delivery_id)
        )
        .tuples()
        .all()
    )
    soft = set(
        session.scalars(
            select(InboundMessage.delivery_id).where(
                InboundMessage.delivery_id.in_(ids), InboundMessage.kind == Kind.SOFT.value
            )
        )
    )
    engaged = session.scalar(
        select(func.max(Event.at)).where(
            Event.delivery_id.in_(
                select(Delivery.id).where(Delivery.subscriber_id == subscriber_id).scalar_subquery()
            ),
            Event.kind.in_([EventKind.OPEN.value, EventKind.CLICK.value]),
            Event.classification == Classification.HUMAN.value,
        )
    )
    if bouncing is not None:
        soft.add(bouncing)
        bounced[bouncing] = now
    score = 0
    for delivery_id, sent_at in sends:
        if engaged is not None and sent_at is not None and sent_at <= engaged:
            break  # a human read something sent after this: the mailbox works
        if delivery_id in soft:
            if now - bounced[delivery_id] <= policy.soft_expiry:
                score += 1
            continue
        if delivery_id not in bounced and sent_at is not None and now - sent_at >= SETTLED:
            break  # a later message went through
    return score


def breaker(session: Session, campaign_id: int, policy: Policy, now: datetime) -> str:
    """Pause the campaign when its complaint or hard-bounce share is over the limit; the reason
    given ('' when the campaign goes on)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return ""
    sent = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.state.in_(SENT_STATES))
    )
    if not sent or sent < policy.breaker_min:
        return ""
    hard = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.BOUNCED.value)
    )
    emails = select(Email.id).where(Email.campaign_id == campaign_id).scalar_subquery()
    complaints = session.scalar(  # by email_id: the events' index (campaign_id has none)
        select(func.count())
        .select_from(Event)
        .where(Event.email_id.in_(emails), Event.kind == EventKind.COMPLAINT.value)
    )
    reason = ""
    if complaints and complaints / sent > policy.complaint_rate:
        reason = (
            f"complaints {complaints} of {sent} sends ({complaints / sent:.2%})"
            f" over the {policy.complaint_rate:.2%} limit"
        )
    elif hard and hard / sent > policy.hard_rate:
        reason = (
            f"hard bounces {hard} of {sent} sends ({hard / sent:.2%}) over the {policy.hard_rate:.2%} limit"
        )
    if reason and trip_breaker(session, campaign, f"circuit breaker: {reason}", now):
        log.warning("campaign %s paused by its circuit breaker: %s", campaign.slug, reason)
        return reason
    return ""


def sweep(session: Session, policy: Policy, now: datetime) -> list[tuple[str, str]]:
    """Judge every running campaign (hard bounces refused at RCPT never pass through the intake);
    ``(slug, reason)`` of each one paused now. Run by the scheduler after each tick."""
    running = session.execute(
        select(Campaign.id, Campaign.slug).where(Campaign.status == CampaignStatus.RUNNING.value)
    ).all()
    paused = []
    for campaign_id, slug in running:
        reason = breaker(session, campaign_id, policy, now)
        if reason:
            paused.append((slug, reason))
    return paused
