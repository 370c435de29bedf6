"""Per-relay token bucket and back-off, shared by every worker through ``relay_state`` rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.enrolment import upsert_ignore
from delivery.models import RelayState
from wildmail.context import AppContext
from wildmail.db import is_sqlite, write_transaction


def _row(s: Session, relay: str, now: datetime, lock: bool) -> RelayState:
    s.execute(
        upsert_ignore(s, RelayState.__table__).values(name=relay, tokens=0.0, refilled_at=now, last_reply="")
    )
    query = select(RelayState).where(RelayState.name == relay)
    if lock:
        query = query.with_for_update()
    return s.execute(query).scalar_one()


def blocked_until(ctx: AppContext, relay: str) -> datetime | None:
    """When the relay's back-off ends, if it is backed off now."""
    now = ctx.clock.now()
    with ctx.session() as s:
        until = s.execute(select(RelayState.backoff_until).where(RelayState.name == relay)).scalar()
    return until if until is not None and until > now else None


def back_off(ctx: AppContext, relay: str, until: datetime, reply: str) -> None:
    """Stop every worker from using ``relay`` until ``until`` (421 answers)."""
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        _row(s, relay, now, lock=not is_sqlite(ctx.engine))
        s.execute(
            update(RelayState)
            .where(RelayState.name == relay)
            .values(backoff_until=until, last_reply=reply[:500])
            .execution_options(synchronize_session=False)
        )


def acquire(ctx: AppContext, relay: str, want: int, rate: float, burst: float | None = None) -> int:
    """Take up to ``want`` send tokens (``rate`` per second, bucket size ``burst``); 0 = wait.

    ``rate <= 0`` means unlimited. The bucket lives in the database so all workers share it.
    """
    if rate <= 0 or want <= 0:
        return want
    size = burst if burst is not None else max(rate, 1.0)
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        row = _row(s, relay, now, lock=not is_sqlite(ctx.engine))
        elapsed = max(0.0, (now - row.refilled_at).total_seconds())
        tokens = min(size, row.tokens + elapsed * rate)
        granted = min(want, int(tokens))
        row.tokens = tokens - granted
        row.refilled_at = now
    return granted


def give_back(ctx: AppContext, relay: str, count: int) -> None:
    """Return unused tokens (claimed fewer rows than tokens taken)."""
    if count <= 0:
        return
    with write_transaction(ctx.engine) as s:
        s.execute(
            update(RelayState)
            .where(RelayState.name == relay)
            .values(tokens=RelayState.tokens + count)
            .execution_options(synchronize_session=False)
        )
