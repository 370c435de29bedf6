"""Campaign operations used by the CLI and the dashboard: schedule, pause, resume, status, test send."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from campaigns.enrolment import enrol_members
from campaigns.models import Campaign, CampaignStatus, Email, Enrolment, EnrolmentStatus
from delivery.compose import build_message
from delivery.enqueue import reschedule_overdue
from delivery.message import Sender, mailbox
from delivery.models import Delivery
from delivery.transport import Envelope, Transport
from wildmail.core.context import AppContext
from wildmail.core.db import is_sqlite, write_transaction


class CampaignError(ValueError):
    """The operation does not apply to this campaign (the message says why)."""


def _get(s: Session, name: str) -> Campaign:
    """The campaign whose slug is ``name`` (or the slug made from ``name``)."""
    from campaigns.service import slugify

    for slug in dict.fromkeys((name.strip(), slugify(name))):
        campaign = s.execute(select(Campaign).where(Campaign.slug == slug)).scalar_one_or_none()
        if campaign is not None:
            return campaign
    raise CampaignError(f"no campaign named {name!r} (see 'wildmail campaign list')")


def schedule_campaign(ctx: AppContext, slug: str) -> int:
    """Schedule a draft (or paused-before-start) campaign and enrol its list; returns enrolled count."""
    now = ctx.clock.now()
    if not is_sqlite(ctx.engine):
        # Fresh, committed statistics after a bulk import, so the bulk enrolment gets hash joins
        # (statistics gathered inside the enrolling transaction were not used by the planner).
        with ctx.engine.connect() as conn:
            conn.execute(text("ANALYZE subscribers, list_memberships"))
            conn.commit()
    with write_transaction(ctx.engine) as s:
        c = _get(s, slug)
        if c.status in (CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value):
            raise CampaignError(f"campaign {slug!r} is already {c.status}")
        if c.status == CampaignStatus.FINISHED.value:
            raise CampaignError(f"campaign {slug!r} is finished")
        if c.list_id is None:
            raise CampaignError(f"campaign {slug!r} has no subscriber list")
        emails = s.execute(select(Email.position, Email.compiled_html).where(Email.campaign_id == c.id)).all()
        if not emails:
            raise CampaignError(f"campaign {slug!r} has no emails")
        missing = sorted(p for p, html in emails if not html)
        if missing:
            raise CampaignError(f"campaign {slug!r}: email(s) {missing} are not compiled yet")
        c.status = CampaignStatus.SCHEDULED.value
        c.start_date = c.start_date or now.date()
        c.updated_at = now
        c.paused_at = None
        return enrol_members(s, c, now)


def pause_campaign(ctx: AppContext, slug: str) -> None:
    """Stop new deliveries; queued ones not yet claimed are held until resume."""
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        c = _get(s, slug)
        if c.status not in (CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value):
            raise CampaignError(f"campaign {slug!r} is {c.status}, not running")
        c.status = CampaignStatus.PAUSED.value
        c.paused_at = now
        c.updated_at = now


def resume_campaign(ctx: AppContext, slug: str) -> int:
    """Continue each subscriber where they were, at their next slot (no burst of missed sends).

    Returns how many enrolments were moved to a later slot.
    """
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        c = _get(s, slug)
        if c.status != CampaignStatus.PAUSED.value:
            raise CampaignError(f"campaign {slug!r} is {c.status}, not paused")
        c.status = CampaignStatus.RUNNING.value
        c.paused_at = None
        c.updated_at = now
        return reschedule_overdue(s, c, now, before=now)


@dataclass
class CampaignStatusReport:
    """What the ``status`` command and the dashboard show about a campaign's timetable."""

    slug: str
    status: str
    enrolments: dict[str, int] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    next_sends: list[tuple[datetime, int]] = field(default_factory=list)


def campaign_status(ctx: AppContext, slug: str, upcoming: int = 5) -> CampaignStatusReport:
    """Enrolments by state and position, deliveries by state, and the next send times."""
    with ctx.session() as s:
        c = _get(s, slug)
        report = CampaignStatusReport(slug=c.slug, status=c.status)
        mine = Enrolment.campaign_id == c.id
        for state, n in s.execute(
            select(Enrolment.status, func.count()).where(mine).group_by(Enrolment.status)
        ):
            report.enrolments[state] = n
        active = (mine, Enrolment.status == EnrolmentStatus.ACTIVE.value)
        rows = s.execute(
            select(Enrolment.next_position, func.count()).where(*active).group_by(Enrolment.next_position)
        )
        report.positions = {pos: n for pos, n in rows}
        rows = s.execute(
            select(Delivery.state, func.count()).where(Delivery.campaign_id == c.id).group_by(Delivery.state)
        )
        report.deliveries = {state: n for state, n in rows}
        rows = s.execute(
            select(Enrolment.next_send_at, func.count())
            .where(*active, Enrolment.next_send_at.is_not(None))
            .group_by(Enrolment.next_send_at)
            .order_by(Enrolment.next_send_at)
            .limit(upcoming)
        )
        report.next_sends = [(when, n) for when, n in rows]
    return report


def test_send(
    ctx: AppContext, slug: str, to: str | Sequence[str], transport: Transport, position: int | None = None
) -> int:
    """Send every email of the campaign (or one position) to each address in ``to``, subject
    prefixed ``[TEST]``, each message with a Message-ID of its own.

    Nothing is recorded as a delivery; tracking URLs carry delivery id 0 (links redirect, nothing
    is recorded). Every address is checked before anything is sent. Returns messages sent.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise CampaignError("no address to send the test to")
    for address in recipients:
        mailbox("", address, "test address")  # raises HeaderInjection (a ValueError)
    sender = Sender.from_settings(ctx.settings)  # the DKIM key is read once
    with ctx.session() as s:
        c = _get(s, slug)
        query = select(Email.id, Email.position).where(Email.campaign_id == c.id).order_by(Email.position)
        if position is not None:
            query = query.where(Email.position == position)
        emails = s.execute(query).all()
    if not emails:
        raise CampaignError(f"campaign {slug!r} has no email at position {position}")
    sent = 0
    try:
        for address in recipients:
            for email_id, _position in emails:
                data = build_message(ctx, email_id, address, subject_prefix="[TEST] ", sender=sender)
                transport.send(Envelope(ctx.settings.sender_address, address, data), lambda: True)
                sent += 1
    finally:
        transport.close()
    return sent


test_send.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
