"""Which email led to a donation.

1. ``click_id``: the donation carries a ``wm_cid`` whose signature verifies (no lookup needed
   for that); its delivery names the email, campaign and subscriber. A bot's click id counts
   like anyone's: a donation is a donation.
2. ``address_and_campaign``: failing that, the donor's address is a subscriber's and
   ``utm_campaign`` is a campaign's slug: the donation goes to that subscriber's latest donation
   click on that campaign within ``window`` before it, or, without such a click, to their latest
   delivery of that campaign sent within ``window`` before it.
3. ``unmatched``: stored all the same, counted nowhere but in the donation list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Link, LinkKind
from delivery.models import Delivery
from donations.models import MatchMethod
from subscribers.models import Subscriber
from tracking.click_ids import BadToken, parse_click_id
from tracking.models import Event, EventKind


@dataclass(frozen=True)
class Match:
    """The delivery a donation is attributed to (all None when unmatched)."""

    method: MatchMethod
    delivery_id: int | None = None
    email_id: int | None = None
    campaign_id: int | None = None
    subscriber_id: int | None = None


UNMATCHED = Match(MatchMethod.UNMATCHED)
_DELIVERY = (Delivery.id, Delivery.email_id, Delivery.campaign_id, Delivery.subscriber_id)


def by_click_id(session: Session, key: bytes, wm_cid: str) -> Match | None:
    """The delivery of a validly signed ``wm_cid`` that still exists, else None."""
    if not wm_cid:
        return None
    try:
        delivery_id, _link_id = parse_click_id(key, wm_cid)
    except BadToken:
        return None
    row = session.execute(select(*_DELIVERY).where(Delivery.id == delivery_id)).first()
    return Match(MatchMethod.CLICK_ID, *row) if row is not None else None


def by_address_and_campaign(
    session: Session, address: str, campaign_slug: str, donated_at: datetime, window: timedelta
) -> Match | None:
    """The delivery the donor's latest donation click (else latest delivery) of the campaign
    ``campaign_slug`` within ``window`` before ``donated_at`` belongs to, else None.
    ``address`` is normalised; a forgotten person is never matched."""
    if not address or not campaign_slug:
        return None
    campaign_id = session.scalar(select(Campaign.id).where(Campaign.slug == campaign_slug))
    subscriber_id = session.scalar(
        select(Subscriber.id).where(Subscriber.email == address, Subscriber.forgotten_at.is_(None))
    )
    if campaign_id is None or subscriber_id is None:
        return None
    since = donated_at - window
    clicked = (
        select(*_DELIVERY)
        .join(Event, Event.delivery_id == Delivery.id)
        .join(Link, Link.id == Event.link_id)
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.campaign_id == campaign_id,
            Event.kind == EventKind.CLICK.value,
            Link.kind == LinkKind.DONATION.value,
            Event.at >= since,
            Event.at <= donated_at,
        )
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(1)
    )
    row = session.execute(clicked).first()
    if row is None:
        sent = (
            select(*_DELIVERY)
            .where(
                Delivery.subscriber_id == subscriber_id,
                Delivery.campaign_id == campaign_id,
                Delivery.sent_at >= since,
                Delivery.sent_at <= donated_at,
            )
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(1)
        )
        row = session.execute(sent).first()
    return Match(MatchMethod.ADDRESS_AND_CAMPAIGN, *row) if row is not None else None


def match(
    session: Session,
    key: bytes,
    *,
    wm_cid: str,
    address: str,
    campaign_slug: str,
    donated_at: datetime,
    window: timedelta,
) -> Match:
    """The first of the rules above that finds a delivery, else :data:`UNMATCHED`."""
    return (
        by_click_id(session, key, wm_cid)
        or by_address_and_campaign(session, address, campaign_slug, donated_at, window)
        or UNMATCHED
    )
