"""The email preferences page behind an unsubscribe token: which lists, a pause, or leave everything.

Reached from the unsubscribe page with the same signed token. Leaving a list removes the
membership (kept in the consent history), exits the person's active enrolments in that list's
campaigns and suppresses their queued deliveries of those campaigns. Leaving everything is the
ordinary unsubscribe (:func:`tracking.unsubscribe.unsubscribe_delivery`). Lists are never
joined here: that needs a fresh confirmation through the subscribe form.

Pausing (:data:`PAUSE`, a month) stops every email until a date: the tick queues nothing for a
paused person (:mod:`delivery.enqueue`) and keeps their place in each series, and deliveries
already queued for them wait until the pause ends. They can end the pause early on this page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from delivery.models import Delivery
from subscribers import lifecycle
from subscribers.models import ConsentSource, ListMembership, Subscriber, SubscriberList, SubscriberStatus
from tracking.lookup import DeliveryMeta
from tracking.unsubscribe import PENDING_DELIVERY_STATES, mask_address, stop_sending, unsubscribe_delivery
from wildmail.core.db import write_transaction

LEFT_LIST_REASON = "left_list"
LEFT_LIST_REPLY = "recipient left the list"
PAUSE = timedelta(days=30)


@dataclass(frozen=True)
class ListChoice:
    """One list the subscriber is on."""

    list_id: int
    slug: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class PreferencesPage:
    """What the preferences page shows."""

    masked_address: str
    status: str
    lists: tuple[ListChoice, ...]
    paused_until: datetime | None = None

    @property
    def active(self) -> bool:
        """True while the person still gets email (the form can change something)."""
        return self.status == SubscriberStatus.ACTIVE.value


@dataclass(frozen=True)
class Outcome:
    """What a submitted form changed."""

    left: tuple[ListChoice, ...] = ()
    unsubscribed: bool = False
    paused_until: datetime | None = None
    resumed: bool = False


def _lists_of(session: Session, subscriber_id: int) -> tuple[ListChoice, ...]:
    rows = session.execute(
        select(SubscriberList.id, SubscriberList.slug, SubscriberList.name, SubscriberList.description)
        .join(ListMembership, ListMembership.list_id == SubscriberList.id)
        .where(ListMembership.subscriber_id == subscriber_id)
        .order_by(SubscriberList.name, SubscriberList.id)
    )
    return tuple(ListChoice(*row) for row in rows)


def preferences_for(session: Session, subscriber_id: int, now: datetime) -> PreferencesPage | None:
    """The page's content, or None when the subscriber is gone or was forgotten."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.forgotten_at is not None:
        return None
    paused = subscriber.paused_until
    return PreferencesPage(
        masked_address=mask_address(subscriber.email),
        status=subscriber.status,
        lists=_lists_of(session, subscriber_id),
        paused_until=paused if paused is not None and paused > now else None,
    )


def pause(session: Session, subscriber_id: int, at: datetime, length: timedelta = PAUSE) -> datetime:
    """Pause every email for ``length``; queued deliveries wait until then. Returns the end."""
    until = at + length
    lifecycle.pause(session, subscriber_id, until, ConsentSource.FORM, at)
    session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.state.in_(PENDING_DELIVERY_STATES))
        .values(next_attempt_at=until, updated_at=at)
    )
    return until


def resume(session: Session, subscriber_id: int, at: datetime) -> bool:
    """End the pause now; deliveries held by it go out at the worker's next step."""
    if not lifecycle.resume(session, subscriber_id, ConsentSource.FORM, at):
        return False
    session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.state.in_(PENDING_DELIVERY_STATES),
            Delivery.next_attempt_at > at,
        )
        .values(next_attempt_at=at, updated_at=at)
    )
    return True


def leave_lists(
    session: Session,
    subscriber_id: int,
    list_ids: Iterable[int],
    at: datetime,
    source: ConsentSource = ConsentSource.FORM,
) -> tuple[ListChoice, ...]:
    """Take the subscriber off ``list_ids`` and stop those lists' campaigns for them.

    Returns the lists actually left (ids they were not on are ignored).
    """
    wanted = set(list_ids)
    left = tuple(c for c in _lists_of(session, subscriber_id) if c.list_id in wanted)
    for choice in left:
        lifecycle.leave_list(session, subscriber_id, choice.list_id, source, at)
    if left:
        campaigns = select(Campaign.id).where(Campaign.list_id.in_([c.list_id for c in left]))
        stop_sending(
            session, subscriber_id, at, reason=LEFT_LIST_REASON, reply=LEFT_LIST_REPLY, campaign_ids=campaigns
        )
    return left


def keep_only(session: Session, subscriber_id: int, keep: Iterable[int], at: datetime) -> Outcome:
    """Apply the form's ticked lists: every list not in ``keep`` is left."""
    kept = set(keep)
    current = [c.list_id for c in _lists_of(session, subscriber_id)]
    return Outcome(left=leave_lists(session, subscriber_id, [i for i in current if i not in kept], at))


def save_committed(
    engine: Engine,
    meta: DeliveryMeta,
    at: datetime,
    *,
    keep: Iterable[int] = (),
    leave_everything: bool = False,
    pause_emails: bool = False,
    resume_emails: bool = False,
    user_agent: str = "",
    ip_hash: str = "",
) -> Outcome:
    """Apply a submitted form in one write transaction, committed when this returns."""
    with write_transaction(engine) as session:
        if pause_emails:
            return Outcome(paused_until=pause(session, meta.subscriber_id, at))
        if resume_emails:
            return Outcome(resumed=resume(session, meta.subscriber_id, at))
        if leave_everything:
            changed = unsubscribe_delivery(
                session, meta, at, source=ConsentSource.FORM, user_agent=user_agent, ip_hash=ip_hash
            )
            return Outcome(unsubscribed=changed)
        return keep_only(session, meta.subscriber_id, keep, at)
