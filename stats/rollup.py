"""Fold new ``events`` rows into the rollup tables, incrementally and exactly once.

A report calls :func:`refresh` first: it reads events with ``id`` above the cursor in batches,
updates the per-delivery bit sets (``stats_marks``) and the counters, and moves the cursor, all
in one write transaction per batch (so two refreshers cannot fold the same events twice).
The cost is proportional to the events that arrived since the last report.

Events are folded once, so only *settled* events are folded: those older than :data:`SETTLE`.
Tracking may reclassify a stored human click as a bot when a honeypot hit arrives within
``HONEYPOT_WINDOW`` (10 s) of it, and the writer commits within a second or so; waiting longer
than both means no folded row can change afterwards. The same wait covers PostgreSQL
transactions committing out of id order (several tracking processes): a lower id still in
flight is far younger than the settle time. Folding stops at the first unsettled event in id
order, so the cursor never passes one. Figures therefore lag live traffic by up to
:data:`SETTLE`. Repeated clicks (``REPEAT_WINDOW`` in :mod:`stats.definitions`) are found here
and left out of every figure. :func:`rebuild` (``wildmail stats --rebuild``) recomputes everything from the
event log, e.g. after editing events by hand.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, Table, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from campaigns.models import Email, Link
from campaigns.variant_models import SubjectVariant, VariantRole
from delivery.models import Delivery, DeliveryKind
from stats import definitions as d
from stats.models import StatsCursor, StatsHourly, StatsLink, StatsMark, StatsTotal
from tracking.classify import HONEYPOT_WINDOW
from tracking.models import Event
from wildmail.core.db import write_transaction

CURSOR = "events"
SETTLE = HONEYPOT_WINDOW + timedelta(seconds=20)  # honeypot window + writer delay, with room to spare
_MARKS: Table = StatsMark.__table__  # type: ignore[assignment]
BATCH = 20_000
_CHUNK = 2000


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _bump(session: Session, model: Any, keys: Sequence[str], counts: Counter[tuple[Any, ...]]) -> None:
    """Add ``counts`` to counter rows, creating them when missing."""
    if not counts:
        return
    stmt = _insert(session, model.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in model.__table__.primary_key.columns],
        set_={"n": model.__table__.c.n + stmt.excluded.n},
    )
    rows = [dict(zip(keys, key, strict=True), n=n) for key, n in counts.items()]
    session.execute(stmt, rows)


class _Folder:
    """Turns a batch of event rows into counter increments and new delivery bits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.positions: dict[int, int] = {}
        self.link_kinds: dict[int, tuple[str, int]] = {}
        self.totals: Counter[tuple[int, int, str]] = Counter()
        self.hourly: Counter[tuple[int, str, int]] = Counter()
        self.links: Counter[tuple[int, str, int]] = Counter()
        self.bits: dict[int, list[int]] = {}  # delivery id -> [campaign, position, bits]
        self.resends: set[int] = set()  # ids of resend deliveries among the batch's

    def _load_lookups(self, rows: Sequence[Row[Any]]) -> None:
        email_ids = {r.email_id for r in rows} - self.positions.keys()
        for chunk in _chunks(sorted(email_ids)):
            for eid, pos in self.session.execute(select(Email.id, Email.position).where(Email.id.in_(chunk))):
                self.positions[eid] = pos
        link_ids = {r.link_id for r in rows if r.link_id is not None} - self.link_kinds.keys()
        for chunk in _chunks(sorted(link_ids)):
            q = select(Link.id, Link.kind, Link.email_id).where(Link.id.in_(chunk))
            for lid, kind, eid in self.session.execute(q):
                self.link_kinds[lid] = (kind, eid)

    def _load_resends(self, rows: Sequence[Row[Any]]) -> None:
        """Which deliveries are resends (their figures have their own position): one probe of a
        small table, and only where resends exist, a primary-key read per 2,000 deliveries."""
        any_resend = exists().where(SubjectVariant.role == VariantRole.RESEND.value)
        if not self.session.scalar(select(any_resend)):
            return
        ids = sorted({r.delivery_id for r in rows if r.delivery_id is not None})
        for chunk in _chunks(ids):
            q = select(Delivery.id).where(Delivery.id.in_(chunk), Delivery.kind == DeliveryKind.RESEND.value)
            self.resends.update(self.session.scalars(q))

    def fold(self, rows: Sequence[Row[Any]]) -> None:
        self._load_lookups(rows)
        self._load_resends(rows)
        repeats = _repeated_clicks(self.session, rows)
        for r in rows:
            if r.id not in repeats:
                self._one(r)

    def _one(self, r: Row[Any]) -> None:
        camp, pos = r.campaign_id, self.positions.get(r.email_id, 0)
        if r.delivery_id in self.resends:
            pos = d.resend_position(pos)
        hour = int(r.at.timestamp() // 3600)
        human = r.classification == "human"
        t = self.totals
        bits = 0
        if r.kind == "open":
            if r.implied:
                t[camp, pos, d.OPENS_IMPLIED] += 1
            else:
                t[camp, pos, d.OPENS_HUMAN if human else d.OPENS_MACHINE] += 1
            if human:
                bits |= d.HUMAN_OPEN
                self.hourly[camp, "opens", hour] += 1
            elif not r.implied:
                bits |= d.MACHINE_OPEN
        elif r.kind == "click":
            kind = self.link_kinds.get(r.link_id, ("content", 0))[0] if r.link_id else "content"
            t[camp, pos, d.CLICKS_RAW] += 1
            if r.link_id is not None:
                self.links[r.link_id, d.LINK_ALL, camp] += 1
            if kind == "donation":
                t[camp, pos, d.DONATION_CLICKS_RAW] += 1
            if human and kind in ("content", "donation"):
                bits |= d.HUMAN_CLICK | d.HUMAN_OPEN
                t[camp, pos, d.CLICKS_HUMAN] += 1
                self.hourly[camp, "clicks", hour] += 1
                if r.link_id is not None:
                    self.links[r.link_id, d.LINK_HUMAN, camp] += 1
                if kind == "donation":
                    bits |= d.DONATION
                    t[camp, pos, d.DONATION_CLICKS] += 1
                    self.hourly[camp, "donations", hour] += 1
        elif r.kind == "unsubscribe":
            bits |= d.UNSUBSCRIBE
            t[camp, pos, d.UNSUB_EVENTS] += 1
            self.hourly[camp, "unsubscribes", hour] += 1
        elif r.kind == "complaint":
            bits |= d.COMPLAINT
            t[camp, pos, d.COMPLAINT_EVENTS] += 1
        elif r.kind == "bounce":  # reason: hard | soft | block (inbound), '' before it existed
            bits |= d.BOUNCE_KIND_BITS.get(r.reason, d.BOUNCE)
            t[camp, pos, d.BOUNCE_EVENTS] += 1
        if r.delivery_id is None:
            # Aggregate-only: each event is its own "unique" (documented in stats.definitions).
            if r.kind == "click":
                bits &= ~d.HUMAN_OPEN  # the implied open event counts the open
            for bit, metric in d.UNIQUE_METRIC.items():
                if bits & bit:
                    t[camp, pos, metric] += 1
            return
        entry = self.bits.setdefault(r.delivery_id, [camp, pos, 0])
        entry[2] |= bits

    def flush(self) -> None:
        """Write marks (counting bit flips as uniques) and every counter."""
        s = self.session
        existing: dict[int, int] = {}
        ids = sorted(self.bits)
        for chunk in _chunks(ids):
            q = select(StatsMark.delivery_id, StatsMark.marks).where(StatsMark.delivery_id.in_(chunk))
            existing.update(s.execute(q).tuples().all())
        changed = []
        for did in ids:
            camp, pos, bits = self.bits[did]
            old = existing.get(did)
            flipped = bits & ~(old or 0)
            for bit, metric in d.UNIQUE_METRIC.items():
                if flipped & bit:
                    self.totals[camp, pos, metric] += 1
            if old is None or flipped:
                changed.append({"delivery_id": did, "campaign_id": camp, "position": pos, "marks": bits})
        if changed:
            stmt = _insert(s, _MARKS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["delivery_id"], set_={"marks": _MARKS.c.marks.op("|")(stmt.excluded.marks)}
            )
            s.execute(stmt, changed)
        _bump(s, StatsTotal, ("campaign_id", "position", "metric"), self.totals)
        _bump(s, StatsHourly, ("campaign_id", "metric", "hour"), self.hourly)
        _bump(s, StatsLink, ("link_id", "metric", "campaign_id"), self.links)


def _repeated_clicks(session: Session, rows: Sequence[Row[Any]]) -> set[int]:
    """Ids of the clicks among ``rows`` (in id order) that repeat a click stored before them (see
    ``REPEAT_WINDOW`` in :mod:`stats.definitions`). Earlier batches are read from the log (one
    query per 2,000 deliveries on the ``(delivery_id, at)`` index; ``id < first`` is checked in the
    index, so only earlier clicks are fetched), this batch from ``rows``: the answer depends on the
    log alone, not on how it is cut into batches."""
    clicks = [r for r in rows if r.kind == "click" and r.delivery_id is not None]
    if not clicks:
        return set()
    window = d.REPEAT_WINDOW
    lo, hi = min(r.at for r in clicks) - window, max(r.at for r in clicks) + window
    earlier: dict[tuple[int, int | None, str], list[datetime]] = {}  # sorted times per key
    for chunk in _chunks(sorted({r.delivery_id for r in clicks})):
        q = select(Event.delivery_id, Event.link_id, Event.classification, Event.at).where(
            Event.delivery_id.in_(chunk),
            Event.id < rows[0].id,
            Event.kind == "click",
            Event.at.between(lo, hi),
        )
        for delivery_id, link_id, cls, at in session.execute(q):
            earlier.setdefault((delivery_id, link_id, cls), []).append(at)
    for times in earlier.values():
        times.sort()
    repeats = set()
    for r in clicks:
        times = earlier.setdefault((r.delivery_id, r.link_id, r.classification), [])
        i = bisect_left(times, r.at)
        if (i < len(times) and times[i] - r.at <= window) or (i > 0 and r.at - times[i - 1] <= window):
            repeats.add(r.id)
        times.insert(i, r.at)
    return repeats


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _cursor_value(session: Session) -> int:
    value = session.scalar(select(StatsCursor.last_event_id).where(StatsCursor.name == CURSOR))
    return int(value or 0)


def pending(engine: Engine) -> bool:
    """True when events exist beyond the cursor (a cheap read, no write lock)."""
    with Session(engine) as s:
        last = _cursor_value(s)
        return s.scalar(select(Event.id).where(Event.id > last).limit(1)) is not None


def _settled(rows: Sequence[Row[Any]], cutoff: datetime) -> Sequence[Row[Any]]:
    """The leading rows (in id order) whose time is at or before ``cutoff``."""
    for i, row in enumerate(rows):
        if row.at > cutoff:
            return rows[:i]
    return rows


def refresh(engine: Engine, now: datetime | None = None, batch: int = BATCH) -> int:
    """Fold every settled event not yet folded; returns how many were folded."""
    cutoff = (now or datetime.now(UTC)) - SETTLE
    folded = 0
    while pending(engine):
        with write_transaction(engine) as s:
            s.execute(
                _insert(s, StatsCursor.__table__)
                .values(name=CURSOR, last_event_id=0)
                .on_conflict_do_nothing()
            )
            last = s.scalar(
                select(StatsCursor.last_event_id).where(StatsCursor.name == CURSOR).with_for_update()
            )
            cols = (Event.id, Event.kind, Event.classification, Event.delivery_id, Event.campaign_id)
            q = select(*cols, Event.email_id, Event.link_id, Event.at, Event.implied, Event.reason)
            rows = _settled(
                s.execute(q.where(Event.id > (last or 0)).order_by(Event.id).limit(batch)).all(), cutoff
            )
            if not rows:
                break
            folder = _Folder(s)
            folder.fold(rows)
            folder.flush()
            s.execute(update(StatsCursor).where(StatsCursor.name == CURSOR).values(last_event_id=rows[-1].id))
        folded += len(rows)
    return folded


def rebuild(engine: Engine, now: datetime | None = None, batch: int = BATCH) -> int:
    """Empty the rollup tables and fold the whole (settled) event log again."""
    with write_transaction(engine) as s:
        for model in (StatsLink, StatsHourly, StatsTotal, StatsMark, StatsCursor):
            s.execute(delete(model))
    return refresh(engine, now, batch)


def folded_upto(engine: Engine) -> tuple[int, int]:
    """(cursor, highest event id): how far behind the rollup is."""
    with Session(engine) as s:
        return _cursor_value(s), int(s.scalar(select(func.max(Event.id))) or 0)
