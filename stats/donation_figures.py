"""Donation figures beside the engagement ones: read from the ``donations`` table (a donation is
a fact the platform reported, not an event to fold), per email and per campaign. Definitions in
:mod:`stats.definitions` ("Donations")."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from campaigns.models import Email
from delivery.models import Delivery, DeliveryKind
from donations.models import Donation
from stats import definitions as d
from stats.figures import Funnel
from stats.models import StatsMark

_CLICKED = StatsMark.marks.op("&")(d.DONATION) != 0


def add_to_emails(session: Session, campaign_id: int, funnels: dict[int, Funnel]) -> None:
    """Add each email's attributed donations to its funnel (keyed by position; a donation that came
    through a resend counts on the resend's row, as its click does)."""
    counts: dict[int, int] = defaultdict(int)
    raised: dict[int, dict[str, int]] = defaultdict(dict)
    resent = (Delivery.kind == DeliveryKind.RESEND.value).label("resent")
    q = (
        select(Email.position, resent, Donation.currency, func.count(), func.sum(Donation.amount))
        .join(Email, Email.id == Donation.email_id)
        .outerjoin(Delivery, Delivery.id == Donation.delivery_id)
        .where(Donation.campaign_id == campaign_id)
        .group_by(Email.position, resent, Donation.currency)
    )
    for email_position, through_resend, code, n, amount in session.execute(q):
        position = d.resend_position(email_position) if through_resend else email_position
        counts[position] += n
        raised[position][code] = raised[position].get(code, 0) + int(amount)
    converted = dict(
        session.execute(
            select(StatsMark.position, func.count(distinct(Donation.delivery_id)))
            .join(StatsMark, StatsMark.delivery_id == Donation.delivery_id)
            .where(Donation.campaign_id == campaign_id, _CLICKED)
            .group_by(StatsMark.position)
        )
        .tuples()
        .all()
    )
    for position in sorted(set(counts) | set(converted)):
        funnel = funnels.setdefault(position, Funnel(position=position, subject="(email removed)"))
        funnel.add_donations(counts.get(position, 0), raised.get(position, {}), converted.get(position, 0))


def add_to_campaigns(session: Session, totals: dict[int, Funnel]) -> None:
    """Add every campaign's attributed donations to its total funnel (keyed by campaign id)."""
    counts: dict[int, int] = defaultdict(int)
    raised: dict[int, dict[str, int]] = defaultdict(dict)
    q = (
        select(Donation.campaign_id, Donation.currency, func.count(), func.sum(Donation.amount))
        .where(Donation.campaign_id.is_not(None), Donation.email_id.is_not(None))
        .group_by(Donation.campaign_id, Donation.currency)
    )
    for campaign_id, code, n, amount in session.execute(q):
        counts[campaign_id] += n
        raised[campaign_id][code] = int(amount)
    converted = dict(
        session.execute(
            select(Donation.campaign_id, func.count(distinct(Donation.delivery_id)))
            .join(StatsMark, StatsMark.delivery_id == Donation.delivery_id)
            .where(_CLICKED)
            .group_by(Donation.campaign_id)
        )
        .tuples()
        .all()
    )
    for campaign_id, funnel in totals.items():
        funnel.add_donations(
            counts.get(campaign_id, 0), raised.get(campaign_id, {}), converted.get(campaign_id, 0)
        )
