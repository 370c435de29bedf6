"""Lists and the consent lifecycle: every status change is a ConsentEvent, suppression follows.

Statuses: ``pending -> active -> unsubscribed``; ``bounced`` and ``complained`` come from
delivery. Leaving ``unsubscribed``/``bounced``/``complained`` is only possible through a fresh
confirmation (see :mod:`subscribers.optin`), which also lifts the suppression entry, or, for a
bounce only, an admin's :func:`lift_bounce` with a note (a relay incident, a mailbox that works again).
Functions here never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers.addresses import InvalidValue, address_hash, hash_of, normalise_email
from subscribers.events import fire_activated
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    ListMembership,
    Subscriber,
    SubscriberList,
    SubscriberStatus,
    Suppression,
)
from wildmail.core.outbox import EventType, emit

SUPPRESSED_STATUSES = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


class UnknownList(LookupError):
    """No list has that slug."""


def display_name_of(slug: str) -> str:
    """A readable default name for a list created without one: ``amur-leopard`` -> ``Amur leopard``."""
    return slug.replace("-", " ").strip().capitalize()


def _checked_text(name: str, description: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise InvalidValue("the list's display name must not be empty")
    if len(name) > 200:
        raise InvalidValue("the list's display name is longer than 200 characters")
    description = description.strip()
    if len(description) > 2000:
        raise InvalidValue("the list's description is longer than 2,000 characters")
    return name, description


def create_list(
    session: Session,
    slug: str,
    name: str | None = None,
    *,
    double_opt_in: bool = True,
    at: datetime,
    description: str = "",
    frequency_cap_days: int = 7,
) -> SubscriberList:
    """Create a list; ``slug`` is lower-case letters, digits and dashes and must be new.

    ``name`` is what subscribers read (default: the slug in words, see :func:`display_name_of`).
    ``frequency_cap_days``: at most one email per this many days to a member from all series
    together (0: each series keeps its own timetable).
    """
    if not _SLUG.fullmatch(slug):
        raise InvalidValue(f"list slug {slug!r} must be lower-case letters, digits and dashes")
    if get_list(session, slug) is not None:
        raise InvalidValue(f"list {slug!r} already exists")
    if not 0 <= frequency_cap_days <= 365:
        raise InvalidValue(f"frequency cap must be 0..365 days, got {frequency_cap_days}")
    name, description = _checked_text(name or display_name_of(slug), description)
    lst = SubscriberList(
        slug=slug,
        name=name,
        description=description,
        double_opt_in=double_opt_in,
        created_at=at,
        frequency_cap_days=frequency_cap_days,
    )
    session.add(lst)
    session.flush()
    return lst


def describe_list(session: Session, slug: str, name: str, description: str) -> SubscriberList:
    """Change what subscribers read about a list: its display name and description."""
    lst = require_list(session, slug)
    lst.name, lst.description = _checked_text(name, description)
    session.flush()
    return lst


def get_list(session: Session, slug: str) -> SubscriberList | None:
    """The list with ``slug`` or None."""
    return session.scalars(select(SubscriberList).where(SubscriberList.slug == slug)).first()


def require_list(session: Session, slug: str) -> SubscriberList:
    """The list with ``slug``; raises :class:`UnknownList` naming the known slugs."""
    lst = get_list(session, slug)
    if lst is None:
        known = ", ".join(session.scalars(select(SubscriberList.slug).order_by(SubscriberList.slug)))
        raise UnknownList(f"no list {slug!r} (known lists: {known or 'none'})")
    return lst


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (any case), or None; invalid addresses find nobody."""
    try:
        normalised = normalise_email(email)
    except InvalidValue:
        return None
    return session.scalars(select(Subscriber).where(Subscriber.email == normalised)).first()


def is_suppressed(session: Session, email: str) -> bool:
    """True when the address must never be mailed (unsubscribed, bounced, complained, forgotten)."""
    digest = hash_of(email)
    return session.scalar(select(Suppression.id).where(Suppression.address_hash == digest)) is not None


def suppress(
    session: Session, email: str, reason: str, at: datetime, *, subscriber_id: int | None = None
) -> None:
    """Add the address to the suppression list (no-op when already there); a new entry is a
    ``suppression.added`` event."""
    digest = hash_of(email)
    if session.scalar(select(Suppression.id).where(Suppression.address_hash == digest)) is None:
        session.add(Suppression(address_hash=digest, reason=reason[:16], created_at=at))
        session.flush()
        data = {"subscriber_id": subscriber_id, "email": email, "reason": reason[:16]}
        emit(session, EventType.SUPPRESSION_ADDED, data, at)


def lift_suppression(session: Session, email: str) -> None:
    """Remove the address from the suppression list (only after a fresh confirmation)."""
    session.execute(delete(Suppression).where(Suppression.address_hash == address_hash(email)))


def _resolve(session: Session, subscriber: Subscriber | int) -> Subscriber:
    if isinstance(subscriber, Subscriber):
        return subscriber
    found = session.get(Subscriber, subscriber)
    if found is None:
        raise LookupError(f"no subscriber with id {subscriber}")
    return found


