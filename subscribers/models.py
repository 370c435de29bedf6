"""Subscriber, list, membership, consent history and suppression tables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wildmail.core.db import Base, JSONType, UTCDateTime


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class ConsentSource(enum.StrEnum):
    IMPORT = "import"
    FORM = "form"
    ONE_CLICK = "one-click"
    MAILTO = "mailto"  # mail to the List-Unsubscribe address (inbound)
    ADMIN = "admin"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    CONFIRMATION = "confirmation"


def _bytewise(length: int) -> String:
    """A string column compared byte by byte on every backend (SQLite's BINARY, PostgreSQL's "C").

    Prefix search is then an index range (``>= 'ab' AND < 'ab\U0010ffff'``) whatever the
    database's default collation: a linguistic collation (en_US) ignores punctuation and would
    put ``a-b@x`` between ``ab`` and ``ac``.
    """
    return String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


class SubscriberList(Base):
    """A named list; campaigns send to the active members of one list.

    ``name`` and ``description`` are what subscribers read on the public pages; ``slug`` is the
    address part (``/subscribe/<slug>``) and never shown to them as a name.
    """

    __tablename__ = "subscriber_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # At most one email per this many days to a member from all running series together (0: no cap).
    frequency_cap_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    # Sunset policy (tracking.sunset): after this many delivered emails in a row with no human open
    # or click a member gets one re-engagement email (0: off); without an answer within
    # ``sunset_wait_days`` they become inactive on the list. ``sunset_unknown``: whether people
    # whose only opens are machine opens (their reading is unknown) are sunset too.
    sunset_after: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sunset_wait_days: Mapped[int] = mapped_column(Integer, default=14, server_default="14")
    sunset_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Subscriber(Base):
    """A person. ``email`` is stored normalised (lower case) and is unique."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(_bytewise(320), unique=True)
    name: Mapped[str] = mapped_column(_bytewise(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.PENDING.value)
    consent_source: Mapped[str] = mapped_column(String(16), default=ConsentSource.ADMIN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set from the preferences page ("pause for a month"): the tick queues nothing for this person
    # before that time (see delivery.enqueue); their place in each series is kept.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    lists: Mapped[list[SubscriberList]] = relationship(secondary="list_memberships", lazy="selectin")

    __table_args__ = (
        Index(None, "status"),
        Index(None, "paused_until"),
    )


# Search by name prefix (subscribers.queries): lower(name) as SQLite and PostgreSQL's "C"
# collation both compute it (ASCII letters only), id for keyset pages in (name, id) order.
Index("ix_subscribers_name_key", func.lower(Subscriber.name), Subscriber.id)


class ListMembership(Base):
    """A subscriber on a list."""

    __tablename__ = "list_memberships"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[int] = mapped_column(
        ForeignKey("subscriber_lists.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when the member was sunset (no answer to the re-engagement email): still a member, sent
    # nothing from this list's series until a human open or click or the keep button clears it.
    inactive_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index(None, "list_id", "subscriber_id"),)


class ConsentEvent(Base):
    """One status transition, kept forever as consent history."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index(None, "subscriber_id", "at"),)


class Suppression(Base):
    """An address never to be mailed again, kept as a SHA-256 of the normalised address.

    Hashed so that it survives ``forget`` without keeping the address itself.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
