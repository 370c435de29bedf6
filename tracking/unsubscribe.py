"""One-click unsubscribe (RFC 8058) and the confirmation page's button, committed at once.

Unsubscribing bypasses the event writer: the status change, the consent history, the
suppression entry, the end of the person's enrolments, the suppression of their queued
deliveries and the ``unsubscribe`` event are one transaction committed before the response.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Select, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Enrolment, EnrolmentStatus
from delivery.models import Delivery, DeliveryState
from subscribers import lifecycle
from subscribers.models import ConsentSource, Subscriber, SubscriberList, SubscriberStatus
from tracking.lookup import DeliveryMeta
from tracking.models import Classification, Event, EventKind
from wildmail.core.db import write_transaction

EXIT_REASON = "unsubscribed"
PENDING_DELIVERY_STATES = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)


@dataclass(frozen=True)
class UnsubscribePage:
    """What the confirmation page shows."""

    campaign_title: str
    list_slug: str | None
    list_name: str | None
    masked_address: str
    unsubscribed: bool


def mask_address(address: str) -> str:
    """``ana@example.org`` -> ``a**@example.org`` (enough to recognise, not to harvest)."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"


def page_for(session: Session, meta: DeliveryMeta) -> UnsubscribePage | None:
    """The page's content for a delivery, or None when its subscriber is gone."""
    subscriber = session.get(Subscriber, meta.subscriber_id)
    campaign = session.get(Campaign, meta.campaign_id)
    if subscriber is None or campaign is None:
        return None
    lst = session.get(SubscriberList, meta.list_id) if meta.list_id is not None else None
    return UnsubscribePage(
        campaign_title=campaign.public_title,
        list_slug=lst.slug if lst else None,
        list_name=lst.name if lst else None,
        masked_address=mask_address(subscriber.email),
        unsubscribed=subscriber.status != SubscriberStatus.ACTIVE.value,
    )


def stop_sending(
    session: Session,
    subscriber_id: int,
    at: datetime,
    *,
    reason: str,
    reply: str,
    campaign_ids: Select[tuple[int]] | None = None,
) -> None:
    """Exit the subscriber's active enrolments and suppress their queued deliveries.

    All campaigns, or only those selected by ``campaign_ids`` (a ``select(Campaign.id)``).
    """
    enrolments = update(Enrolment).where(
        Enrolment.subscriber_id == subscriber_id, Enrolment.status == EnrolmentStatus.ACTIVE.value
    )
    deliveries = update(Delivery).where(
        Delivery.subscriber_id == subscriber_id, Delivery.state.in_(PENDING_DELIVERY_STATES)
    )
    if campaign_ids is not None:
        enrolments = enrolments.where(Enrolment.campaign_id.in_(campaign_ids))
        deliveries = deliveries.where(Delivery.campaign_id.in_(campaign_ids))
    session.execute(
        enrolments.values(status=EnrolmentStatus.EXITED.value, exit_reason=reason, next_send_at=None)
    )
    session.execute(deliveries.values(state=DeliveryState.SUPPRESSED.value, last_reply=reply, updated_at=at))


def unsubscribe_delivery(
    session: Session,
    meta: DeliveryMeta,
    at: datetime,
    *,
    source: ConsentSource = ConsentSource.ONE_CLICK,
    user_agent: str = "",
    ip_hash: str = "",
) -> bool:
    """Unsubscribe the recipient of a delivery inside ``session``'s transaction.

    Returns True when the subscriber's status changed (a repeat POST changes nothing and
    records nothing, so a retried RFC 8058 request is harmless).
    """
    changed = lifecycle.unsubscribe(
        session, meta.subscriber_id, source, at, detail=f"delivery {meta.delivery_id}"
    )
    stop_sending(session, meta.subscriber_id, at, reason=EXIT_REASON, reply="recipient unsubscribed")
    if changed:
        session.add(
            Event(
                uid=uuid.uuid4().hex,
                kind=EventKind.UNSUBSCRIBE.value,
                classification=Classification.HUMAN.value,
                delivery_id=meta.delivery_id if meta.track_identity else None,
                campaign_id=meta.campaign_id,
                email_id=meta.email_id,
                link_id=None,
                at=at,
                user_agent=user_agent[:500],
                ip_hash=ip_hash,
                reason=str(source),
                implied=False,
            )
        )
    return changed


def unsubscribe_committed(
    engine: Engine, meta: DeliveryMeta, at: datetime, *, user_agent: str, ip_hash: str
) -> bool:
    """Run :func:`unsubscribe_delivery` in its own write transaction; committed on return."""
    with write_transaction(engine) as session:
        return unsubscribe_delivery(session, meta, at, user_agent=user_agent, ip_hash=ip_hash)


def subscriber_status(session: Session, subscriber_id: int) -> str | None:
    """Current status of a subscriber (for tests and pages)."""
    return session.scalar(select(Subscriber.status).where(Subscriber.id == subscriber_id))
