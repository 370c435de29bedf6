"""Use cases for programs (the REST API): pages of lists, people and suppressions in id order, a
person added as already confirmed, profile updates, and the suppression list kept by hand.

Pages are keyset pages: rows after an id, ``limit`` of them, so a client walking a million rows
reads each index range once. Functions never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.addresses import (
    InvalidValue,
    hash_of,
    normalise_email,
    normalise_locale,
    normalise_name,
    normalise_timezone,
)
from subscribers.lifecycle import SUPPRESSED_STATUSES, CannotLift, confirm, find_subscriber, lift_bounce
from subscribers.models import (
    ConsentSource,
    ListMembership,
    Subscriber,
    SubscriberList,
    SubscriberStatus,
    Suppression,
)
from subscribers.optin import upsert_person

MANUAL = "manual"  # the reason of a suppression added by hand (API, admin)
MAX_ATTRIBUTES = 50
MAX_KEY = 64
MAX_TEXT = 1000
Scalar = str | int | float | bool | None


def lists_page(session: Session, after_id: int, limit: int) -> list[tuple[SubscriberList, int]]:
    """Lists with id > ``after_id`` in id order, with their member counts."""
    lists = list(
        session.scalars(
            select(SubscriberList)
            .where(SubscriberList.id > after_id)
            .order_by(SubscriberList.id)
            .limit(limit)
        )
    )
    if not lists:
        return []
    counts = dict(
        session.execute(
            select(ListMembership.list_id, func.count())
            .where(ListMembership.list_id.in_([lst.id for lst in lists]))
            .group_by(ListMembership.list_id)
        )
        .tuples()
        .all()
    )
    return [(lst, counts.get(lst.id, 0)) for lst in lists]


def subscribers_page(
    session: Session,
    after_id: int,
    limit: int,
    *,
    list_id: int | None = None,
    status: str | None = None,
    email: str | None = None,
) -> list[Subscriber]:
    """People with id > ``after_id`` in id order (forgotten people left out), optionally on one
    list, in one status, or with one address."""
    query = select(Subscriber).where(Subscriber.id > after_id, Subscriber.forgotten_at.is_(None))
    if list_id is not None:
        query = query.join(ListMembership, ListMembership.subscriber_id == Subscriber.id).where(
            ListMembership.list_id == list_id
        )
    if status:
        query = query.where(Subscriber.status == status)
    if email is not None:
        try:
            query = query.where(Subscriber.email == normalise_email(email))
        except InvalidValue:
            return []
    return list(session.scalars(query.order_by(Subscriber.id).limit(limit)))


def check_attributes(attributes: dict[str, Any]) -> dict[str, Scalar]:
    """Attributes as stored: text keys (at most 64 characters) with text, number, true/false or
    null values (null removes the key on update); raises ``InvalidValue`` naming the key."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidValue(f"at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, Scalar] = {}
    for key, value in attributes.items():
        if not key.strip() or len(key) > MAX_KEY:
            raise InvalidValue(f"attribute name {key[:80]!r} must be 1..{MAX_KEY} characters")
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise InvalidValue(f"attribute {key!r} must be text, a number, true/false or null")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise InvalidValue(f"attribute {key!r} is longer than {MAX_TEXT} characters")
        out[key] = value
    return out


def add_confirmed(
    session: Session,
    lst: SubscriberList,
    email: str,
    at: datetime,
    *,
    name: str = "",
    timezone: str | None = None,
    locale: str | None = None,
    attributes: dict[str, Any] | None = None,
    source: ConsentSource = ConsentSource.ADMIN,
) -> tuple[Subscriber, bool]:
    """Add someone whose consent the caller already holds (as an import with status active does):
    active on the list at once, no confirmation email. ``(subscriber, changed)``.

    Like the import, someone who left (unsubscribed, bounced, complained) or whose address is
    suppressed is never reactivated this way: raises ``InvalidValue``; only their own fresh
    confirmation brings them back.
    """
    normalised = normalise_email(email)
    extra = {k: v for k, v in check_attributes(attributes or {}).items() if v is not None}
    suppressed = session.scalar(select(Suppression.id).where(Suppression.address_hash == hash_of(normalised)))
    found = find_subscriber(session, normalised)
    if suppressed is not None or (found is not None and found.status in SUPPRESSED_STATUSES):
        raise InvalidValue(
            f"{normalised} unsubscribed, bounced or complained before (or is suppressed):"
            " only their own confirmation can add them again"
        )
    sub = upsert_person(
        session, lst, found, normalised, at,
        name=name, timezone=timezone, locale=locale, source=source, attributes=extra,
    )  # fmt: skip
    changed = confirm(session, sub, lst.id, at, source)
    return sub, changed


