"""Subject tests, their variants and resend rules (tables of issue 20).

A :class:`SubjectVariant` is another subject and preheader for one email, compiled once like the
email itself (the preheader sits in the HTML and text parts), so sending a variant costs what
sending the email costs. Variants of a :class:`SubjectTest` have ``role`` ``test``; the subject a
resend goes out with is a variant with ``role`` ``resend``, named by the email's
:class:`ResendRule`. Deliveries name the variant they were built from (``deliveries.variant_id``).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, UTCDateTime


class Criterion(enum.StrEnum):
    HUMAN_OPENS = "human_opens"
    HUMAN_CLICKS = "human_clicks"
    DONATION_CLICKS = "donation_clicks"


class SubjectTestStatus(enum.StrEnum):
    RUNNING = "running"
    WINNER = "winner"  # one variant was better with the chosen confidence
    NO_WINNER = "no_winner"  # the maximum sample passed without a clear winner: the first variant stays
    STOPPED = "stopped"  # ended by hand


class VariantRole(enum.StrEnum):
    TEST = "test"
    RESEND = "resend"


class SubjectTest(Base):
    """A sequential test of 2-4 subject/preheader variants of one email (one test per email)."""

    __tablename__ = "subject_tests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(String(24), default=Criterion.HUMAN_OPENS.value)
    confidence: Mapped[float] = mapped_column(Float, default=0.95)
    max_sample: Mapped[int] = mapped_column(Integer, default=2000)
    status: Mapped[str] = mapped_column(String(16), default=SubjectTestStatus.RUNNING.value)
    winner_variant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    looked_at: Mapped[int] = mapped_column(Integer, default=0)  # total trials at the last look
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SubjectVariant(Base):
    """Another subject and preheader of an email, with the email compiled for it."""

    __tablename__ = "subject_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    test_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject_tests.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(8), default=VariantRole.TEST.value)
    position: Mapped[int] = mapped_column(Integer, default=1)  # 1.. within its test
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    compiled_html: Mapped[str] = mapped_column(Text, default="")
    compiled_text: Mapped[str] = mapped_column(Text, default="")
    compiled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (UniqueConstraint("email_id", "role", "position"),)


class ResendRule(Base):
    """Send an email once more, ``after_days`` after it, to its recipients who neither opened nor
    clicked as people; ``include_unknown`` also resends to those with machine opens only."""

    __tablename__ = "resend_rules"

    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("subject_variants.id", ondelete="CASCADE"))
    after_days: Mapped[int] = mapped_column(Integer, default=3)
    include_unknown: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
