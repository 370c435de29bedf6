"""Message-IDs: ``<wm.{parts}@{sender domain}>``, the one formula for every message wildmail sends.

A campaign delivery's id is deterministic (``<wm.{campaign}.{position}.{subscriber}.{tag}@...>``,
stored with the delivery row and rebuilt in SQL by the tick from :func:`delivery_id_bounds`); the
keyed ``tag`` keeps ids from being forged from row ids alone. A resend to non-openers has
:data:`RESEND_MARK` before the tag (``<wm.{campaign}.{position}.{subscriber}.r.{tag}@...>``).
A one-off message (a test send, a confirmation) gets ``<wm.{kind}.{parts}.{random}@...>``, new every time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from wildmail.core.signing import keyed_hash


@dataclass(frozen=True)
class MessageIdKey:
    """What a delivery's Message-ID is made from: the keyed-hash secret and the sender's domain."""

    secret: bytes = field(repr=False)
    domain: str


RESEND_MARK = ".r"  # between a resend's subscriber id and its tag


def sender_domain(address: str) -> str:
    """Domain part of the sender address (``localhost`` when it has none)."""
    return address.rpartition("@")[2] or "localhost"


def campaign_tag(secret: bytes, campaign_id: int) -> str:
    """A short keyed hash per campaign, so Message-IDs cannot be forged from ids alone."""
    return keyed_hash(secret, "message-id", str(campaign_id))[:12]


def delivery_id_bounds(secret: bytes, domain: str, campaign_id: int) -> tuple[str, str]:
    """``(head, tail)``: a delivery's Message-ID is ``head + f"{position}.{subscriber_id}" + tail``."""
    return f"<wm.{campaign_id}.", f".{campaign_tag(secret, campaign_id)}@{domain}>"


def delivery_message_id(
    secret: bytes, domain: str, campaign_id: int, position: int, subscriber_id: int
) -> str:
    """The deterministic Message-ID of one delivery (the tick's SQL builds the same)."""
    head, tail = delivery_id_bounds(secret, domain, campaign_id)
    return f"{head}{position}.{subscriber_id}{tail}"


def one_off_message_id(kind: str, domain: str, *parts: int | str) -> str:
    """A fresh Message-ID for a one-off message of ``kind`` (``test``, ``confirm``)."""
    middle = ".".join(str(p) for p in (kind, *parts, secrets.token_hex(8)))
    return f"<wm.{middle}@{domain}>"
