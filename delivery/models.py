"""Delivery (the outbox) and relay state tables."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, UTCDateTime


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRY_WAIT = "retry_wait"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"
    UNKNOWN = "unknown"


class SmtpPhase(enum.StrEnum):
    NONE = "none"
    CONNECT = "connect"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    DONE = "done"


class DeliveryKind(enum.StrEnum):
    """Which attempt at an email a delivery is (a short string: other kinds may follow)."""

    FIRST = "first"
    RESEND = "resend"  # the resend to non-openers (optimise.resend)


class Delivery(Base):
    """One email to one subscriber; unique per (subscriber, email, kind) so nobody is mailed
    the same attempt twice."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    # No foreign key of its own: email_id already cascades from the campaign through emails, and
    # each foreign key costs a trigger call per row when the tick queues a million deliveries.
    campaign_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.QUEUED.value)
    smtp_phase: Mapped[str] = mapped_column(String(8), default=SmtpPhase.NONE.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(300))
    last_reply: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16), default=DeliveryKind.FIRST.value, server_default="first")
    # The subject variant it is built from (campaigns.variant_models; None: the email's own
    # subject). No foreign key, like campaign_id: the tick inserts these by the million.
    variant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        UniqueConstraint("subscriber_id", "email_id", "kind"),
        # Only deliveries of a tested email carry a variant: the subject test counts them by it.
        Index(
            None,
            "variant_id",
            postgresql_where=text("variant_id IS NOT NULL"),
            sqlite_where=text("variant_id IS NOT NULL"),
        ),
        Index(None, "state", "next_attempt_at"),
        Index(None, "campaign_id", "position", "state"),
        # Only rows being sent carry a lease: a partial index stays tiny and costs nothing at enqueue.
        Index(
            None,
            "lease_expires_at",
            postgresql_where=text("state = 'sending'"),
            sqlite_where=text("state = 'sending'"),
        ),
    )


class RelayState(Base):
    """Shared token bucket and back-off for one SMTP relay, used by every worker.

    ``alert`` is set when the relay was paused for a refusal about itself (not a 421): shown by
    ``wildmail relay status`` and the dashboard until a message is accepted again or an admin
    resumes the relay. ``pauses`` counts such pauses in a row (each one lasts longer).
    """

    __tablename__ = "relay_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, default=0.0)
    refilled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_reply: Mapped[str] = mapped_column(Text, default="")
    alert: Mapped[str] = mapped_column(Text, default="", server_default="")
    alert_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pauses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
