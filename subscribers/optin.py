"""Subscribing with double (or explicitly single) opt-in, and confirmation links.

A confirmation token is ``sign_ints(secret, PURPOSE, subscriber_id, list_id, issued_at_µs)``;
it expires ``CONFIRM_TTL`` after issue and is refused when the subscriber left (unsubscribed,
bounced, complained) after it was issued, so re-subscribing always needs a fresh confirmation.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.addresses import normalise_email, normalise_locale, normalise_name, normalise_timezone
from subscribers.lifecycle import SUPPRESSED_STATUSES, add_membership, confirm, find_subscriber
from subscribers.models import ConsentEvent, ConsentSource, Subscriber, SubscriberList, SubscriberStatus
from templates import EMAIL_DIR
from wildmail.core.message_ids import one_off_message_id, sender_domain
from wildmail.core.outbox import EventType, emit
from wildmail.core.settings import Settings
from wildmail.core.signing import BadToken, sign_ints, verify_ints

PURPOSE = "subscribers.confirm"
CONFIRM_TTL = timedelta(days=7)
# The public form must not be a way to flood someone's inbox: one confirmation per address and
# list per interval, and a few per address per day over all lists, from the form (an admin asking
# through the CLI is not throttled).
FORM_RESEND_INTERVAL = timedelta(minutes=10)
FORM_CONFIRMATIONS_PER_DAY = 3
CONFIRMATION_SENT_DETAIL = "confirmation sent for list "
TEMPLATES = EMAIL_DIR
# Shipped templates only, but they show what strangers typed into the public form: sandboxed anyway.
_env = ImmutableSandboxedEnvironment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
    keep_trailing_newline=True,
)

Send = Callable[[EmailMessage], None]


class Outcome(enum.StrEnum):
    CONFIRMATION_SENT = "confirmation_sent"
    CONFIRMATION_RECENT = "confirmation_recent"  # one was sent moments ago; not sent again
    ACTIVATED = "activated"
    ALREADY_ACTIVE = "already_active"


@dataclass
class SubscribeResult:
    subscriber: Subscriber
    outcome: Outcome
    confirm_url: str = ""


class ConfirmationInvalid(ValueError):
    """Tampered token, or the subscriber/list no longer exists (HTTP 404)."""


class ConfirmationExpired(ValueError):
    """The link is too old, or older than the subscriber's last unsubscription (HTTP 410)."""


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def confirmation_token(secret: bytes, subscriber_id: int, list_id: int, issued_at: datetime) -> str:
    """A signed token for the confirmation link."""
    return sign_ints(secret, PURPOSE, subscriber_id, list_id, _micros(issued_at))


def confirmation_url(settings: Settings, subscriber_id: int, list_id: int, issued_at: datetime) -> str:
    """The absolute URL a subscriber follows to confirm."""
    token = confirmation_token(settings.secret, subscriber_id, list_id, issued_at)
    return f"{settings.base_url}/confirm/{token}"


def read_token(
    secret: bytes, token: str, now: datetime, ttl: timedelta = CONFIRM_TTL
) -> tuple[int, int, datetime]:
    """``(subscriber_id, list_id, issued_at)`` of a valid token; raises Invalid/Expired."""
    try:
        sid, lid, issued_us = verify_ints(secret, PURPOSE, token, 3)
    except BadToken:
        raise ConfirmationInvalid("this confirmation link is not valid") from None
    issued = datetime.fromtimestamp(issued_us / 1_000_000, UTC)
    if now - issued > ttl:
        raise ConfirmationExpired("this confirmation link has expired; please subscribe again")
    if issued - now > timedelta(minutes=5):
        raise ConfirmationInvalid("this confirmation link is not valid")
    return sid, lid, issued


def _left_at(session: Session, subscriber_id: int) -> datetime | None:
    """When the person last left (a real transition into a leaving status), if ever."""
    leaving = [s.value for s in SUPPRESSED_STATUSES]
    return session.scalar(
        select(func.max(ConsentEvent.at)).where(
            ConsentEvent.subscriber_id == subscriber_id,
            ConsentEvent.to_status.in_(leaving),
            ConsentEvent.from_status.is_distinct_from(ConsentEvent.to_status),
        )
    )


def confirm_by_token(
    session: Session, secret: bytes, token: str, now: datetime
) -> tuple[Subscriber, SubscriberList, bool]:
    """Check the token and confirm: ``(subscriber, list, changed)``. Nothing changes on error."""
    sid, lid, issued = read_token(secret, token, now)
    sub = session.get(Subscriber, sid)
    lst = session.get(SubscriberList, lid)
    if sub is None or lst is None or sub.forgotten_at is not None:
        raise ConfirmationInvalid("this confirmation link is not valid")
    left = _left_at(session, sid)
    if left is not None and _micros(left) >= _micros(issued):
        raise ConfirmationExpired("this link is older than your unsubscription; please subscribe again")
    changed = confirm(session, sub, lid, now, ConsentSource.CONFIRMATION)
    return sub, lst, changed


def list_of_token(session: Session, secret: bytes, token: str, now: datetime) -> SubscriberList | None:
    """The list a confirmation token is for (None when the list is gone); raises Invalid/Expired."""
    _sid, lid, _issued = read_token(secret, token, now)
    return session.get(SubscriberList, lid)


