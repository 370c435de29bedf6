"""One path in for every donation: checked fields -> matched -> stored once -> event emitted.

The webhook readers (:mod:`donations.webhooks`) and the CSV import (:mod:`donations.csv_import`)
turn what they receive into :class:`DonationIn` through :func:`checked` (a :class:`DonationError`
names the field), then :func:`record_donation` stores it. ``(source, external_id)`` is unique:
a retried webhook or a re-imported file changes nothing (``created`` is False). A matched
donation emits ``donation.attributed`` in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from donations.matching import Match, match
from donations.models import Donation, MatchMethod
from donations.money import MoneyError, currency
from subscribers.addresses import InvalidValue, address_hash, normalise_email
from wildmail.core.db import write_transaction
from wildmail.core.outbox import EventType, emit
from wildmail.core.settings import Settings

MAX_AMOUNT = 10**15  # minor units; far above any donation, far below a BIGINT
_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DonationError(ValueError):
    """A field of a donation is missing or wrong; ``field`` is its name as the sender wrote it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class DonationIn:
    """A donation as received, checked (``email`` normalised, ``currency`` upper case)."""

    source: str
    external_id: str
    amount: int  # minor units
    currency: str
    donated_at: datetime
    email: str = ""
    wm_cid: str = ""
    utm_campaign: str = ""


@dataclass(frozen=True)
class Attribution:
    """What matching needs: the key ``wm_cid`` is signed with and the window after a click."""

    key: bytes
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Attribution:
        """``secret_key`` (which signs every ``wm_cid``) and ``donation_window_days``."""
        return cls(settings.secret, timedelta(days=settings.donation_window_days))


@dataclass(frozen=True)
class Recorded:
    """What happened to one donation: its row, whether it is new, and how it was matched."""

    donation_id: int
    created: bool
    match: str
    campaign_id: int | None = None
    email_id: int | None = None


def _text(field: str, value: Any, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DonationError(field, "expected text")
    text = value.strip()
    if required and not text:
        raise DonationError(field, "is empty")
    if len(text) > limit:
        raise DonationError(field, f"is longer than {limit} characters")
    if _CONTROL.search(text):
        raise DonationError(field, "contains control characters")
    return text


def checked(
    *,
    source: str,
    external_id: Any,
    amount: Any,
    currency_code: Any,
    donated_at: Any,
    email: Any = "",
    wm_cid: Any = "",
    utm_campaign: Any = "",
    names: dict[str, str] | None = None,
) -> DonationIn:
    """A :class:`DonationIn`, or :class:`DonationError` naming the first bad field (``names``
    maps our field names to the sender's, e.g. ``amount`` -> ``amount_total`` for Stripe)."""
    name = (names or {}).get
    if not _SOURCE.fullmatch(source):
        raise DonationError(name("source", "source"), "expected 1-32 lower-case letters, digits, - or _")
    ext = _text(name("external_id", "id"), external_id, 255, required=True)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DonationError(name("amount", "amount"), "expected a whole number of minor units (cents)")
    if not 0 < amount <= MAX_AMOUNT:
        raise DonationError(name("amount", "amount"), "must be above 0 (and a plausible donation)")
    try:
        code = currency(currency_code if isinstance(currency_code, str) else "")
    except MoneyError as exc:
        raise DonationError(name("currency", "currency"), str(exc)) from None
    if not isinstance(donated_at, datetime) or donated_at.tzinfo is None:
        raise DonationError(name("donated_at", "donated_at"), "expected a date and time with its zone")
    address = _text(name("email", "email"), email, 320)
    if address:
        try:
            address = normalise_email(address)
        except InvalidValue as exc:
            raise DonationError(name("email", "email"), str(exc)) from None
    return DonationIn(
        source,
        ext,
        amount,
        code,
        donated_at,
        address,
        _text(name("wm_cid", "wm_cid"), wm_cid, 100),
        _text(name("utm_campaign", "utm_campaign"), utm_campaign, 100),
    )


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Donation)


def _existing(session: Session, item: DonationIn) -> Recorded | None:
    row = session.execute(
        select(Donation.id, Donation.match, Donation.campaign_id, Donation.email_id).where(
            Donation.source == item.source, Donation.external_id == item.external_id
        )
    ).first()
    return Recorded(row[0], False, row[1], row[2], row[3]) if row is not None else None


def record_donation(session: Session, item: DonationIn, attribution: Attribution, at: datetime) -> Recorded:
    """Store ``item`` once (in the caller's transaction), matched; emit ``donation.attributed``
    when it was matched. A donation already stored is returned as it is (``created`` False)."""
    known = _existing(session, item)
    if known is not None:
        return known
    found: Match = match(
        session,
        attribution.key,
        wm_cid=item.wm_cid,
        address=item.email,
        campaign_slug=item.utm_campaign,
        donated_at=item.donated_at,
        window=attribution.window,
    )
    values = {
        "source": item.source,
        "external_id": item.external_id,
        "amount": item.amount,
        "currency": item.currency,
        "donated_at": item.donated_at,
        "received_at": at,
        "address_hash": address_hash(item.email) if item.email else "",
        "utm_campaign": item.utm_campaign,
        "match": found.method.value,
        "delivery_id": found.delivery_id,
        "email_id": found.email_id,
        "campaign_id": found.campaign_id,
        "subscriber_id": found.subscriber_id,
    }
    stmt = _insert(session).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["source", "external_id"]).returning(Donation.id)
    donation_id = session.scalar(stmt)
    if donation_id is None:  # stored meanwhile by a concurrent request with the same id
        raced = _existing(session, item)
        assert raced is not None
        return raced
    if found.method is not MatchMethod.UNMATCHED:
        payload = {
            "donation_id": donation_id,
            "source": item.source,
            "external_id": item.external_id,
            "amount": item.amount,
            "currency": item.currency,
            "donated_at": item.donated_at.isoformat(),
            "match": found.method.value,
            "campaign_id": found.campaign_id,
            "email_id": found.email_id,
            "delivery_id": found.delivery_id,
            "subscriber_id": found.subscriber_id,
        }
        emit(session, EventType.DONATION_ATTRIBUTED, payload, at)
    return Recorded(donation_id, True, found.method.value, found.campaign_id, found.email_id)


def record_committed(engine: Engine, item: DonationIn, attribution: Attribution, at: datetime) -> Recorded:
    """:func:`record_donation` in its own write transaction, committed when this returns."""
    with write_transaction(engine) as session:
        return record_donation(session, item, attribution, at)
