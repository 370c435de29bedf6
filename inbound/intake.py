"""The one normaliser: a received message (SMTP, LMTP, IMAP, a file, a provider event) -> a decision.

The delivery is found from the signed address it came back to (``b-<token>@`` return path,
``u-<token>@`` unsubscribe address, see :mod:`wildmail.core.tokens`); when a relay rewrote the
return path, from the returned original's Message-ID (whose keyed tag is checked). A forged or
mangled token, an unknown delivery, a message over the size limit, a message seen before or one
sent from our own bounce addresses (a loop) is kept and ignored with a log line, never acted upon.
Every message is kept (raw, cut at ``inbound_keep_bytes``) with its kind, the action and why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from delivery.models import Delivery, DeliveryKind
from inbound import policy
from inbound.models import InboundMessage
from inbound.parse import BOUNCES, Finding, Kind, Reading, read_message
from subscribers.lifecycle import find_subscriber
from subscribers.models import ConsentSource, Subscriber
from tracking.lookup import DeliveryMeta
from tracking.models import Classification, Event, EventKind
from tracking.unsubscribe import unsubscribe_delivery
from wildmail.core import tokens
from wildmail.core.db import write_transaction
from wildmail.core.message_ids import campaign_tag
from wildmail.core.outbox import EventType, emit
from wildmail.core.settings import Settings

log = logging.getLogger("wildmail.inbound")

ADDRESS_WINDOW = timedelta(days=30)
# A campaign delivery's Message-ID; a resend has ".r" before the tag (wildmail.core.message_ids).
MESSAGE_ID = re.compile(r"<wm\.(\d{1,18})\.(\d{1,9})\.(\d{1,18})(\.r)?\.([0-9a-f]{12})@[^>\s]+>")


class Action:
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"
    COUNTED = "counted"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Arrival:
    """One message as it arrived: the bytes and the envelope recipients (RCPT TO) when known."""

    raw: bytes
    via: str
    envelope_to: tuple[str, ...] = ()
    size: int = -1  # the full size when ``raw`` was cut short on the way in


@dataclass(frozen=True)
class Intake:
    """What the intake needs: the signing key, the size limits and the policy."""

    secret: bytes
    max_bytes: int = 10_000_000
    keep_bytes: int = 262_144
    bounce_domain: str = ""
    policy: policy.Policy = field(default_factory=policy.Policy)

    @classmethod
    def from_settings(cls, s: Settings) -> Intake:
        return cls(
            secret=s.secret,
            max_bytes=s.inbound_max_bytes,
            keep_bytes=s.inbound_keep_bytes,
            bounce_domain=s.bounce_domain.lower(),
            policy=policy.Policy.from_settings(s),
        )


@dataclass(frozen=True)
class Decision:
    """What one message was taken for and what it changed."""

    kind: str
    action: str
    reason: str
    delivery_id: int | None = None
    recipient: str = ""
    status: str = ""
    paused: str = ""  # the circuit breaker's reason when this message paused a campaign
    record_id: int | None = None


def verify_recipient(intake: Intake, address: str) -> str | None:
    """Why ``address`` is not one of ours (None when it is): the SMTP listener refuses it at RCPT."""
    try:
        tokens.parse_address(intake.secret, address)
    except tokens.BadToken as exc:
        return str(exc)
    return None


def process(engine: Engine, intake: Intake, arrival: Arrival, now: datetime) -> Decision:
    """Read, decide and record one message in one write transaction; never raises on its content."""
    size = arrival.size if arrival.size >= 0 else len(arrival.raw)
    digest = hashlib.sha256(arrival.raw).hexdigest()
    if size > intake.max_bytes:
        early = Decision(Kind.UNKNOWN.value, Action.IGNORED, f"{size} bytes is over inbound_max_bytes")
        return _run(engine, intake, arrival, digest, size, None, early, now)
    reading = read_message(arrival.raw)
    return _run(engine, intake, arrival, digest, size, reading, None, now)


def process_event(
    engine: Engine,
    intake: Intake,
    arrival: Arrival,
    event_id: str,
    finding: Finding,
    message_ids: Sequence[str],
    now: datetime,
) -> Decision:
    """A provider's (verified) event: the same decisions as for a message; a replayed event id is
    ignored. Providers rewrite the return path, so the delivery may also be found by address."""
    digest = hashlib.sha256(f"event:{event_id}".encode()).hexdigest()
    reading = Reading((finding,), message_ids=tuple(message_ids))
    return _run(engine, intake, arrival, digest, len(arrival.raw), reading, None, now, by_address=True)


def _run(
    engine: Engine,
    intake: Intake,
    arrival: Arrival,
    digest: str,
    size: int,
    reading: Reading | None,
    early: Decision | None,
    now: datetime,
    *,
    by_address: bool = False,
) -> Decision:
    decision = early or Decision(Kind.UNKNOWN.value, Action.IGNORED, "")
    try:
        with write_transaction(engine) as session:
            before = session.scalars(select(InboundMessage).where(InboundMessage.digest == digest)).first()
            if before is not None:
                decision = Decision(
                    before.kind, Action.IGNORED, "received before: already handled", before.delivery_id
                )
            else:
                if reading is not None:
                    decision = _decide(session, intake, arrival, reading, now, by_address)
                decision = _record(session, intake, arrival, decision, digest, size, now)
    except IntegrityError:  # the same message committed by another listener meanwhile
        decision = replace(decision, action=Action.IGNORED, reason="received before: already handled")
    _log(arrival, decision)
    return decision


def _log(arrival: Arrival, d: Decision) -> None:
    where = f"delivery {d.delivery_id}" if d.delivery_id is not None else "no delivery"
    level = (
        logging.INFO if d.action != Action.IGNORED or d.kind in ("auto_reply", "delay") else logging.WARNING
    )
    log.log(level, "inbound %s message: %s, %s (%s): %s", arrival.via, d.kind, d.action, where, d.reason)
    if d.kind == Kind.BLOCK.value:
        log.warning("alert: delivery %s refused for policy or reputation: %s", d.delivery_id, d.reason)


def _record(
    session: Session, intake: Intake, arrival: Arrival, d: Decision, digest: str, size: int, now: datetime
) -> Decision:
    delivery = session.get(Delivery, d.delivery_id) if d.delivery_id is not None else None
    row = InboundMessage(
        digest=digest,
        received_at=now,
        via=arrival.via[:16],
        size=size,
        raw=arrival.raw[: intake.keep_bytes],
        envelope_to=", ".join(arrival.envelope_to)[:2000],
        kind=d.kind,
        action=d.action,
        reason=d.reason[:2000],
        status=d.status[:16],
        delivery_id=delivery.id if delivery else None,
        subscriber_id=delivery.subscriber_id if delivery else None,
        campaign_id=delivery.campaign_id if delivery else None,
    )
    session.add(row)
    session.flush()
    return replace(d, record_id=row.id)


def _find_by_token(intake: Intake, addresses: Sequence[str]) -> tuple[str, int] | str | None:
    """``(purpose, delivery id)`` from the first b-/u- address, a reason string for a forged one,
    None when no address looks like ours."""
    for address in addresses:
        local = address.rpartition("@")[0].lower()
        if not re.match(r"[bu]-", local):
            continue
        try:
            return tokens.parse_address(intake.secret, address)
        except tokens.BadToken as exc:
            return f"address {address!r} carries a forged or mangled token ({exc})"
    return None


def _find_by_message_id(session: Session, intake: Intake, ids: Sequence[str]) -> Delivery | None:
    for mid in ids:
        found = MESSAGE_ID.fullmatch(mid.strip())
        if found is None:
            continue
        campaign_id, position, subscriber_id = int(found[1]), int(found[2]), int(found[3])
        kind = DeliveryKind.RESEND if found[4] else DeliveryKind.FIRST
        if not hmac.compare_digest(found[5], campaign_tag(intake.secret, campaign_id)):
            continue
        delivery = session.scalars(
            select(Delivery).where(
                Delivery.subscriber_id == subscriber_id,
                Delivery.campaign_id == campaign_id,
                Delivery.position == position,
                Delivery.kind == kind.value,
            )
        ).first()
        if delivery is not None:
            return delivery
    return None


def _latest_to(session: Session, address: str, now: datetime) -> Delivery | None:
    """The latest delivery sent to ``address`` within :data:`ADDRESS_WINDOW` (a provider's event
    that names only the recipient; the provider's signature vouches for it)."""
    person = find_subscriber(session, address)
    if person is None:
        return None
    return session.scalars(
        select(Delivery)
        .where(Delivery.subscriber_id == person.id, Delivery.sent_at >= now - ADDRESS_WINDOW)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    ).first()


def _decide(
    session: Session, intake: Intake, arrival: Arrival, reading: Reading, now: datetime, by_address: bool
) -> Decision:
    finding = reading.findings[0]
    base = Decision(
        reading.kind.value, Action.IGNORED, finding.why, recipient=finding.recipient, status=finding.status
    )
    ours = {f"@{intake.bounce_domain}"} if intake.bounce_domain else set()
    if reading.sender and (
        any(reading.sender.lower().endswith(d) for d in ours)
        or re.match(r"[bu]-\d+-", reading.sender.lower())
    ):
        return replace(
            base, reason=f"sent from our own bounce address ({reading.sender}): a loop, not answered"
        )
    addresses = list(arrival.envelope_to) or list(reading.recipients)
    found = _find_by_token(intake, addresses)
    if isinstance(found, str):
        return replace(base, reason=found)
    delivery: Delivery | None = None
    purpose = tokens.RETURN_PATH
    if found is not None:
        purpose, delivery_id = found
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return replace(base, reason=f"valid token for delivery {delivery_id}, which no longer exists")
    else:
        delivery = _find_by_message_id(session, intake, reading.message_ids)
        if delivery is None and by_address and finding.recipient:
            delivery = _latest_to(session, finding.recipient, now)
        if delivery is None:
            return replace(
                base, reason=f"{finding.why}; no delivery of ours found (no signed address or Message-ID)"
            )
    base = replace(base, delivery_id=delivery.id)
    if purpose == tokens.MAILTO:
        if reading.kind in BOUNCES or reading.kind in (Kind.DELAY, Kind.AUTO_REPLY):
            return replace(base, reason=f"{reading.kind.value} sent to an unsubscribe address: not a request")
        return _unsubscribe(session, delivery, base, now)
    return _apply(session, intake, delivery, finding, base, now)


def _unsubscribe(session: Session, delivery: Delivery, base: Decision, now: datetime) -> Decision:
    meta = _meta(session, delivery)
    changed = unsubscribe_delivery(session, meta, now, source=ConsentSource.MAILTO)
    why = "mail to the List-Unsubscribe address" + ("" if changed else " (already unsubscribed)")
    return replace(base, kind="unsubscribe", action=Action.UNSUBSCRIBED, reason=why)


def _meta(session: Session, delivery: Delivery) -> DeliveryMeta:
    campaign = session.get(Campaign, delivery.campaign_id)
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    return DeliveryMeta(
        delivery_id=delivery.id,
        subscriber_id=delivery.subscriber_id,
        campaign_id=delivery.campaign_id,
        email_id=delivery.email_id,
        sent_at=delivery.sent_at,
        track_identity=bool(campaign.track_identity) if campaign else False,
        campaign_slug=campaign.slug if campaign else "",
        list_id=campaign.list_id if campaign else None,
        forgotten=bool(subscriber and subscriber.forgotten_at is not None),
    )


def _event(session: Session, delivery: Delivery, kind: EventKind, reason: str, now: datetime) -> None:
    campaign = session.get(Campaign, delivery.campaign_id)
    identity = bool(campaign and campaign.track_identity)
    session.add(
        Event(
            uid=hashlib.sha256(f"inbound:{kind}:{delivery.id}".encode()).hexdigest(),
            kind=kind.value,
            classification=Classification.HUMAN.value,
            delivery_id=delivery.id if identity else None,
            campaign_id=delivery.campaign_id,
            email_id=delivery.email_id,
            link_id=None,
            at=now,
            reason=reason,
            implied=False,
        )
    )


def _seen(session: Session, delivery: Delivery, kinds: Sequence[Kind]) -> bool:
    """Whether a bounce or complaint of these kinds was already recorded for the delivery."""
    return (
        session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.delivery_id == delivery.id,
                InboundMessage.kind.in_([k.value for k in kinds]),
                InboundMessage.action != Action.IGNORED,
            )
        )
        is not None
    )


