"""The ``donations`` table: money that came in, with the email it is attributed to (if any)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, UTCDateTime


class MatchMethod(enum.StrEnum):
    """How a donation was tied to a delivery (see :mod:`donations.matching`)."""

    CLICK_ID = "click_id"  # the signed wm_cid of a donation link
    ADDRESS_AND_CAMPAIGN = "address_and_campaign"  # donor's address + utm_campaign, within the window
    UNMATCHED = "unmatched"


class Donation(Base):
    """One donation as the platform reported it. ``(source, external_id)`` is unique, so a webhook
    retried or a CSV imported twice stores it once. The donor's address is never kept: only the
    SHA-256 of its normalised form (as in the suppression list), empty when none was given."""

    __tablename__ = "donations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # webhook | stripe | csv | the sender's own name
    external_id: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)  # in the currency's minor units (cents)
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217, upper case
    donated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address_hash: Mapped[str] = mapped_column(String(64), default="")
    utm_campaign: Mapped[str] = mapped_column(String(100), default="")
    match: Mapped[str] = mapped_column(String(24), default=MatchMethod.UNMATCHED.value)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True
    )
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="SET NULL"), nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "campaign_id", "email_id"),
        Index(None, "delivery_id"),
        Index(None, "subscriber_id"),
    )