def record_transition(
    session: Session,
    subscriber: Subscriber,
    to_status: SubscriberStatus,
    source: ConsentSource | str,
    at: datetime,
    detail: str = "",
) -> ConsentEvent:
    """Set the status and keep the change as a ConsentEvent (the only way statuses change)."""
    event = ConsentEvent(
        subscriber_id=subscriber.id,
        from_status=subscriber.status,
        to_status=to_status.value,
        source=str(source),
        detail=detail,
        at=at,
    )
    subscriber.status = to_status.value
    subscriber.consent_source = str(source)
    subscriber.updated_at = at
    if to_status is SubscriberStatus.ACTIVE:
        subscriber.confirmed_at = at
    elif to_status is SubscriberStatus.UNSUBSCRIBED:
        subscriber.unsubscribed_at = at
    session.add(event)
    session.flush()
    announced = _ANNOUNCED.get(to_status)
    if announced is not None and event.from_status != to_status.value:
        data = {"subscriber_id": subscriber.id, "email": subscriber.email, "source": str(source)}
        emit(session, announced, {**data, "from_status": event.from_status}, at)
    return event


# Status changes other systems hear about; bounces and complaints are announced by whoever
# judged them (inbound, delivery), with what was judged.
_ANNOUNCED = {
    SubscriberStatus.ACTIVE: EventType.SUBSCRIBER_CONFIRMED,
    SubscriberStatus.UNSUBSCRIBED: EventType.SUBSCRIBER_UNSUBSCRIBED,
}


def _leave(
    session: Session,
    subscriber: Subscriber | int,
    to_status: SubscriberStatus,
    source: ConsentSource | str,
    at: datetime,
    detail: str,
) -> bool:
    sub = _resolve(session, subscriber)
    suppress(session, sub.email, to_status.value, at, subscriber_id=sub.id)
    if sub.status == to_status.value:
        return False
    record_transition(session, sub, to_status, source, at, detail)
    return True


def unsubscribe(
    session: Session,
    subscriber: Subscriber | int,
    source: ConsentSource | str,
    at: datetime,
    detail: str = "",
) -> bool:
    """Unsubscribe at once and suppress the address; True if the status changed.

    A bounced or complained subscriber keeps that (stronger) status; the address stays suppressed.
    """
    sub = _resolve(session, subscriber)
    if sub.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        suppress(session, sub.email, sub.status, at, subscriber_id=sub.id)
        return False
    return _leave(session, sub, SubscriberStatus.UNSUBSCRIBED, source, at, detail)


def mark_bounced(session: Session, subscriber: Subscriber | int, at: datetime, detail: str = "") -> bool:
    """A hard bounce: status ``bounced`` and suppression; True if the status changed."""
    return _leave(session, subscriber, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE, at, detail)


def mark_complained(session: Session, subscriber: Subscriber | int, at: datetime, detail: str = "") -> bool:
    """A spam complaint: status ``complained`` and suppression; True if the status changed."""
    return _leave(session, subscriber, SubscriberStatus.COMPLAINED, ConsentSource.COMPLAINT, at, detail)


def add_membership(session: Session, subscriber: Subscriber, list_id: int, at: datetime) -> bool:
    """Put the subscriber on the list; True if they were not on it yet."""
    key = {"subscriber_id": subscriber.id, "list_id": list_id}
    if session.get(ListMembership, key) is not None:
        return False
    session.add(ListMembership(created_at=at, **key))
    session.flush()
    return True


def confirm(
    session: Session,
    subscriber: Subscriber | int,
    list_id: int,
    at: datetime,
    source: ConsentSource | str = ConsentSource.CONFIRMATION,
) -> bool:
    """Make the subscriber an active member of the list; fires the activation hooks.

    Lifts the suppression entry: call only on proof of consent (a fresh confirmation link, a
    single opt-in form). Returns True if the status or membership changed.
    """
    sub = _resolve(session, subscriber)
    if sub.forgotten_at is not None:
        raise InvalidValue("this subscriber was forgotten and cannot be confirmed")
    joined = add_membership(session, sub, list_id, at)
    changed = sub.status != SubscriberStatus.ACTIVE.value
    if changed:
        lift_suppression(session, sub.email)
        record_transition(session, sub, SubscriberStatus.ACTIVE, source, at)
    if changed or joined:
        fire_activated(session, sub, list_id, at)
    return changed or joined


def leave_list(
    session: Session, subscriber: Subscriber | int, list_id: int, source: ConsentSource | str, at: datetime
) -> bool:
    """Take the subscriber off one list, keeping their status; True if they were on it.

    The change is kept as a ConsentEvent whose status does not change (``detail`` names the
    list), so the consent history shows when and how a list was left.
    """
    sub = _resolve(session, subscriber)
    membership = session.get(ListMembership, {"subscriber_id": sub.id, "list_id": list_id})
    if membership is None:
        return False
    lst = session.get(SubscriberList, list_id)
    session.delete(membership)
    _note(session, sub, source, f"left list {lst.slug if lst else list_id}", at)
    session.flush()
    session.expire(sub, ["lists"])
    return True


