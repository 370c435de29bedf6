"""Per-person engagement state learnt from the event log (send-time optimisation, sunset)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, JSONType, UTCDateTime


class EngagementCursor(Base):
    """The last ``events.id`` the engagement fold consumed (``tracking.engagement``)."""

    __tablename__ = "engagement_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)


class SendTimeProfile(Base):
    """One person's human opens and clicks per local hour, and when they last read anything.

    ``hours`` holds 24 counts (index = local hour in the person's zone); ``preferred_hour`` is the
    smoothed estimate (``tracking.sendtime.preferred_hour``), None until there are enough events.
    """

    __tablename__ = "send_time_profiles"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    hours: Mapped[list[int]] = mapped_column(JSONType, default=list)
    human_events: Mapped[int] = mapped_column(Integer, default=0)
    machine_opens: Mapped[int] = mapped_column(Integer, default=0)
    preferred_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_human_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_machine_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReengagementState(enum.StrEnum):
    DUE = "due"  # chosen; the email is not sent yet
    ASKED = "asked"  # the email went out; waiting for an answer until ``deadline``
    KEPT = "kept"  # the person pressed "keep me"
    INACTIVE = "inactive"  # no answer in time: inactive on the list
    REACTIVATED = "reactivated"  # a human open or click after the email (or after going inactive)
    UNKNOWN = "unknown"  # silent but with machine opens: left alone (the list's policy says so)


class Reengagement(Base):
    """One sunset episode of one member of one list: chosen after ``silent`` silent deliveries,
    the last of them from ``campaign_id`` (the campaign the figures count it against)."""

    __tablename__ = "reengagements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("subscriber_lists.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    silent: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    message_id: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (
        Index(None, "subscriber_id", "list_id"),
        Index(None, "state"),
        Index(None, "campaign_id"),
    )
