"""Donation webhooks: wildmail's own JSON shape and Stripe's ``checkout.session.completed``.

Both are signed the way Stripe signs its webhooks: a header ``t=<unix time>,v1=<hex>`` where the
hex is HMAC-SHA256, keyed with the endpoint's secret, of ``"<t>.<raw body>"``. The signature is
compared in constant time and the time must be within :data:`TOLERANCE` of ours (a captured
request cannot be replayed later; a replay within it changes nothing, the donation's id being
unique). Our header is ``Wildmail-Signature``, Stripe's ``Stripe-Signature``.

Errors: :class:`NotConfigured` (no secret set: the endpoint does not exist, 404),
:class:`Refused` (unsigned, wrongly signed or stale: 401, nothing read), :class:`DonationError`
(signed, but a field is wrong: 400 naming the field, nothing stored).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from donations.intake import DonationError, DonationIn, checked
from tracking.click_ids import LENGTH

TOLERANCE = timedelta(minutes=5)
SIGNATURE_HEADER = "Wildmail-Signature"
STRIPE_HEADER = "Stripe-Signature"
STRIPE_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
JSON_SOURCE = "webhook"
STRIPE_SOURCE = "stripe"


class Refused(ValueError):
    """The request is unsigned, signed with another secret, or too old (HTTP 401)."""


class NotConfigured(LookupError):
    """The endpoint's secret is not set (HTTP 404)."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (senders and tests use it)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(header: str, body: bytes, secret: str, now: datetime, tolerance: timedelta = TOLERANCE) -> None:
    """Raise :class:`Refused` unless ``header`` carries a ``v1`` signature of ``body`` by ``secret``
    with a timestamp within ``tolerance`` of ``now``. Several ``v1`` entries are allowed (Stripe
    sends one per secret while a secret is being rolled)."""
    if not secret:
        raise NotConfigured("no signing secret")
    stamp, given = "", []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamp = value
        elif name == "v1":
            given.append(value.encode("ascii", "replace"))
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 10 or not given:
        raise Refused("no timestamp or no v1 signature")
    expected = sign(secret, body, int(stamp)).rpartition("v1=")[2].encode()
    if not any(hmac.compare_digest(candidate, expected) for candidate in given):
        raise Refused("signature does not match")
    if abs(now - datetime.fromtimestamp(int(stamp), UTC)) > tolerance:
        raise Refused("timestamp outside the tolerance (replayed or clock skew)")


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DonationError("body", "not JSON") from None
    if not isinstance(data, dict):
        raise DonationError("body", "expected a JSON object")
    return data


def _iso_time(field: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise DonationError(field, "expected an ISO 8601 date and time like 2026-03-05T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DonationError(field, f"{value[:40]!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise DonationError(field, "needs a time zone (Z or +01:00)")
    return parsed.astimezone(UTC)


def read_json(body: bytes) -> DonationIn:
    """wildmail's documented shape (README, "Donations"): ``id``, ``amount`` (whole minor units),
    ``currency``, ``donated_at`` (ISO 8601 with zone), optional ``email``, ``wm_cid``,
    ``utm_campaign`` and ``source`` (default ``webhook``)."""
    data = _object(body)
    source = data.get("source", JSON_SOURCE)
    if not isinstance(source, str):
        raise DonationError("source", "expected text")
    return checked(
        source=source.strip().lower(),
        external_id=data.get("id"),
        amount=data.get("amount"),
        currency_code=data.get("currency"),
        donated_at=_iso_time("donated_at", data.get("donated_at")),
        email=data.get("email"),
        wm_cid=data.get("wm_cid"),
        utm_campaign=data.get("utm_campaign"),
    )


def _click_id_shaped(value: Any) -> str:
    """``client_reference_id`` when it has the shape of a ``wm_cid``; a site may use the field for
    its own reference (a cart id), which is then left alone rather than refused."""
    return value.strip() if isinstance(value, str) and len(value.strip()) == LENGTH else ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_stripe(body: bytes) -> DonationIn | None:
    """A paid Checkout Session from a Stripe event, or None for an event we do not act on (other
    types, a session not paid yet: ``checkout.session.async_payment_succeeded`` follows it).
    The click id is ``metadata.wm_cid``, else ``client_reference_id`` when it has a click id's
    shape; ``metadata.utm_campaign`` is the campaign for address matching."""
    event = _object(body)
    if event.get("type") not in STRIPE_EVENTS:
        return None
    session = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(session, dict):
        raise DonationError("data.object", "expected the Checkout Session object")
    if session.get("payment_status") != "paid":
        return None
    metadata = _mapping(session.get("metadata"))
    details = _mapping(session.get("customer_details"))
    created = session.get("created", event.get("created"))
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created < 10**10:
        raise DonationError("data.object.created", "expected a Unix time")
    currency_code = session.get("currency")
    return checked(
        source=STRIPE_SOURCE,
        external_id=session.get("id"),
        amount=session.get("amount_total"),
        currency_code=currency_code,
        donated_at=datetime.fromtimestamp(created, UTC),
        email=details.get("email") or session.get("customer_email") or "",
        wm_cid=metadata.get("wm_cid") or _click_id_shaped(session.get("client_reference_id")),
        utm_campaign=metadata.get("utm_campaign") or "",
        names={
            "external_id": "data.object.id",
            "amount": "data.object.amount_total",
            "currency": "data.object.currency",
            "email": "data.object.customer_details.email",
            "wm_cid": "data.object.metadata.wm_cid",
            "utm_campaign": "data.object.metadata.utm_campaign",
        },
    )
