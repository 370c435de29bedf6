"""How long outbound-webhook history is kept: finished deliveries (delivered or failed) and the
outbox events nothing waits for any more are deleted once older than ``webhooks_keep_days``,
so the outbox and the delivery log stay small however many people an import creates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, delete, exists, select

from webhooks.models import DeliveryStatus, WebhookDelivery
from wildmail.core.db import write_transaction
from wildmail.core.outbox import OutboxEvent
from wildmail.core.store import Store

BATCH = 5_000  # rows per write transaction, so the worker's marks never wait long behind a prune
FINISHED = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value)


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    events: int


def prune(store: Store, keep: timedelta) -> Pruned:
    """Delete finished deliveries and dispatched events created more than ``keep`` ago; pending
    deliveries and the events they carry stay whatever their age."""
    cutoff = store.clock.now() - keep
    old_deliveries = select(WebhookDelivery.id).where(
        WebhookDelivery.created_at < cutoff, WebhookDelivery.status.in_(FINISHED)
    )
    waited_for = exists().where(WebhookDelivery.event_id == OutboxEvent.id)
    old_events = select(OutboxEvent.id).where(
        OutboxEvent.dispatched.is_(True), OutboxEvent.created_at < cutoff, ~waited_for
    )
    deliveries = _delete_in_batches(store, WebhookDelivery, old_deliveries)
    events = _delete_in_batches(store, OutboxEvent, old_events)
    return Pruned(deliveries, events)


def _delete_in_batches(
    store: Store, table: type[WebhookDelivery] | type[OutboxEvent], ids: Select[tuple[int]]
) -> int:
    total = 0
    while True:
        with write_transaction(store.engine) as s:
            batch = list(s.scalars(ids.limit(BATCH)))
            if batch:
                s.execute(delete(table).where(table.id.in_(batch)))
        total += len(batch)
        if len(batch) < BATCH:
            return total