def _apply(
    session: Session, intake: Intake, delivery: Delivery, finding: Finding, base: Decision, now: datetime
) -> Decision:
    kind = finding.kind
    if kind not in BOUNCES and kind is not Kind.COMPLAINT:
        return base  # delays, auto-replies, unknown mail: kept, nothing changes
    detail = f"{kind.value} {finding.status} {finding.diagnostic or finding.why}".strip()[:500]
    if (
        _seen(session, delivery, [Kind.HARD, Kind.SOFT, Kind.BLOCK, Kind.COMPLAINT])
        and kind is not Kind.COMPLAINT
    ):
        return replace(base, reason=f"{finding.why}; this delivery's bounce was counted before")
    if kind is Kind.COMPLAINT:
        if _seen(session, delivery, [Kind.COMPLAINT]):
            return replace(base, reason="complaint about this delivery counted before")
        policy.complaint(session, delivery, detail, now)
        _event(session, delivery, EventKind.COMPLAINT, "complaint", now)
        decision = replace(
            base, action=Action.SUPPRESSED, reason=f"{finding.why}: unsubscribed from everything"
        )
    elif kind is Kind.HARD:
        policy.hard_bounce(session, delivery, detail, now)
        _event(session, delivery, EventKind.BOUNCE, Kind.HARD.value, now)
        decision = replace(base, action=Action.SUPPRESSED, reason=finding.why)
    elif kind is Kind.BLOCK:
        _event(session, delivery, EventKind.BOUNCE, Kind.BLOCK.value, now)
        decision = replace(base, action=Action.COUNTED, reason=f"{finding.why}; counted against the campaign")
    else:
        _event(session, delivery, EventKind.BOUNCE, Kind.SOFT.value, now)
        score = policy.soft_score(session, delivery.subscriber_id, intake.policy, now, bouncing=delivery.id)
        limit = intake.policy.soft_threshold
        if score >= limit:
            why = f"{finding.why}; {score} soft bounces among the last {intake.policy.soft_window} sends"
            policy.hard_bounce(session, delivery, f"soft bounces: {why}", now, mark_delivery=False)
            decision = replace(base, action=Action.SUPPRESSED, reason=why)
        else:
            decision = replace(
                base, action=Action.COUNTED, reason=f"{finding.why}; soft-bounce score {score} of {limit}"
            )
    _announce(session, delivery, finding, decision, now)
    paused = policy.breaker(session, delivery.campaign_id, intake.policy, now)
    return replace(decision, paused=paused)


def _announce(
    session: Session, delivery: Delivery, finding: Finding, decision: Decision, now: datetime
) -> None:
    """The ``bounce`` or ``complaint`` event: ids and what was decided (never the remote server's
    words, which may quote the address)."""
    data = {
        "delivery_id": delivery.id,
        "subscriber_id": delivery.subscriber_id,
        "campaign_id": delivery.campaign_id,
        "email_id": delivery.email_id,
        "suppressed": decision.action == Action.SUPPRESSED,
    }
    if finding.kind is Kind.COMPLAINT:
        emit(session, EventType.COMPLAINT, data, now)
    else:
        emit(session, EventType.BOUNCE, {**data, "kind": finding.kind.value, "status": finding.status}, now)
