"""Every message received on the bounce and unsubscribe addresses, kept with what was decided."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base, UTCDateTime


class InboundMessage(Base):
    """One received message or provider event: the raw bytes (cut at ``inbound_keep_bytes``), its
    kind (``inbound.parse.Kind``), the action taken and why. ``digest`` (SHA-256 of the raw bytes,
    or of the provider's event id) makes a message received twice, or a replayed webhook, harmless."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    via: Mapped[str] = mapped_column(String(16))  # smtp | lmtp | imap | file | ses | postmark | ...
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    envelope_to: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # suppressed | unsubscribed | counted | ignored
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="")  # RFC 3463 code when there is one
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index(None, "subscriber_id", "kind"),
        Index(None, "campaign_id", "kind"),
        Index(None, "delivery_id"),
    )