def update_profile(
    session: Session,
    sub: Subscriber,
    at: datetime,
    *,
    name: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Subscriber:
    """Change a person's name, time zone, locale or attributes (merged; a null value removes the
    attribute). Raises ``InvalidValue`` for a bad value."""
    if sub.forgotten_at is not None:
        raise InvalidValue("this subscriber was forgotten")
    if name is not None:
        sub.name = normalise_name(name)
    if timezone is not None:
        sub.timezone = normalise_timezone(timezone) if timezone.strip() else None
    if locale is not None:
        sub.locale = normalise_locale(locale)
    if attributes is not None:
        merged = {**(sub.attributes or {}), **check_attributes(attributes)}
        sub.attributes = {k: v for k, v in merged.items() if v is not None}
    sub.updated_at = at
    session.flush()
    return sub


@dataclass(frozen=True)
class SuppressionEntry:
    """One suppression: the address's SHA-256, why, since when, and the address when asked by it."""

    id: int
    address_hash: str
    reason: str
    created_at: datetime
    email: str | None


def suppressions_page(session: Session, after_id: int, limit: int) -> list[SuppressionEntry]:
    """Suppressions with id > ``after_id`` in id order. Entries hold only the address's hash (so a
    forgotten person's stays anonymous): look an address up with :func:`find_suppression`."""
    entries = session.scalars(
        select(Suppression).where(Suppression.id > after_id).order_by(Suppression.id).limit(limit)
    )
    return [SuppressionEntry(e.id, e.address_hash, e.reason, e.created_at, None) for e in entries]


def find_suppression(session: Session, email: str) -> SuppressionEntry | None:
    """The suppression of this address, or None (raises ``InvalidValue`` for a malformed address)."""
    normalised = normalise_email(email)
    digest = hash_of(normalised)
    entry = session.scalars(select(Suppression).where(Suppression.address_hash == digest)).first()
    if entry is None:
        return None
    return SuppressionEntry(entry.id, digest, entry.reason, entry.created_at, normalised)


def add_suppression(session: Session, email: str, at: datetime) -> tuple[SuppressionEntry, bool]:
    """Suppress an address by hand (reason ``manual``): nothing is sent to it again until the entry
    is removed. ``(entry, created)``; an address already suppressed keeps its entry."""
    normalised = normalise_email(email)
    digest = hash_of(normalised)
    entry = session.scalars(select(Suppression).where(Suppression.address_hash == digest)).first()
    created = entry is None
    if entry is None:
        entry = Suppression(address_hash=digest, reason=MANUAL, created_at=at)
        session.add(entry)
        session.flush()
    return SuppressionEntry(entry.id, digest, entry.reason, entry.created_at, normalised), created


def remove_suppression(session: Session, email: str, at: datetime, note: str, by: str) -> str:
    """Remove a suppression: one added by hand at once; a bounce's with a note
    (:func:`lifecycle.lift_bounce`); one the person asked for (unsubscribe, complaint) never.
    Returns the reason the entry had; raises :class:`CannotLift`."""
    normalised = normalise_email(email)
    entry = session.scalars(
        select(Suppression).where(Suppression.address_hash == hash_of(normalised))
    ).first()
    if entry is None:
        raise LookupError(f"{normalised} is not suppressed")
    if entry.reason == MANUAL:
        session.delete(entry)
        session.flush()
        return MANUAL
    if entry.reason != SubscriberStatus.BOUNCED.value:
        raise CannotLift(
            f"{normalised} is suppressed because of {entry.reason!r}:"
            " only their own fresh confirmation lifts that"
        )
    lift_bounce(session, normalised, note, at, by=by)
    return entry.reason


def refreshed(session: Session, sub: Subscriber) -> Subscriber:
    """``sub`` with its lists as they are now in this transaction (after memberships changed)."""
    session.flush()
    session.refresh(sub, ["lists"])
    return sub
