"""The tick: one idempotent step that turns due enrolments into queued ``Delivery`` rows.

Due enrolments are grouped by (campaign, time zone, due slot[, last send]); the next slot is
computed once per group in Python (DST-correct) and applied to the whole group with one
``INSERT ... SELECT`` per email position and one ``UPDATE``. Everything runs in one write
transaction, so a crash leaves either the whole step or nothing, and running the tick twice
queues nothing twice (the unique (subscriber, email, kind) constraint backs this up).
An email under a subject test gets its variant in the same statement (:func:`variant_sql`).

The insert skips rows that already exist (``ON CONFLICT DO NOTHING``) only when some delivery
of that email exists already; an email nobody has been queued yet (every broadcast step, the
first cohort of a drip) takes a plain ``INSERT``, which on PostgreSQL spares a speculative
insertion per row (docs/performance.md, "Plain INSERT for a fresh email"). A duplicate there
could only come from a second tick running at once: it violates the unique constraint and
rolls that whole tick back, so nothing is ever queued twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, String, case, cast, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from campaigns.enrolment import (
    ACTIVE_CAMPAIGN,
    enrol_late_joiners,
    exit_departed,
    inactive_members,
    timetable_of,
)
from campaigns.models import Campaign, CampaignStatus, Email, Enrolment, EnrolmentStatus
from campaigns.timetable import next_slot, zone
from campaigns.variant_models import SubjectTest, SubjectTestStatus, SubjectVariant, VariantRole
from delivery.models import Delivery, DeliveryState, SmtpPhase
from subscribers.models import Subscriber, SubscriberList
from wildmail.core.db import write_transaction
from wildmail.core.message_ids import MessageIdKey, delivery_id_bounds
from wildmail.core.outbox import EventType, emit
from wildmail.core.signing import keyed_hash
from wildmail.core.sql import rowcount, upsert_ignore
from wildmail.core.store import Store

ACTIVE = EnrolmentStatus.ACTIVE.value


@dataclass
class TickReport:
    """What one tick did (all counts are rows)."""

    enrolled: int = 0
    exited: int = 0
    queued: int = 0
    advanced: int = 0
    rescheduled: int = 0
    held: int = 0  # postponed by the frequency cap (another series mailed them within it)
    finished: int = 0
    reaped: dict[str, int] = field(default_factory=dict)


def _message_id_sql(ids: MessageIdKey, campaign_id: int) -> Any:
    head, tail = delivery_id_bounds(ids.secret, ids.domain, campaign_id)
    return (
        literal(head)
        + cast(Enrolment.next_position, String)
        + literal(".")
        + cast(Enrolment.subscriber_id, String)
        + literal(tail)
    )


def _group(campaign_id: int, tz: str, due: datetime, now: datetime) -> list[Any]:
    # A person who paused their emails (preferences page) is neither queued nor advanced: their
    # enrolment stays due, is moved on by reschedule_overdue, and resumes after the pause.
    paused = select(Subscriber.id).where(Subscriber.paused_until > now)
    return [
        Enrolment.campaign_id == campaign_id,
        Enrolment.status == ACTIVE,
        Enrolment.timezone == tz,
        Enrolment.next_send_at == due,
        Enrolment.subscriber_id.not_in(paused),
        Enrolment.subscriber_id.not_in(inactive_members(campaign_id)),
    ]


def _queued_before(s: Session, campaign_id: int, position: int) -> bool:
    """Whether any delivery of this email exists (an index probe on (campaign, position, state))."""
    probe = exists().where(Delivery.campaign_id == campaign_id, Delivery.position == position)
    return bool(s.execute(select(probe)).scalar())


HASH_PRIME = 2_147_483_647  # 2**31 - 1: a square of anything below it fits a signed 64-bit integer


def _draw_keys(ids: MessageIdKey, test_id: int) -> tuple[int, int]:
    """Two secret per-test keys of the assignment hash (from the instance's secret)."""
    digest = keyed_hash(ids.secret, "subject-test", str(test_id))
    return int(digest[:8], 16) % HASH_PRIME, int(digest[8:16], 16) % HASH_PRIME


def variant_sql(s: Session, campaign_id: int, position: int, ids: MessageIdKey) -> Any:
    """The subject variant a new delivery of this email gets, as a SQL expression of the tick's
    ``INSERT ... SELECT``: NULL (the email's own subject) without a subject test; while a test
    runs, one of its variants picked by a keyed hash of (subscriber, test) computed by the
    database, so the insert stays one statement; once the test is decided, the winner.

    The hash: ``x = (subscriber * 48271 + k1) mod p``, then ``(x * x + k2) mod p mod n`` with
    ``p = 2**31 - 1`` and secret per-test keys; the square makes it non-linear in the id, so no
    run of ids (sign-up order) lines up with a variant, and a rerun (the demo, a test) is the same.
    """
    test = s.execute(
        select(SubjectTest.id, SubjectTest.status, SubjectTest.winner_variant_id)
        .join(Email, Email.id == SubjectTest.email_id)
        .where(Email.campaign_id == campaign_id, Email.position == position)
    ).first()
    if test is None:
        return literal(None, Integer)
    if test.status != SubjectTestStatus.RUNNING.value:
        return literal(test.winner_variant_id, Integer)
    variant_ids = s.scalars(
        select(SubjectVariant.id)
        .where(SubjectVariant.test_id == test.id, SubjectVariant.role == VariantRole.TEST.value)
        .order_by(SubjectVariant.position)
    ).all()
    if not variant_ids:
        return literal(None, Integer)
    k1, k2 = _draw_keys(ids, test.id)
    x = (cast(Enrolment.subscriber_id, BigInteger) * 48271 + k1) % HASH_PRIME
    draw = ((x * x + k2) % HASH_PRIME) % len(variant_ids)
    # The simple CASE form evaluates ``draw`` once per row.
    return case(
        {i: literal(v, Integer) for i, v in enumerate(variant_ids)},
        value=draw,
        else_=literal(variant_ids[0], Integer),
    )


def _queue_group(
    s: Session, c: Campaign, tz: str, due: datetime, position: int, now: datetime, ids: MessageIdKey
) -> int:
    rows = (
        select(
            Enrolment.subscriber_id,
            Email.id,
            Enrolment.campaign_id,
            Enrolment.next_position,
            literal(DeliveryState.QUEUED.value),
            literal(SmtpPhase.NONE.value),
            literal(0),
            literal(now, Delivery.next_attempt_at.type),
            _message_id_sql(ids, c.id),
            literal(""),
            literal(now, Delivery.queued_at.type),
            literal(now, Delivery.updated_at.type),
            variant_sql(s, c.id, position, ids),
        )
        .join(
            Email, (Email.campaign_id == Enrolment.campaign_id) & (Email.position == Enrolment.next_position)
        )
        .where(*_group(c.id, tz, due, now), Enrolment.next_position == position)
    )
    columns = [
        "subscriber_id",
        "email_id",
        "campaign_id",
        "position",
        "state",
        "smtp_phase",
        "attempts",
        "next_attempt_at",
        "message_id",
        "last_reply",
        "queued_at",
        "updated_at",
        "variant_id",
    ]
    fresh = not _queued_before(s, c.id, position)
    stmt = insert(Delivery) if fresh else upsert_ignore(s, Delivery.__table__)
    stmt = stmt.execution_options(preserve_rowcount=True)
    return rowcount(s.execute(stmt.from_select(columns, rows)))


def _advance_group(s: Session, c: Campaign, tz: str, due: datetime, now: datetime, last: int) -> int:
    following = timetable_of(c).following_send(due, now, zone(tz, c.timezone))
    done = Enrolment.next_position + 1 > last
    stmt = (
        update(Enrolment)
        .where(*_group(c.id, tz, due, now))
        .values(
            next_position=Enrolment.next_position + 1,
            last_sent_at=now,
            next_send_at=case((done, None), else_=literal(following, Enrolment.next_send_at.type)),
            status=case((done, EnrolmentStatus.FINISHED.value), else_=ACTIVE),
            held="",
        )
        .execution_options(synchronize_session=False)
    )
    return rowcount(s.execute(stmt))


def reschedule_overdue(s: Session, c: Campaign, now: datetime, *, before: datetime | None = None) -> int:
    """Move active enrolments due before ``before`` (default: beyond grace) to their next slot."""
    timetable = timetable_of(c)
    limit = before if before is not None else now - timetable.grace
    groups = s.execute(
        select(Enrolment.timezone, Enrolment.last_sent_at)
        .where(Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE, Enrolment.next_send_at < limit)
        .distinct()
    ).all()
    moved = 0
    for tz, last_sent in groups:
        new_slot = timetable.reschedule(now, last_sent, zone(tz, c.timezone))
        stmt = (
            update(Enrolment)
            .where(
                Enrolment.campaign_id == c.id,
                Enrolment.status == ACTIVE,
                Enrolment.next_send_at < limit,
                Enrolment.timezone == tz,
                Enrolment.last_sent_at.is_not_distinct_from(last_sent),
            )
            .values(next_send_at=new_slot)
            .execution_options(synchronize_session=False)
        )
        moved += rowcount(s.execute(stmt))
    return moved


HELD_BY_CAP = "frequency cap"
CAP_SLACK = timedelta(hours=1)
"""A weekly send queued a little after its slot (the tick's interval, a slow tick) still frees the
same slot a cadence later: the cap counts from the queue time less this."""


def frequency_cap(s: Session, c: Campaign) -> timedelta | None:
    """The cap of the campaign's list (None: no cap, or no other series that could collide)."""
    days = s.execute(select(SubscriberList.frequency_cap_days).where(SubscriberList.id == c.list_id)).scalar()
    if not days:
        return None
    others = select(Campaign.id).where(Campaign.id != c.id, Campaign.status != CampaignStatus.DRAFT.value)
    if s.execute(select(exists(others))).scalar() is not True:
        return None  # one series alone keeps its own cadence
    return timedelta(days=days)


def _hold_capped(s: Session, c: Campaign, tz: str, due: datetime, now: datetime, cap: timedelta) -> int:
    """Postpone this group's people who got another series' email within ``cap`` to the first
    slot of this campaign after the cap has passed; returns how many were postponed."""
    recent = (
        select(Delivery.subscriber_id, func.max(Delivery.queued_at).label("last"))
        .where(
            Delivery.subscriber_id.in_(select(Enrolment.subscriber_id).where(*_group(c.id, tz, due, now))),
            Delivery.campaign_id != c.id,
            Delivery.queued_at > now - cap + CAP_SLACK,
        )
        .group_by(Delivery.subscriber_id)
        .subquery()
    )
    timetable, local = timetable_of(c), zone(tz, c.timezone)
    held = 0
    for last in s.execute(select(recent.c.last).distinct()).scalars().all():
        slot = next_slot(last + cap - CAP_SLACK, timetable.slot_weekday, timetable.hour, local)
        stmt = (
            update(Enrolment)
            .where(
                *_group(c.id, tz, due, now),
                Enrolment.subscriber_id.in_(select(recent.c.subscriber_id).where(recent.c.last == last)),
            )
            .values(next_send_at=slot, held=HELD_BY_CAP)
            .execution_options(synchronize_session=False)
        )
        held += rowcount(s.execute(stmt))
    return held


def enqueue_campaign(s: Session, c: Campaign, now: datetime, ids: MessageIdKey, report: TickReport) -> None:
    """Queue this campaign's due emails and advance its enrolments (inside ``s``'s transaction)."""
    # Ticks running at once by mistake take turns per campaign (PostgreSQL; SQLite's write
    # transaction already serialises them), so the later one sees the step done and queues
    # nothing. NO KEY UPDATE: enrolling subscribers meanwhile (a foreign-key share lock) is not held up.
    s.execute(select(Campaign.id).where(Campaign.id == c.id).with_for_update(key_share=True))
    last = s.execute(select(func.max(Email.position)).where(Email.campaign_id == c.id)).scalar() or 0
    # One pass over the campaign's active enrolments says which of the steps below have work;
    # no index covers the columns they test (see ``Enrolment``), so each step is a scan.
    furthest, earliest = s.execute(
        select(func.max(Enrolment.next_position), func.min(Enrolment.next_send_at)).where(
            Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE
        )
    ).one()
    if furthest is not None and furthest > last:
        finished = (
            update(Enrolment)
            .where(Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE, Enrolment.next_position > last)
            .values(status=EnrolmentStatus.FINISHED.value, next_send_at=None)
            .execution_options(synchronize_session=False)
        )
        done = rowcount(s.execute(finished))
        report.finished += done
        if done:
            _announce_if_finished(s, c, now)
    if earliest is None or earliest > now:
        return
    if earliest < now - timetable_of(c).grace:
        report.rescheduled += reschedule_overdue(s, c, now)
    due_groups = s.execute(
        select(Enrolment.timezone, Enrolment.next_send_at, Enrolment.next_position)
        .where(Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE, Enrolment.next_send_at <= now)
        .distinct()
    ).all()
    groups: dict[tuple[str, datetime], list[int]] = {}
    for tz, due, position in due_groups:
        groups.setdefault((tz, due), []).append(position)
    cap = frequency_cap(s, c) if groups else None
    advanced = 0
    for (tz, due), positions in groups.items():
        if cap is not None:
            report.held += _hold_capped(s, c, tz, due, now, cap)
        for position in positions:
            report.queued += _queue_group(s, c, tz, due, position, now, ids)
        advanced += _advance_group(s, c, tz, due, now, last)
    report.advanced += advanced
    if due_groups and c.status == CampaignStatus.SCHEDULED.value:
        c.status = CampaignStatus.RUNNING.value
        c.updated_at = now
        data = {"campaign_id": c.id, "slug": c.slug, "title": c.title, "status": c.status}
        emit(s, EventType.CAMPAIGN_STARTED, data, now)
    if advanced:
        _announce_if_finished(s, c, now)


def _announce_if_finished(s: Session, c: Campaign, now: datetime) -> None:
    """``campaign.finished`` when this tick queued the last email for the last active reader (a
    drip campaign that enrols newcomers later can finish again, and says so again)."""
    active = select(Enrolment.id).where(Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE).limit(1)
    if s.scalar(active) is None:
        data = {"campaign_id": c.id, "slug": c.slug, "title": c.title, "status": c.status}
        emit(s, EventType.CAMPAIGN_FINISHED, data, now)


def tick(store: Store, ids: MessageIdKey) -> TickReport:
    """Enrol late joiners, apply exits, queue what is due, advance timetables, reap leases
    (``ids``: the key the queued deliveries' Message-IDs are made with)."""
    from delivery.claim import reap

    now = store.clock.now()
    report = TickReport()
    with write_transaction(store.engine) as s:
        report.enrolled = enrol_late_joiners(s, now)
        report.exited = exit_departed(s, now)
        active = select(Campaign).where(Campaign.status.in_(ACTIVE_CAMPAIGN)).order_by(Campaign.id)
        for c in s.execute(active).scalars().all():
            enqueue_campaign(s, c, now, ids, report)
    report.reaped = reap(store)
    return report
