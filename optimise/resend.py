"""Resend an email to its non-openers, once, after N days, with another subject.

A *non-opener* is a recipient of the email's first delivery with no human open and no human
click after ``after_days`` days. Someone whose only opens were machine opens (Apple's privacy
proxy, a gateway fetching images on arrival) may well have read it: they are *unknown*, not
non-openers, and get no resend unless the rule's ``include_unknown`` says so. Nobody who
unsubscribed, complained, bounced, left the list, paused their emails or left the series gets
one, and the frequency cap applies as for the series itself (another series' email within the
list's cap holds the resend back; it is tried again on the following ticks until the window
closes). A paused campaign (by hand or by the circuit breaker) queues no resend; the claim
checks suppression again before sending.

Each resend is its own delivery (``kind`` ``resend``; unique per subscriber, email and kind,
so a second tick queues nothing twice), built from the rule's subject variant.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, exists, func, literal, literal_column, select
from sqlalchemy.orm import Session, aliased

from campaigns.compiling import compile_variant
from campaigns.enrolment import ACTIVE_CAMPAIGN
from campaigns.models import Campaign, Email, Enrolment, EnrolmentStatus
from campaigns.variant_models import ResendRule, SubjectVariant, VariantRole
from delivery.enqueue import CAP_SLACK, frequency_cap
from delivery.models import Delivery, DeliveryKind, DeliveryState, SmtpPhase
from optimise.errors import OptimiseError
from optimise.subject_tests import email_of, parse_variant
from stats import definitions as d
from stats.models import StatsMark
from subscribers.models import ListMembership, Subscriber, SubscriberStatus
from wildmail.core.message_ids import RESEND_MARK, MessageIdKey, delivery_id_bounds
from wildmail.core.settings import Settings
from wildmail.core.sql import rowcount, upsert_ignore

HUMAN = d.HUMAN_OPEN | d.HUMAN_CLICK
DEPARTED = d.UNSUBSCRIBE | d.COMPLAINT | d.BOUNCE | d.SOFT_BOUNCE | d.BLOCKED
MAX_AFTER_DAYS = 60


def set_resend(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    position: int,
    variant: str,
    *,
    after_days: int,
    include_unknown: bool = False,
    now: datetime,
) -> ResendRule:
    """Resend email ``position`` after ``after_days`` to its non-openers with ``variant``
    (``"subject|preheader"``); replaces the email's earlier rule."""
    email = email_of(campaign, position)
    subject, preheader = parse_variant(variant)
    if not 1 <= after_days <= MAX_AFTER_DAYS:
        raise OptimiseError(f"--after-days {after_days} must be 1 to {MAX_AFTER_DAYS}")
    if after_days >= campaign.cadence_days:
        raise OptimiseError(
            f"--after-days {after_days} must be shorter than the series' cadence"
            f" ({campaign.cadence_days} days), or the resend would meet the next email"
        )
    if subject == email.subject:
        raise OptimiseError("the resend needs another subject than the email's own")
    found = session.scalar(
        select(SubjectVariant).where(
            SubjectVariant.email_id == email.id, SubjectVariant.role == VariantRole.RESEND.value
        )
    )
    if found is None:
        found = SubjectVariant(email_id=email.id, role=VariantRole.RESEND.value, position=1, subject="")
        session.add(found)
    found.subject, found.preheader = subject, preheader
    try:
        compile_variant(campaign, email, found, settings, now)
    except ValueError as exc:
        raise OptimiseError(str(exc)) from None
    session.flush()
    rule = session.get(ResendRule, email.id)
    if rule is None:
        rule = ResendRule(email_id=email.id, campaign_id=campaign.id, created_at=now)
        session.add(rule)
    rule.variant_id, rule.after_days, rule.include_unknown = found.id, after_days, include_unknown
    session.flush()
    return rule


def remove_resend(session: Session, campaign: Campaign, position: int) -> None:
    """Stop resending email ``position`` (resends already queued still go)."""
    email = email_of(campaign, position)
    rule = session.get(ResendRule, email.id)
    if rule is None:
        raise OptimiseError(f"email {position} of {campaign.slug!r} has no resend")
    session.delete(rule)


def _left_out(rule: ResendRule) -> int:
    """Marks that keep a person from the resend."""
    return HUMAN | DEPARTED | (0 if rule.include_unknown else d.MACHINE_OPEN)


def _message_id_sql(ids: MessageIdKey, campaign_id: int, first: Any) -> Any:
    head, tail = delivery_id_bounds(ids.secret, ids.domain, campaign_id)
    return (
        literal(head)
        + cast(first.position, String)
        + literal(".")
        + cast(first.subscriber_id, String)
        + literal(RESEND_MARK)
        + literal(tail)
    )


