"""Endpoint use cases: register (the secret is returned once), list, remove, enable, the delivery log,
resend and a test ping. Functions take a session and never commit: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from webhooks.addresses import WebhookError, check_url, refuse_private
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.signing import new_secret
from wildmail.core.outbox import EventType, OutboxEvent

ALL = "*"
PING = "webhook.ping"  # sent by ``test`` only; no endpoint subscribes to it


def parse_events(text: str | list[str]) -> list[str]:
    """Event types from ``subscriber.created,bounce`` (or ``*``/``all``), checked and de-duplicated."""
    items = text.split(",") if isinstance(text, str) else text
    names = [item.strip() for item in items if item.strip()]
    if not names:
        raise WebhookError("name at least one event type (or * for all)")
    if any(n in (ALL, "all") for n in names):
        return [ALL]
    known = {e.value for e in EventType}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WebhookError(
            f"unknown event type {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known))}, or *)"
        )
    return list(dict.fromkeys(names))


def wanted(bind: Session | Connection, event_type: EventType) -> bool:
    """Whether an enabled endpoint subscribes to ``event_type`` now (the outbox asks before it
    stores an event; endpoints are few, so they are read each time and a change counts at once)."""
    query = select(WebhookEndpoint.event_types).where(WebhookEndpoint.enabled.is_(True))
    return any(ALL in types or event_type.value in types for types in bind.execute(query).scalars())


def add_endpoint(
    session: Session,
    url: str,
    events: str | list[str],
    at: datetime,
    *,
    description: str = "",
    allow_private: bool = False,
) -> WebhookEndpoint:
    """Register an endpoint with a new secret (show ``endpoint.secret`` once, then never again)."""
    url = check_url(url)
    refuse_private(url, allow_private, unresolved_ok=True)
    description = " ".join(description.split())
    if len(description) > 500:
        raise WebhookError("the description is longer than 500 characters")
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=parse_events(events),
        secret=new_secret(),
        enabled=True,
        disabled_reason="",
        created_at=at,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def require_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """The endpoint with this id; WebhookError naming the known ids otherwise."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        known = ", ".join(
            str(i) for i in session.scalars(select(WebhookEndpoint.id).order_by(WebhookEndpoint.id))
        )
        raise WebhookError(f"no webhook endpoint {endpoint_id} (known: {known or 'none'})")
    return endpoint


def remove_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Delete the endpoint and its delivery log."""
    endpoint = require_endpoint(session, endpoint_id)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()
    return endpoint


def set_enabled(session: Session, endpoint_id: int, enabled: bool, reason: str = "") -> WebhookEndpoint:
    """Turn deliveries to the endpoint on or off (pending ones wait while it is off)."""
    endpoint = require_endpoint(session, endpoint_id)
    endpoint.enabled = enabled
    endpoint.disabled_reason = "" if enabled else reason[:500]
    session.flush()
    return endpoint


@dataclass(frozen=True)
class EndpointSummary:
    """An endpoint as lists show it (never its secret)."""

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str
    created_at: datetime
    counts: dict[str, int]  # deliveries by status


def list_endpoints(session: Session) -> list[EndpointSummary]:
    """Every endpoint with its deliveries counted by status."""
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, n in session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.endpoint_id, WebhookDelivery.status
        )
    ):
        counts.setdefault(endpoint_id, {})[status] = n
    return [
        EndpointSummary(
            e.id,
            e.url,
            e.description,
            list(e.event_types),
            e.enabled,
            e.disabled_reason,
            e.created_at,
            {s.value: counts.get(e.id, {}).get(s.value, 0) for s in DeliveryStatus},
        )
        for e in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    ]


def delivery_log(session: Session, endpoint_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries, newest first."""
    require_endpoint(session, endpoint_id)
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def _new_delivery(endpoint_id: int, event: OutboxEvent, at: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.event_type,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=at,
        last_error="",
        created_at=at,
    )


def resend(session: Session, delivery_id: int, at: datetime) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery due now (same
    ``webhook-id``, so a receiver that already has it can tell). The old row stays in the log."""
    old = session.get(WebhookDelivery, delivery_id)
    if old is None:
        raise WebhookError(f"no webhook delivery {delivery_id}")
    event = session.get(OutboxEvent, old.event_id)
    if event is None:  # pragma: no cover - the foreign key cascades
        raise WebhookError(f"the event of delivery {delivery_id} is gone")
    fresh = _new_delivery(old.endpoint_id, event, at)
    session.add(fresh)
    session.flush()
    return fresh


def send_test(session: Session, endpoint_id: int, at: datetime) -> WebhookDelivery:
    """Queue a ``webhook.ping`` event for this endpoint alone (due now)."""
    endpoint = require_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookError(f"endpoint {endpoint_id} is disabled; enable it first")
    event = OutboxEvent(event_type=PING, payload={"endpoint_id": endpoint.id}, created_at=at, dispatched=True)
    session.add(event)
    session.flush()
    delivery = _new_delivery(endpoint.id, event, at)
    session.add(delivery)
    session.flush()
    return delivery