def build_confirmation(
    settings: Settings, sub: Subscriber, lst: SubscriberList, url: str, at: datetime
) -> EmailMessage:
    """The confirmation email: multipart text + HTML rendered from ``templates/email``."""
    values = {
        "name": sub.name,
        "list_name": lst.name,
        "confirm_url": url,
        "organisation": settings.organisation,
        "postal_address": settings.postal_address,
        "valid_days": CONFIRM_TTL.days,
    }
    msg = EmailMessage()
    msg["Subject"] = f"Please confirm your subscription to {lst.name}"
    msg["From"] = Address(settings.sender_name, addr_spec=settings.sender_address)
    msg["To"] = Address(sub.name, addr_spec=sub.email) if sub.email.isascii() else sub.email
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = one_off_message_id("confirm", sender_domain(settings.sender_address))
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_env.get_template("confirmation.txt.j2").render(values))
    msg.add_alternative(_env.get_template("confirmation.html.j2").render(values), subtype="html")
    return msg


def upsert_person(
    session: Session,
    lst: SubscriberList,
    sub: Subscriber | None,
    normalised: str,
    at: datetime,
    *,
    name: str,
    timezone: str | None,
    locale: str | None,
    source: ConsentSource,
    attributes: dict[str, Any] | None = None,
) -> Subscriber:
    """The person behind ``normalised`` (``sub`` when already found): created pending, with their
    first consent event and a ``subscriber.created`` event, or their profile updated with what was
    given (``attributes`` merged)."""
    clean_name, tz, loc = normalise_name(name), normalise_timezone(timezone), normalise_locale(locale)
    if sub is None:
        sub = Subscriber(
            email=normalised, name=clean_name, timezone=tz, locale=loc, attributes=dict(attributes or {}),
            status=SubscriberStatus.PENDING.value, consent_source=source.value, created_at=at, updated_at=at,
        )  # fmt: skip
        session.add(sub)
        session.flush()
        session.add(ConsentEvent(subscriber_id=sub.id, from_status=None, to_status=sub.status,
                                 source=source.value, detail=f"list {lst.slug}", at=at))  # fmt: skip
        data = {"subscriber_id": sub.id, "email": sub.email, "status": sub.status, "list": lst.slug}
        emit(session, EventType.SUBSCRIBER_CREATED, {**data, "source": source.value}, at)
        return sub
    sub.name = clean_name or sub.name
    sub.timezone = tz or sub.timezone
    sub.locale = loc if locale else sub.locale
    if attributes:
        sub.attributes = {**(sub.attributes or {}), **attributes}
    sub.updated_at = at
    return sub


def subscribe(
    session: Session,
    settings: Settings,
    lst: SubscriberList,
    email: str,
    at: datetime,
    send: Send,
    *,
    name: str = "",
    timezone: str | None = None,
    locale: str | None = None,
    source: ConsentSource = ConsentSource.FORM,
) -> SubscribeResult:
    """Subscribe an address to a list (raises ``InvalidValue`` for a bad address/field).

    Double opt-in lists (and anyone who left before) get a confirmation email through ``send``;
    single opt-in lists activate at once. ``send`` is called before the caller commits, so a
    failed send leaves nothing behind when the caller rolls back.
    """
    normalised = normalise_email(email)
    found = find_subscriber(session, normalised)
    sub = upsert_person(
        session, lst, found, normalised, at, name=name, timezone=timezone, locale=locale, source=source
    )
    left = sub.status in SUPPRESSED_STATUSES
    if not lst.double_opt_in and not left:
        changed = confirm(session, sub, lst.id, at, source)
        return SubscribeResult(sub, Outcome.ACTIVATED if changed else Outcome.ALREADY_ACTIVE)
    if sub.status == SubscriberStatus.PENDING.value:
        add_membership(session, sub, lst.id, at)
    elif sub.status == SubscriberStatus.ACTIVE.value and any(m.id == lst.id for m in sub.lists):
        return SubscribeResult(sub, Outcome.ALREADY_ACTIVE)
    session.flush()
    if source is ConsentSource.FORM and (
        _sent_recently(session, sub, lst, at) or _sent_today(session, sub, at) >= FORM_CONFIRMATIONS_PER_DAY
    ):
        return SubscribeResult(sub, Outcome.CONFIRMATION_RECENT)
    url = confirmation_url(settings, sub.id, lst.id, at)
    send(build_confirmation(settings, sub, lst, url, at))
    detail = CONFIRMATION_SENT_DETAIL + lst.slug
    session.add(ConsentEvent(subscriber_id=sub.id, from_status=sub.status, to_status=sub.status,
                             source=source.value, detail=detail, at=at))  # fmt: skip
    return SubscribeResult(sub, Outcome.CONFIRMATION_SENT, url)


def _sent_today(session: Session, sub: Subscriber, at: datetime) -> int:
    """How many confirmation emails (for any list) the person was sent in the 24 hours before ``at``."""
    count = session.scalar(
        select(func.count()).where(
            ConsentEvent.subscriber_id == sub.id,
            ConsentEvent.at > at - timedelta(days=1),
            ConsentEvent.detail.startswith(CONFIRMATION_SENT_DETAIL, autoescape=True),
        )
    )
    return count or 0


def _sent_recently(session: Session, sub: Subscriber, lst: SubscriberList, at: datetime) -> bool:
    """True when the person's latest consent event is a confirmation for this list sent within the
    resend interval: the form was simply submitted again, nothing happened in between."""
    latest = session.execute(
        select(ConsentEvent.detail, ConsentEvent.at)
        .where(ConsentEvent.subscriber_id == sub.id)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    ).first()
    return (
        latest is not None
        and latest.detail == CONFIRMATION_SENT_DETAIL + lst.slug
        and latest.at > at - FORM_RESEND_INTERVAL
    )
