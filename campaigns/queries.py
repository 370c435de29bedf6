"""Read-only campaign queries for programs (the REST API): campaigns page by page in id order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign


def campaigns_page(session: Session, after_id: int, limit: int) -> list[Campaign]:
    """Campaigns with id > ``after_id``, in id order (a keyset page)."""
    return list(
        session.scalars(select(Campaign).where(Campaign.id > after_id).order_by(Campaign.id).limit(limit))
    )
