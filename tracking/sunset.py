"""Sunset and re-engagement: stop mailing members who never read, after asking them once.

A list's policy (``SubscriberList.sunset_after`` = K, 0 = off; ``sunset_wait_days``;
``sunset_unknown``) drives one small state machine per member and list (``Reengagement`` rows):

* **chosen** (``due``): K deliveries from the list's series in a row, each at least
  :data:`SILENT_AFTER` old, with no human open or click since the person's last human engagement
  or their last "keep" (opens and clicks are folded by :mod:`tracking.engagement`). People with
  machine opens since then (Apple's privacy proxy and the like: reading *unknown*) get a row in
  state ``unknown`` instead, and keep receiving mail, unless the list sets ``sunset_unknown``.
* **asked**: the re-engagement email went out (:func:`send_due`), with a keep link that opens a
  page whose button POSTs (mail scanners fetch links with GET); the answer is due within
  ``sunset_wait_days``.
* **kept**: the button was pressed; the count starts again from then.
* **inactive**: no answer in time: ``ListMembership.inactive_at`` is set and the tick queues
  nothing for them from the list's series (``delivery.enqueue``), like a pause.
* **reactivated**: any human open or click (or a later keep) ends the episode and clears
  ``inactive_at``; the tick then reschedules their series from the next slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from delivery.models import Delivery
from subscribers.lifecycle import is_suppressed
from subscribers.models import ListMembership, Subscriber, SubscriberList, SubscriberStatus
from templates import EMAIL_DIR
from tracking.engagement_models import Reengagement, ReengagementState, SendTimeProfile
from wildmail.core import signing
from wildmail.core.db import write_transaction
from wildmail.core.message_ids import one_off_message_id, sender_domain
from wildmail.core.settings import Settings
from wildmail.core.store import Store

SILENT_AFTER = timedelta(days=2)  # a delivery counts as unanswered once it is this old
DELIVERED = ("sent", "unknown")
KEEP_PURPOSE = "keep-subscription"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
S = ReengagementState
OPEN_STATES = (S.DUE.value, S.ASKED.value, S.INACTIVE.value, S.UNKNOWN.value)

Send = Callable[[EmailMessage], None]
_env = ImmutableSandboxedEnvironment(
    loader=FileSystemLoader(str(EMAIL_DIR)),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    keep_trailing_newline=True,
)


@dataclass
class SweepReport:
    """What one sweep did (rows)."""

    chosen: int = 0
    unknown: int = 0
    inactive: int = 0


class PolicyError(ValueError):
    """A sunset setting that cannot be used (the message names it)."""


def set_policy(
    lst: SubscriberList,
    *,
    after: int | None = None,
    wait_days: int | None = None,
    unknown: bool | None = None,
) -> None:
    """Change a list's sunset policy (``after`` 0 switches it off)."""
    if after is not None:
        if after < 0 or after == 1:
            raise PolicyError(f"--after {after}: give 0 (off) or at least 2 emails")
        lst.sunset_after = after
    if wait_days is not None:
        if wait_days < 1:
            raise PolicyError(f"--wait-days {wait_days}: give at least 1 day")
        lst.sunset_wait_days = wait_days
    if unknown is not None:
        lst.sunset_unknown = unknown


def configure_list(
    store: Store,
    slug: str,
    *,
    after: int | None = None,
    wait_days: int | None = None,
    unknown: bool | None = None,
) -> SubscriberList:
    """The use case behind ``wildmail engagement sunset`` and the dashboard's list form."""
    with write_transaction(store.engine) as s:
        lst = s.scalar(select(SubscriberList).where(SubscriberList.slug == slug))
        if lst is None:
            raise PolicyError(f"no list named {slug!r}")
        set_policy(lst, after=after, wait_days=wait_days, unknown=unknown)
        s.flush()
        s.expunge(lst)
    return lst


