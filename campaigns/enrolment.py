"""Who is in a campaign: bulk enrolment of list members, late joiners, and exits.

Everything here is set-based SQL (``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, ``UPDATE ...
WHERE``) so enrolling a million subscribers is a handful of statements, one per time zone.
All functions take an open connection/session inside the caller's transaction.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from campaigns.models import Campaign, CampaignStatus, Enrolment, EnrolmentStatus
from campaigns.timetable import Timetable, zone
from subscribers.models import ListMembership, Subscriber, SubscriberStatus
from subscribers.segments import segment_clause
from wildmail.core.sql import Conn, is_postgres, rowcount, upsert_ignore

ACTIVE_CAMPAIGN = (CampaignStatus.SCHEDULED.value, CampaignStatus.RUNNING.value)
EXIT_STATUSES = (
    SubscriberStatus.UNSUBSCRIBED.value,
    SubscriberStatus.BOUNCED.value,
    SubscriberStatus.COMPLAINED.value,
)


def timetable_of(campaign: Campaign) -> Timetable:
    """The campaign's timing rules as a :class:`Timetable`."""
    return Timetable(
        weekday=campaign.send_weekday,
        hour=campaign.send_hour,
        cadence_days=campaign.cadence_days,
        grace=timedelta(hours=campaign.grace_hours),
        min_gap=timedelta(hours=campaign.min_gap_hours),
    )


def _members(campaign: Campaign) -> Select[Any]:
    """Active members of the campaign's list, narrowed by the campaign's segment if it has one."""
    query = (
        select(Subscriber.id, Subscriber.timezone)
        .join(ListMembership, ListMembership.subscriber_id == Subscriber.id)
        .where(ListMembership.list_id == campaign.list_id, Subscriber.status == SubscriberStatus.ACTIVE.value)
    )
    return _apply_segment(query, campaign)


def _apply_segment(query: Select[Any], campaign: Campaign) -> Select[Any]:
    if not campaign.segment:
        return query
    return query.where(segment_clause(campaign.segment))


def _newcomers(campaign: Campaign) -> Select[Any]:
    """Active members of the campaign's audience not enrolled in it yet."""
    return _members(campaign).where(
        ~exists().where(and_(Enrolment.subscriber_id == Subscriber.id, Enrolment.campaign_id == campaign.id))
    )


def first_sends(
    conn: Conn, campaign: Campaign, now: datetime, first_send: datetime | None = None
) -> Counter[datetime]:
    """How many members :func:`enrol_members` would enrol now, by the time their email 1 is due."""
    if campaign.list_id is None:
        return Counter()
    tz_expr = func.coalesce(Subscriber.timezone, campaign.timezone)
    query = _newcomers(campaign).with_only_columns(tz_expr, func.count()).group_by(tz_expr)
    timetable = timetable_of(campaign)
    due: Counter[datetime] = Counter()
    for raw, n in conn.execute(query):
        tz = zone(raw, campaign.timezone)
        due[first_send or timetable.first_send(now, campaign.start_date, tz)] += n
    return due


def enrol_members(
    conn: Conn,
    campaign: Campaign,
    now: datetime,
    subscriber_id: int | None = None,
    *,
    first_send: datetime | None = None,
) -> int:
    """Enrol every active member not yet enrolled (or only ``subscriber_id``); returns rows added.

    Each new enrolment's first slot is ``first_send`` when given (a campaign started "now"),
    else computed per time zone: the first send slot at or after ``now`` (and not before the
    campaign's start day) in the subscriber's zone, else the campaign's. Broadcasts and drips
    share this rule; they differ in how far ``now`` is from the start day for people enrolled at
    scheduling time (none) and later (late joiners start at 1).
    """
    if campaign.list_id is None:
        return 0
    members = _newcomers(campaign)
    if subscriber_id is not None:
        members = members.where(Subscriber.id == subscriber_id)
    tz_expr = func.coalesce(Subscriber.timezone, campaign.timezone)
    zones = list(conn.execute(members.with_only_columns(tz_expr).distinct()).scalars())
    timetable = timetable_of(campaign)
    added = 0
    postgres = is_postgres(conn)
    if postgres and zones:
        # The anti-join reads the table being inserted into: a nested loop over a seq scan of it
        # (chosen when statistics say it is empty) is quadratic. Hash joins keep it linear.
        conn.execute(text("SET LOCAL enable_nestloop = off"))
    for raw in zones:
        tz = zone(raw, campaign.timezone)
        first = first_send or timetable.first_send(now, campaign.start_date, tz)
        rows = members.with_only_columns(
            Subscriber.id,
            literal(campaign.id),
            literal(1),
            literal(first, Enrolment.next_send_at.type),
            literal(EnrolmentStatus.ACTIVE.value),
            literal(""),
            literal(False),
            literal(now, Enrolment.created_at.type),
            literal(tz.key),
        ).where(tz_expr == raw)
        # In id order, so the tick later reads enrolments in id order too: its deliveries then
        # go to the end of the (subscriber, email) index and lock subscribers page by page.
        rows = rows.order_by(Subscriber.id)
        stmt = upsert_ignore(conn, Enrolment.__table__).from_select(
            [
                "subscriber_id",
                "campaign_id",
                "next_position",
                "next_send_at",
                "status",
                "exit_reason",
                "donation_clicked",
                "created_at",
                "timezone",
            ],
            rows,
        )
        added += rowcount(conn.execute(stmt))
    if postgres and zones:
        conn.execute(text("SET LOCAL enable_nestloop = on"))
    return added


def inactive_members(campaign_id: int) -> Select[Any]:
    """Subscribers sunset on the campaign's list (``ListMembership.inactive_at``, set by
    ``tracking.sunset``): the tick neither queues nor advances them, like a pause."""
    list_id = select(Campaign.list_id).where(Campaign.id == campaign_id).scalar_subquery()
    return select(ListMembership.subscriber_id).where(
        ListMembership.list_id == list_id, ListMembership.inactive_at.is_not(None)
    )


def enrol_on_activation(session: Session, subscriber: Subscriber, list_id: int, at: datetime) -> None:
    """Enrol a newly active subscriber in the list's scheduled and running campaigns at once.

    Registered with :mod:`subscribers.events` by :func:`wildmail.runtime.startup.wire_hooks`
    (subscribers cannot import campaigns); the tick's
    :func:`enrol_late_joiners` would catch them too, this only saves waiting for it.
    """
    query = select(Campaign).where(Campaign.list_id == list_id, Campaign.status.in_(ACTIVE_CAMPAIGN))
    for campaign in session.execute(query).scalars().all():
        enrol_members(session, campaign, at, subscriber.id)


def enrol_late_joiners(conn: Conn, now: datetime) -> int:
    """Enrol new active list members into every scheduled or running campaign."""
    campaigns = conn.execute(select(Campaign).where(Campaign.status.in_(ACTIVE_CAMPAIGN))).scalars().all()
    return sum(enrol_members(conn, c, now) for c in campaigns)


def exit_departed(conn: Conn, now: datetime) -> int:
    """End active enrolments of subscribers who unsubscribed, bounced or complained."""
    departed = select(Subscriber.status).where(Subscriber.id == Enrolment.subscriber_id).scalar_subquery()
    stmt = (
        update(Enrolment)
        .where(
            Enrolment.status == EnrolmentStatus.ACTIVE.value,
            Enrolment.subscriber_id.in_(select(Subscriber.id).where(Subscriber.status.in_(EXIT_STATUSES))),
        )
        .values(status=EnrolmentStatus.EXITED.value, exit_reason=departed, next_send_at=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(conn.execute(stmt))
