"""Read-only campaign queries for programs (the REST API): campaigns page by page in id order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from subscribers.models import SubscriberList


def campaigns_page(session: Session, after_id: int, limit: int) -> list[Campaign]:
    """Campaigns with id > ``after_id``, in id order (a keyset page)."""
    return list(
        session.scalars(select(Campaign).where(Campaign.id > after_id).order_by(Campaign.id).limit(limit))
    )


def list_slug(session: Session, campaign: Campaign) -> str | None:
    """The slug of the list the campaign goes to (None before one is chosen)."""
    if campaign.list_id is None:
        return None
    return session.scalar(select(SubscriberList.slug).where(SubscriberList.id == campaign.list_id))
