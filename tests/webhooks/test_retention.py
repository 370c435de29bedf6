"""What the outbox keeps: only the events an enabled endpoint wants, and finished history only for
``webhooks_keep_days``; what still waits for a retry is kept whatever its age."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.webhooks.conftest import register
from webhooks.dispatch import fan_out
from webhooks.endpoints import set_enabled
from webhooks.models import WebhookDelivery
from webhooks.retention import prune
from wildmail.core.db import write_transaction
from wildmail.core.outbox import EventType, OutboxEvent, emit
from wildmail.core.settings import SettingsError, load_settings

pytestmark = pytest.mark.postgres


def _emit(ctx, event_type: EventType, n: int = 1) -> None:
    with write_transaction(ctx.engine) as s:
        for i in range(n):
            emit(s, event_type, {"subscriber_id": i, "email": f"p{i}@example.org"}, ctx.clock.now())


def _counts(ctx) -> tuple[int, list[str]]:
    with ctx.session() as s:
        events = s.scalar(select(func.count()).select_from(OutboxEvent)) or 0
        return events, sorted(s.scalars(select(WebhookDelivery.status)))


def _types(ctx) -> list[str]:
    with ctx.session() as s:
        return list(s.scalars(select(OutboxEvent.event_type).order_by(OutboxEvent.id)))


def test_only_events_an_enabled_endpoint_wants_are_stored(hooks_ctx, receiver) -> None:
    _emit(hooks_ctx, EventType.SUBSCRIBER_CREATED)  # no endpoint at all
    assert _types(hooks_ctx) == []
    endpoint = register(hooks_ctx, receiver, "subscriber.created")
    _emit(hooks_ctx, EventType.SUBSCRIBER_CREATED)
    _emit(hooks_ctx, EventType.CAMPAIGN_PAUSED)  # a type nobody subscribed to
    assert _types(hooks_ctx) == ["subscriber.created"]
    with write_transaction(hooks_ctx.engine) as s:
        set_enabled(s, endpoint, False)
    _emit(hooks_ctx, EventType.SUBSCRIBER_CREATED)
    assert _types(hooks_ctx) == ["subscriber.created"]


def test_finished_history_goes_after_the_kept_days_and_pending_stays(hooks_ctx, dispatcher, receiver) -> None:
    assert dispatcher.config.keep == timedelta(days=30)  # the default of webhooks_keep_days
    register(hooks_ctx, receiver, "subscriber.created")
    receiver.answers = [200, 200, 500]
    _emit(hooks_ctx, EventType.SUBSCRIBER_CREATED, 3)  # two delivered, one waiting for a retry
    dispatcher.until_idle()
    assert _counts(hooks_ctx) == (3, ["delivered", "delivered", "pending"])

    hooks_ctx.clock.advance(timedelta(days=29))
    _emit(hooks_ctx, EventType.SUBSCRIBER_CREATED)
    fan_out(hooks_ctx)  # its delivery waits for the dispatcher
    first = dispatcher.prune_if_due()
    assert first is not None and (first.deliveries, first.events) == (0, 0)  # nothing 30 days old yet
    assert dispatcher.prune_if_due() is None  # a running dispatcher prunes at most once an hour

    hooks_ctx.clock.advance(timedelta(days=2))  # the first three events are 31 days old, the last 2
    pruned = prune(hooks_ctx, dispatcher.config.keep)
    assert (pruned.deliveries, pruned.events) == (2, 2)  # the delivered ones and their events
    assert _counts(hooks_ctx) == (2, ["pending", "pending"])  # the retry, the new one, their events
    receiver.answers = []
    dispatcher.until_idle()
    assert _counts(hooks_ctx) == (2, ["delivered", "delivered"])


def test_the_kept_days_setting_is_checked() -> None:
    with pytest.raises(SettingsError, match="WILDMAIL_WEBHOOKS_KEEP_DAYS: expected 1 to 3650 days, got 0"):
        load_settings(environ={"WILDMAIL_WEBHOOKS_KEEP_DAYS": "0"})
    assert load_settings(environ={"WILDMAIL_WEBHOOKS_KEEP_DAYS": "7"}).webhooks_keep_days == 7