def _silent_counts(s: Session, lst: SubscriberList, now: datetime) -> list[tuple[int, int, bool]]:
    """(subscriber, silent deliveries, reading unknown) for members at or past the threshold."""
    profile = SendTimeProfile
    answered = exists().where(
        Reengagement.subscriber_id == Delivery.subscriber_id,
        Reengagement.list_id == lst.id,
        Reengagement.state.in_((S.KEPT.value, S.REACTIVATED.value)),
        Reengagement.closed_at >= Delivery.sent_at,
    )
    episode = exists().where(
        Reengagement.subscriber_id == Delivery.subscriber_id,
        Reengagement.list_id == lst.id,
        Reengagement.state.in_(OPEN_STATES),
    )
    member = exists().where(
        ListMembership.subscriber_id == Delivery.subscriber_id,
        ListMembership.list_id == lst.id,
        ListMembership.inactive_at.is_(None),
    )
    machine_since = and_(
        profile.last_machine_at.is_not(None),
        profile.last_machine_at > func.coalesce(profile.last_human_at, EPOCH),
    )
    query = (
        select(Delivery.subscriber_id, func.count(), func.max(case((machine_since, 1), else_=0)))
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .outerjoin(profile, profile.subscriber_id == Delivery.subscriber_id)
        .where(
            Campaign.list_id == lst.id,
            Delivery.state.in_(DELIVERED),
            Delivery.sent_at <= now - SILENT_AFTER,
            or_(profile.last_human_at.is_(None), Delivery.sent_at > profile.last_human_at),
            Subscriber.status == SubscriberStatus.ACTIVE.value,
            member,
            ~answered,
            ~episode,
        )
        .group_by(Delivery.subscriber_id)
        .having(func.count() >= lst.sunset_after)
    )
    return [(sid, n, bool(unknown)) for sid, n, unknown in s.execute(query)]


