"""Per-relay token bucket, back-off and pause alerts, shared by every worker through ``relay_state`` rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from delivery.models import RelayState
from wildmail.core.db import is_sqlite, write_transaction
from wildmail.core.sql import upsert_ignore
from wildmail.core.store import Store


def _row(s: Session, relay: str, now: datetime, lock: bool) -> RelayState:
    s.execute(
        upsert_ignore(s, RelayState.__table__).values(name=relay, tokens=0.0, refilled_at=now, last_reply="")
    )
    query = select(RelayState).where(RelayState.name == relay)
    if lock:
        query = query.with_for_update()
    return s.execute(query).scalar_one()


def back_off(store: Store, relay: str, until: datetime, reply: str) -> None:
    """Stop every worker from using ``relay`` until ``until`` (421 answers)."""
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        _row(s, relay, now, lock=not is_sqlite(store.engine))
        s.execute(
            update(RelayState)
            .where(RelayState.name == relay)
            .values(backoff_until=until, last_reply=reply[:500])
            .execution_options(synchronize_session=False)
        )


def acquire(store: Store, relay: str, want: int, rate: float, burst: float | None = None) -> int:
    """Take up to ``want`` send tokens (``rate`` per second, bucket size ``burst``); 0 = wait.

    ``rate <= 0`` means unlimited. The bucket lives in the database so all workers share it.
    """
    if rate <= 0 or want <= 0:
        return want
    size = burst if burst is not None else max(rate, 1.0)
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        row = _row(s, relay, now, lock=not is_sqlite(store.engine))
        elapsed = max(0.0, (now - row.refilled_at).total_seconds())
        tokens = min(size, row.tokens + elapsed * rate)
        granted = min(want, int(tokens))
        row.tokens = tokens - granted
        row.refilled_at = now
    return granted


def give_back(store: Store, relay: str, count: int) -> None:
    """Return unused tokens (claimed fewer rows than tokens taken)."""
    if count <= 0:
        return
    with write_transaction(store.engine) as s:
        s.execute(
            update(RelayState)
            .where(RelayState.name == relay)
            .values(tokens=RelayState.tokens + count)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class RelayStatus:
    """One relay's shared state as admins see it (``wildmail relay status``, the dashboard)."""

    name: str
    backoff_until: datetime | None
    last_reply: str
    alert: str
    alert_since: datetime | None
    pauses: int

    def paused(self, now: datetime) -> bool:
        return self.backoff_until is not None and self.backoff_until > now


def _status(row: RelayState) -> RelayStatus:
    return RelayStatus(row.name, row.backoff_until, row.last_reply, row.alert, row.alert_since, row.pauses)


def relay_status(store: Store, relay: str) -> RelayStatus | None:
    """The relay's state, or None when no worker has used it yet."""
    with store.session() as s:
        row = s.get(RelayState, relay)
        return _status(row) if row is not None else None


def relay_statuses(store: Store) -> list[RelayStatus]:
    """Every relay a worker has used, by name."""
    with store.session() as s:
        return [_status(r) for r in s.scalars(select(RelayState).order_by(RelayState.name))]


def pause(store: Store, relay: str, reason: str, base: timedelta, cap: timedelta) -> datetime:
    """Stop every worker from using ``relay`` and raise an alert; returns when sending resumes.

    Each pause in a row lasts twice as long as the one before (``base``, capped at ``cap``). A
    relay another worker has already paused keeps its pause: refusals seen by several workers at
    once count as one.
    """
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        row = _row(s, relay, now, lock=not is_sqlite(store.engine))
        if row.alert and row.backoff_until is not None and row.backoff_until > now:
            return row.backoff_until
        length: timedelta = min(base * (2 ** min(row.pauses, 20)), cap)
        row.backoff_until = now + length
        row.alert = reason[:1000]
        row.alert_since = row.alert_since or now
        row.pauses += 1
        row.last_reply = reason[:500]
        return now + length


def clear_alert(store: Store, relay: str) -> None:
    """The relay accepted messages again: the alert and the pause count go."""
    with write_transaction(store.engine) as s:
        s.execute(
            update(RelayState)
            .where(RelayState.name == relay)
            .values(alert="", alert_since=None, pauses=0)
            .execution_options(synchronize_session=False)
        )


class UnknownRelay(LookupError):
    """No relay of that name has been used."""


def resume(store: Store, relay: str) -> RelayStatus:
    """Lift the relay's pause and alert now (an admin fixed the cause); the pause count stays
    until a message is accepted, so a relay that still refuses is paused longer next time."""
    with write_transaction(store.engine) as s:
        row = s.get(RelayState, relay)
        if row is None:
            known = ", ".join(s.scalars(select(RelayState.name).order_by(RelayState.name)))
            raise UnknownRelay(f"no relay {relay!r} (known relays: {known or 'none'})")
        row.backoff_until = None
        row.alert = ""
        row.alert_since = None
        s.flush()
        return _status(row)
