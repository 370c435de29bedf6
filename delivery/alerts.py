"""Relay trouble as one-line alerts for ``campaign status``, ``wildmail stats`` and the dashboard:
a paused relay (with its reason and until when) and deliveries waiting for a retry (with the
relay's last answer), so a dead relay never looks like a queue."""

from __future__ import annotations

from datetime import datetime

from delivery import ratelimit
from delivery.queue_state import queue_state
from wildmail.core.store import Store


def _at(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when is not None else "later"


def relay_alerts(store: Store, campaign_id: int | None = None) -> list[str]:
    """Why mail is not going out, one line each (empty when nothing is wrong)."""
    now = store.clock.now()
    alerts = []
    for relay in ratelimit.relay_statuses(store):
        if relay.paused(now):
            reason = relay.alert or relay.last_reply or "no reason recorded"
            alerts.append(f"relay {relay.name} is paused until {_at(relay.backoff_until)}: {reason}")
        elif relay.alert:
            alerts.append(f"relay {relay.name}: {relay.alert} (since {_at(relay.alert_since)})")
    waiting = queue_state(store.engine, now, campaign_id)
    if waiting.retrying:
        alerts.append(
            f"{waiting.retrying} deliveries could not be sent and wait for a retry, the next at "
            f"{_at(waiting.next_retry_at)}; last answer: {waiting.last_reply or 'none recorded'}"
        )
    return alerts