def _latest_campaign(s: Session, subscriber_id: int, list_id: int) -> int:
    return int(
        s.scalar(
            select(Delivery.campaign_id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(
                Delivery.subscriber_id == subscriber_id,
                Campaign.list_id == list_id,
                Delivery.sent_at.is_not(None),
            )
            .order_by(Delivery.sent_at.desc())
            .limit(1)
        )
        or 0
    )


def _expire(s: Session, lst: SubscriberList, now: datetime) -> int:
    late = s.scalars(
        select(Reengagement).where(
            Reengagement.list_id == lst.id, Reengagement.state == S.ASKED.value, Reengagement.deadline <= now
        )
    ).all()
    for row in late:
        row.state = S.INACTIVE.value
        s.execute(
            update(ListMembership)
            .where(ListMembership.subscriber_id == row.subscriber_id, ListMembership.list_id == lst.id)
            .values(inactive_at=now)
        )
    return len(late)


def sweep(s: Session, now: datetime) -> SweepReport:
    """Apply every list's policy once: choose silent members, make late answers inactive."""
    report = SweepReport()
    for lst in s.scalars(
        select(SubscriberList).where(SubscriberList.sunset_after > 0).order_by(SubscriberList.id)
    ):
        report.inactive += _expire(s, lst, now)
        for sid, silent, unknown in _silent_counts(s, lst, now):
            skip = unknown and not lst.sunset_unknown
            s.add(
                Reengagement(
                    subscriber_id=sid,
                    list_id=lst.id,
                    campaign_id=_latest_campaign(s, sid, lst.id),
                    state=(S.UNKNOWN if skip else S.DUE).value,
                    silent=silent,
                    created_at=now,
                )
            )
            if skip:
                report.unknown += 1
            else:
                report.chosen += 1
        s.flush()
    return report


def keep_url(settings: Settings, reengagement_id: int) -> str:
    """The signed link of the keep page for one re-engagement email."""
    token = signing.sign_ints(settings.secret, KEEP_PURPOSE, reengagement_id)
    return f"{settings.base_url.rstrip('/')}/keep/{token}"


def read_keep_token(secret: bytes, token: str) -> int:
    """The re-engagement id in a keep token; :class:`wildmail.core.signing.BadToken` otherwise."""
    (rid,) = signing.verify_ints(secret, KEEP_PURPOSE, token, 1)
    return rid


def build_message(
    settings: Settings, sub: Subscriber, lst: SubscriberList, url: str, wait_days: int, at: datetime
) -> EmailMessage:
    """The re-engagement email: text + HTML from ``templates/email/reengage.*.j2``."""
    values = {
        "name": sub.name,
        "list_name": lst.name,
        "keep_url": url,
        "wait_days": wait_days,
        "organisation": settings.organisation,
        "postal_address": settings.postal_address,
    }
    msg = EmailMessage()
    msg["Subject"] = f"Do you still want {lst.name}?"
    msg["From"] = Address(settings.sender_name, addr_spec=settings.sender_address)
    msg["To"] = Address(sub.name, addr_spec=sub.email) if sub.email.isascii() else sub.email
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = one_off_message_id("reengage", sender_domain(settings.sender_address))
    msg.set_content(_env.get_template("reengage.txt.j2").render(values))
    msg.add_alternative(_env.get_template("reengage.html.j2").render(values), subtype="html")
    return msg


def send_due(store: Store, settings: Settings, send: Send) -> int:
    """Send every chosen member their re-engagement email, one commit each; returns how many.

    Someone who left, is no longer active or is suppressed meanwhile is dropped without mail.
    ``send`` raising (the relay is down) leaves the rest ``due`` for the next run.
    """
    sent = 0
    with store.session() as s:
        due = s.scalars(
            select(Reengagement.id).where(Reengagement.state == S.DUE.value).order_by(Reengagement.id)
        ).all()
    for rid in due:
        with write_transaction(store.engine) as s:
            row = s.get(Reengagement, rid)
            if row is None or row.state != S.DUE.value:
                continue
            now = store.clock.now()
            sub, lst = s.get(Subscriber, row.subscriber_id), s.get(SubscriberList, row.list_id)
            member = s.get(ListMembership, (row.subscriber_id, row.list_id))
            if (
                sub is None
                or lst is None
                or member is None
                or sub.status != SubscriberStatus.ACTIVE.value
                or is_suppressed(s, sub.email)
                or not lst.sunset_after  # the policy was switched off meanwhile
            ):
                s.delete(row)  # left, unsubscribed or suppressed meanwhile: nothing to ask any more
                continue
            msg = build_message(settings, sub, lst, keep_url(settings, rid), lst.sunset_wait_days, now)
            send(msg)
            row.state, row.asked_at = S.ASKED.value, now
            row.deadline = now + timedelta(days=lst.sunset_wait_days)
            row.message_id = str(msg["Message-ID"])
            sent += 1
    return sent


def keep(s: Session, reengagement_id: int, now: datetime) -> bool:
    """The keep button: end the episode and make the person active on the list again.
    False when the link is for an episode that no longer exists."""
    row = s.get(Reengagement, reengagement_id)
    if row is None:
        return False
    if row.state in OPEN_STATES:
        row.state, row.closed_at = S.KEPT.value, now
    s.execute(
        update(ListMembership)
        .where(ListMembership.subscriber_id == row.subscriber_id, ListMembership.list_id == row.list_id)
        .values(inactive_at=None)
    )
    return True


def list_name_of(s: Session, reengagement_id: int) -> str | None:
    """The list name a keep link is about (for the page), None when gone."""
    row = s.get(Reengagement, reengagement_id)
    lst = s.get(SubscriberList, row.list_id) if row is not None else None
    return lst.name if lst is not None else None


def reactivate(s: Session, engaged: dict[int, datetime], now: datetime) -> int:
    """Close the open episodes of people who opened or clicked as humans (at the given times)
    after the episode began, and clear their ``inactive_at`` on those lists."""
    if not engaged:
        return 0
    rows = s.scalars(
        select(Reengagement).where(
            Reengagement.subscriber_id.in_(engaged.keys()), Reengagement.state.in_(OPEN_STATES)
        )
    ).all()
    done = 0
    for row in rows:
        at = engaged[row.subscriber_id]
        if at < row.created_at:
            continue
        row.state, row.closed_at = S.REACTIVATED.value, at
        s.execute(
            update(ListMembership)
            .where(ListMembership.subscriber_id == row.subscriber_id, ListMembership.list_id == row.list_id)
            .values(inactive_at=None)
        )
        done += 1
    return done