def _note(session: Session, sub: Subscriber, source: ConsentSource | str, detail: str, at: datetime) -> None:
    """Keep a change that leaves the status as it is (a list left, a pause) in the consent history."""
    sub.updated_at = at
    session.add(
        ConsentEvent(
            subscriber_id=sub.id,
            from_status=sub.status,
            to_status=sub.status,
            source=str(source),
            detail=detail,
            at=at,
        )
    )


def pause(
    session: Session, subscriber: Subscriber | int, until: datetime, source: ConsentSource | str, at: datetime
) -> Subscriber:
    """Stop every email to the subscriber until ``until`` (the tick queues nothing for them before
    then); kept in the consent history, the status does not change."""
    sub = _resolve(session, subscriber)
    sub.paused_until = until
    _note(session, sub, source, f"paused until {until.date().isoformat()}", at)
    session.flush()
    return sub


def resume(session: Session, subscriber: Subscriber | int, source: ConsentSource | str, at: datetime) -> bool:
    """End a pause now; True if one was running."""
    sub = _resolve(session, subscriber)
    if sub.paused_until is None or sub.paused_until <= at:
        sub.paused_until = None
        return False
    sub.paused_until = None
    _note(session, sub, source, "pause ended", at)
    session.flush()
    return True


class CannotLift(ValueError):
    """The suppression may not be lifted by an admin (or there is none)."""


def lift_bounce(session: Session, email: str, note: str, at: datetime, by: str = "admin") -> Subscriber:
    """An admin lifts a suppression that a bounce put there (a relay incident, a mailbox that
    works again): the address may be mailed again and a bounced subscriber is active again.

    ``note`` (required) goes into the consent history with ``by``. Suppressions the person asked
    for (unsubscribe, complaint) are refused: only their own fresh confirmation lifts those.
    """
    note = " ".join(note.split())[:500]
    if not note:
        raise CannotLift("a note is required: say why the suppression is lifted")
    sub = find_subscriber(session, email)
    if sub is None or sub.forgotten_at is not None:
        raise CannotLift(f"no subscriber with address {email!r}")
    entry = session.scalars(select(Suppression).where(Suppression.address_hash == hash_of(sub.email))).first()
    if entry is None:
        raise CannotLift(f"{sub.email} is not suppressed")
    if entry.reason != SubscriberStatus.BOUNCED.value or sub.status in (
        SubscriberStatus.UNSUBSCRIBED.value,
        SubscriberStatus.COMPLAINED.value,
    ):
        raise CannotLift(
            f"{sub.email} is suppressed because of {entry.reason!r}:"
            " only their own fresh confirmation lifts that"
        )
    session.delete(entry)
    to_status = SubscriberStatus.ACTIVE.value if sub.status == SubscriberStatus.BOUNCED.value else sub.status
    session.add(
        ConsentEvent(
            subscriber_id=sub.id,
            from_status=sub.status,
            to_status=to_status,
            source=ConsentSource.ADMIN.value,
            detail=f"suppression lifted by {by}: {note}",
            at=at,
        )
    )
    sub.status = to_status
    sub.updated_at = at
    session.flush()
    return sub


@dataclass(frozen=True)
class SuppressedPerson:
    """A suppressed subscriber as the admin page lists them."""

    email: str
    status: str
    reason: str
    since: datetime
    detail: str  # the consent event that suppressed them (a bounce's reply)
    subscriber_id: int = 0


def suppressed_people(
    session: Session, search: str = "", limit: int = 200, *, reason: str | None = None
) -> list[SuppressedPerson]:
    """Suppressed subscribers, most recent first (``search``: part of the address; ``reason``:
    one of :data:`SUPPRESSED_STATUSES`). Suppressions of forgotten people are hashes only and are
    not listed."""
    statuses = [s.value for s in SUPPRESSED_STATUSES if reason is None or s.value == reason]
    query = (
        select(Subscriber)
        .where(Subscriber.status.in_(statuses), Subscriber.forgotten_at.is_(None))
        .order_by(Subscriber.updated_at.desc(), Subscriber.id.desc())
        .limit(limit)
    )
    if search.strip():
        query = query.where(Subscriber.email.contains(search.strip().lower(), autoescape=True))
    people = list(session.scalars(query))
    digests = {hash_of(p.email): p for p in people}
    entries = {
        e.address_hash: e
        for e in session.scalars(select(Suppression).where(Suppression.address_hash.in_(list(digests))))
    }
    out = []
    for digest, person in digests.items():
        entry = entries.get(digest)
        if entry is None:
            continue
        event = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == person.id, ConsentEvent.to_status == person.status)
            .order_by(ConsentEvent.id.desc())
            .limit(1)
        ).first()
        out.append(
            SuppressedPerson(
                person.email,
                person.status,
                entry.reason,
                entry.created_at,
                event.detail if event else "",
                person.id,
            )
        )
    return out
