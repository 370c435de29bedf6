"""Campaign, Email, Link and Enrolment tables."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wildmail.core.db import Base, JSONType, UTCDateTime


class CampaignMode(enum.StrEnum):
    DRIP = "drip"
    BROADCAST = "broadcast"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


class LinkKind(enum.StrEnum):
    CONTENT = "content"
    DONATION = "donation"
    UNSUBSCRIBE = "unsubscribe"
    HONEYPOT = "honeypot"


class EnrolmentStatus(enum.StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"
    EXITED = "exited"


class Campaign(Base):
    """An article turned into a series of emails with a timetable."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    source_name: Mapped[str] = mapped_column(String(500), default="")
    source_text: Mapped[str] = mapped_column(Text, default="")
    source_format: Mapped[str] = mapped_column(String(16), default="text")  # markdown | text
    # What subscribers see; ``title`` is the marketer's internal name and never goes into an email.
    article_title: Mapped[str] = mapped_column(String(300), default="", server_default="")
    article_metadata: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # unknown front matter
    locale: Mapped[str] = mapped_column(String(35), default="", server_default="")  # "" = settings' default
    logo_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")  # "" = settings'
    brand_colour: Mapped[str] = mapped_column(String(16), default="", server_default="")  # "" = settings'
    organisation: Mapped[str] = mapped_column(String(200), default="", server_default="")  # "" = settings'
    hero_image: Mapped[str] = mapped_column(String(2000), default="", server_default="")  # front matter image
    hero_alt: Mapped[str] = mapped_column(
        String(300), default="", server_default=""
    )  # front matter image_alt
    # (width, height) of every picture of the emails by address, learnt once at creation
    images: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("subscriber_lists.id"), nullable=True)
    segment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    mode: Mapped[str] = mapped_column(String(16), default=CampaignMode.DRIP.value)
    cadence_days: Mapped[int] = mapped_column(Integer, default=7)
    send_weekday: Mapped[int] = mapped_column(Integer, default=1)  # Monday=0
    send_hour: Mapped[int] = mapped_column(Integer, default=9)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value)
    donation_url: Mapped[str] = mapped_column(String(2000), default="")
    donation_text: Mapped[str] = mapped_column(String(200), default="Donate")
    template: Mapped[str] = mapped_column(String(200), default="")
    render_engine: Mapped[str] = mapped_column(String(16), default="css-inline")
    track_identity: Mapped[bool] = mapped_column(Boolean, default=True)
    stop_donation_after_click: Mapped[bool] = mapped_column(Boolean, default=False)
    grace_hours: Mapped[int] = mapped_column(Integer, default=24)
    min_gap_hours: Mapped[int] = mapped_column(Integer, default=72)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Why the campaign paused itself (the circuit breaker of inbound.policy); '' for a paused-by-hand.
    pause_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Send-time optimisation (tracking.sendtime): on for the enrolments whose keyed hash of the
    # subscriber id (``sto_key``, random per campaign) puts them in the "sto" half; their slot moves
    # to their preferred local hour within [sto_window_start, sto_window_end). ``sto_since``: when
    # it was switched on (the A/B figures count deliveries queued from then).
    sto_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sto_window_start: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    sto_window_end: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    sto_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    sto_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The public web archive (/archive/<slug>/): off unless the marketer turns it on; it lists the
    # emails whose first send has happened, or every email with ``archive_all_emails``.
    archive_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    archive_all_emails: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    emails: Mapped[list[Email]] = relationship(
        back_populates="campaign", order_by="Email.position", cascade="all, delete-orphan"
    )

    @property
    def public_title(self) -> str:
        """The series title subscribers see (the article's; the internal name only for old rows)."""
        return self.article_title or self.title


class Email(Base):
    """One email of a campaign's series, made from one article section."""

    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    paragraphs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    reading_minutes: Mapped[int] = mapped_column(Integer, default=1)
    compiled_html: Mapped[str] = mapped_column(Text, default="")
    compiled_text: Mapped[str] = mapped_column(Text, default="")
    compiled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When its first delivery was sent, noted by the archive the first time it finds one (the
    # archive's publication date; a send time never changes once there).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    campaign: Mapped[Campaign] = relationship(back_populates="emails")
    links: Mapped[list[Link]] = relationship(
        back_populates="email", order_by="Link.position", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("campaign_id", "position"),)


class Link(Base):
    """A destination in an email; click URLs carry this row's id, never the URL."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(16), default=LinkKind.CONTENT.value)
    label: Mapped[str] = mapped_column(String(300), default="")

    email: Mapped[Email] = relationship(back_populates="links")

    __table_args__ = (UniqueConstraint("email_id", "position"),)


class Enrolment(Base):
    """A subscriber's place in a campaign: which email is next and when."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    next_position: Mapped[int] = mapped_column(Integer, default=1)
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=EnrolmentStatus.ACTIVE.value)
    exit_reason: Mapped[str] = mapped_column(String(32), default="")
    # Why the next send was postponed ("frequency cap": another series mailed the person within
    # their list's cap), empty otherwise; cleared when the next email is queued.
    held: Mapped[str] = mapped_column(String(32), default="", server_default="")
    donation_clicked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Effective zone of the slots (subscriber's, else the campaign's), fixed at enrolment so
    # the tick can group due rows per zone without joining subscribers.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Send-time optimisation: the A/B half ("sto", "control"; "" before the campaign's STO step
    # saw it) and the local hour the person's slot moves to (None: the campaign's hour).
    sto_arm: Mapped[str] = mapped_column(String(8), default="", server_default="")
    sto_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # No index covers a column the tick changes (next_position, next_send_at, last_sent_at,
    # status), and on PostgreSQL the table is filled to 45% (migration 0002): the weekly step
    # then rewrites each row in its own page as a HOT update, with no index entry to add, instead
    # of a new row version plus one entry in every index (about 4x the CPU and 3x the WAL at 1M).
    # The tick finds due rows by scanning the campaign's enrolments (one probe per campaign).
    __table_args__ = (
        UniqueConstraint("subscriber_id", "campaign_id"),
        Index(None, "campaign_id"),
    )
