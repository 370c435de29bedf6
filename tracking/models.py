"""Engagement events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, UTCDateTime


class EventKind(enum.StrEnum):
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class Classification(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    BOT = "bot"


class Event(Base):
    """One open, click, unsubscribe, bounce or complaint; ``uid`` makes a replay harmless.

    ``delivery_id`` is null for campaigns tracked without per-person identity.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    classification: Mapped[str] = mapped_column(String(8), default=Classification.HUMAN.value)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True
    )
    # No foreign key of its own: the writer takes it from the delivery's campaign, and deleting a
    # campaign removes its events through emails (email_id cascades). Each key costs a parent
    # lookup per inserted event, on the hottest write path we have.
    campaign_id: Mapped[int] = mapped_column(Integer)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("links.id", ondelete="SET NULL"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(64), default="")
    implied: Mapped[bool] = mapped_column(default=False)

    # Only what queries use: delivery_id for the honeypot window, implied opens and erasure;
    # email_id for its foreign key's cascade. Reports read rollups folded by id (stats.rollup).
    __table_args__ = (
        Index(None, "delivery_id", "at"),
        Index(None, "email_id"),
    )