def _queue_rule(s: Session, rule: ResendRule, c: Campaign, now: datetime, ids: MessageIdKey) -> int:
    first = aliased(Delivery)
    due = now - timedelta(days=rule.after_days)
    window = timedelta(hours=max(1, c.grace_hours))
    marked = exists().where(StatsMark.delivery_id == first.id, StatsMark.marks.op("&")(_left_out(rule)) != 0)
    conditions = [
        first.email_id == rule.email_id,
        first.kind == DeliveryKind.FIRST.value,
        first.state == DeliveryState.SENT.value,
        first.sent_at <= due,
        first.sent_at > due - window,
        ~marked,
        first.subscriber_id.in_(
            select(Subscriber.id).where(
                Subscriber.status == SubscriberStatus.ACTIVE.value,
                (Subscriber.paused_until.is_(None)) | (Subscriber.paused_until <= now),
            )
        ),
        ~exists().where(
            Enrolment.subscriber_id == first.subscriber_id,
            Enrolment.campaign_id == c.id,
            Enrolment.status == EnrolmentStatus.EXITED.value,
        ),
    ]
    if c.list_id is not None:
        conditions.append(
            exists().where(
                ListMembership.subscriber_id == first.subscriber_id, ListMembership.list_id == c.list_id
            )
        )
    cap = frequency_cap(s, c)
    if cap is not None:
        other = aliased(Delivery)
        conditions.append(
            ~exists().where(
                other.subscriber_id == first.subscriber_id,
                other.campaign_id != c.id,
                other.queued_at > now - cap + CAP_SLACK,
            )
        )
    rows = select(
        first.subscriber_id,
        first.email_id,
        first.campaign_id,
        first.position,
        literal(DeliveryState.QUEUED.value),
        literal(SmtpPhase.NONE.value),
        literal(0),
        literal(now, Delivery.next_attempt_at.type),
        _message_id_sql(ids, c.id, first),
        literal(""),
        literal(now, Delivery.queued_at.type),
        literal(now, Delivery.updated_at.type),
        literal(DeliveryKind.RESEND.value),
        literal(rule.variant_id, Integer),
    ).where(*conditions)
    columns = [
        *("subscriber_id", "email_id", "campaign_id", "position", "state", "smtp_phase", "attempts"),
        *("next_attempt_at", "message_id", "last_reply", "queued_at", "updated_at", "kind", "variant_id"),
    ]
    stmt = upsert_ignore(s, Delivery.__table__).execution_options(preserve_rowcount=True)
    return rowcount(s.execute(stmt.from_select(columns, rows)))


def queue_resends(s: Session, now: datetime, ids: MessageIdKey) -> int:
    """Queue every resend that is due (inside ``s``'s write transaction); returns how many.
    Reads the rollup's marks: refresh it first."""
    rules = s.execute(
        select(ResendRule, Campaign)
        .join(Campaign, Campaign.id == ResendRule.campaign_id)
        .where(Campaign.status.in_(ACTIVE_CAMPAIGN))
    ).tuples()
    return sum(_queue_rule(s, rule, c, now, ids) for rule, c in rules.all())


@dataclass(frozen=True)
class ResendFigures:
    """Who a resend went to and who was left out, and why (first deliveries sent)."""

    position: int
    subject: str
    preheader: str
    after_days: int
    include_unknown: bool
    sent: int  # first deliveries sent
    waiting: int  # sent fewer than after_days ago
    engaged: int  # opened or clicked as a person: not non-openers
    unknown: int  # machine opens only (left out unless include_unknown)
    departed: int  # unsubscribed, complained, bounced or no longer active: left out
    resent: int  # resends queued or sent
    not_resent: int  # non-openers past the day without a resend (frequency cap, paused, window passed)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def figures(session: Session, campaign_id: int, now: datetime) -> list[ResendFigures]:
    """The resend figures of each email of the campaign that has a rule (refresh the rollup first)."""
    out = []
    q = (
        select(ResendRule, Email.position, SubjectVariant.subject, SubjectVariant.preheader)
        .join(Email, Email.id == ResendRule.email_id)
        .join(SubjectVariant, SubjectVariant.id == ResendRule.variant_id)
        .where(ResendRule.campaign_id == campaign_id)
        .order_by(Email.position)
    )
    for rule, position, subject, preheader in session.execute(q).tuples():
        first, again = aliased(Delivery), aliased(Delivery)
        due = now - timedelta(days=rule.after_days)
        bits = func.coalesce(StatsMark.marks, 0).op("&")(HUMAN | DEPARTED | d.MACHINE_OPEN)
        grouped = (
            select(
                case((first.sent_at <= due, 1), else_=0),
                bits,
                Subscriber.status,
                case((again.id.is_(None), 0), else_=1),
                func.count(),
            )
            .select_from(first)
            .join(Subscriber, Subscriber.id == first.subscriber_id)
            .outerjoin(StatsMark, StatsMark.delivery_id == first.id)
            .outerjoin(
                again,
                and_(
                    again.subscriber_id == first.subscriber_id,
                    again.email_id == first.email_id,
                    again.kind == DeliveryKind.RESEND.value,
                ),
            )
            .where(
                first.email_id == rule.email_id,
                first.kind == DeliveryKind.FIRST.value,
                first.state == DeliveryState.SENT.value,
            )
            # By position: PostgreSQL does not see two copies of an expression with a bound
            # parameter (``due``) as the same grouping expression.
            .group_by(*(literal_column(str(i)) for i in range(1, 5)))
        )
        tally: Counter[str] = Counter()
        for is_due, marks, status, resent, n in session.execute(grouped):
            tally["sent"] += n
            if resent:
                tally["resent"] += n
            elif not is_due:
                tally["waiting"] += n
            elif marks & HUMAN:
                tally["engaged"] += n
            elif marks & DEPARTED or status != SubscriberStatus.ACTIVE.value:
                tally["departed"] += n
            elif marks & d.MACHINE_OPEN and not rule.include_unknown:
                tally["unknown"] += n
            else:
                tally["not_resent"] += n
        out.append(
            ResendFigures(
                position,
                subject,
                preheader,
                rule.after_days,
                rule.include_unknown,
                *(
                    tally[k]
                    for k in ("sent", "waiting", "engaged", "unknown", "departed", "resent", "not_resent")
                ),
            )
        )
    return out
