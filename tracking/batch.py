"""Turn a batch of raw hits into Event rows in one transaction.

Per batch: one query resolves the deliveries (most come from the cache), the rules of
:mod:`tracking.classify` run in memory, the honeypot window and implied opens are settled with
one query each, and the rows go in with one ``INSERT ... ON CONFLICT (uid) DO NOTHING``, so a
replayed batch (a retry after an unclear commit) writes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from campaigns.models import Enrolment, LinkKind
from tracking import classify as rules
from tracking.lookup import DeliveryMeta, LinkMeta, MetaCache
from tracking.models import Event, EventKind

OPEN = EventKind.OPEN.value
CLICK = EventKind.CLICK.value
IMPLIED_SUFFIX = ":open"  # uid of the open implied by a click = click uid + this


@dataclass(slots=True)
class Hit:
    """One pixel fetch or click as the web layer saw it (ids already verified by HMAC)."""

    uid: str
    kind: str
    delivery_id: int
    link_id: int | None
    at: datetime
    user_agent: str
    ip_hash: str
    method: str = "GET"
    prefetch: bool = False


@dataclass(slots=True)
class _Row:
    hit: Hit
    meta: DeliveryMeta
    link: LinkMeta | None
    classification: str
    reason: str
    implied: bool = False

    def params(self, sqlite_dates: bool) -> tuple[Any, ...]:
        hit = self.hit
        return event_params(
            hit.uid,
            hit.kind,
            self.classification,
            self.meta,
            hit.link_id,
            stored_time(hit.at, sqlite_dates),
            hit.user_agent,
            hit.ip_hash,
            self.reason,
            self.implied,
        )


def event_params(
    uid: str,
    kind: str,
    classification: str,
    meta: DeliveryMeta,
    link_id: int | None,
    at: datetime | str,
    user_agent: str,
    ip_hash: str,
    reason: str,
    implied: bool,
) -> tuple[Any, ...]:
    """One event's insert parameters in ``EVENT_COLUMNS`` order (``at`` as :func:`stored_time`
    gives it); the delivery id only for campaigns tracked per person."""
    return (
        uid,
        kind,
        classification,
        meta.delivery_id if meta.track_identity else None,
        meta.campaign_id,
        meta.email_id,
        link_id,
        at,
        user_agent[:500],
        ip_hash,
        reason,
        implied,
    )


# The hot insert goes straight to the driver (SQLAlchemy's per-row processing cost more than the
# insert itself). Datetimes are written as UTCDateTime stores them: naive UTC, and on SQLite the
# text format SQLAlchemy uses, so ORM reads and range queries see the same values.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def stored_time(at: datetime, sqlite_dates: bool) -> datetime | str:
    """``at`` as UTCDateTime stores it: naive UTC; on SQLite the text ``SQLITE_DATETIME`` gives
    (``isoformat`` with microseconds writes the same text several times faster)."""
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    if sqlite_dates:  # the text without its "+00:00" (cheaper than .replace(tzinfo=None))
        return utc.isoformat(" ", "microseconds")[:26]
    return utc.replace(tzinfo=None)


_SECOND_TEXTS: dict[int, str] = {}
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def stored_micros_text(micros: int) -> str:
    """:func:`stored_time` on SQLite for a time in integer microseconds: the text of the second
    is made once per second seen (most events of a batch share a few seconds)."""
    seconds, fraction = divmod(micros, 1_000_000)
    text = _SECOND_TEXTS.get(seconds)
    if text is None:
        if len(_SECOND_TEXTS) > 100_000:
            _SECOND_TEXTS.clear()
        text = _SECOND_TEXTS[seconds] = (_NAIVE_EPOCH + timedelta(seconds=seconds)).isoformat(" ")
    return f"{text}.{fraction:06d}"


def stored_micros_datetime(micros: int) -> datetime:
    """:func:`stored_time` on other databases (a naive UTC datetime) for integer microseconds."""
    return _NAIVE_EPOCH + micros * _MICROSECOND


EVENT_COLUMNS = ", ".join(
    (
        "uid",
        "kind",
        "classification",
        "delivery_id",
        "campaign_id",
        "email_id",
        "link_id",
        "at",
        "user_agent",
        "ip_hash",
        "reason",
        "implied",
    )
)


def insert_events(conn: Connection, rows: list[_Row]) -> None:
    """``INSERT INTO events ... ON CONFLICT (uid) DO NOTHING`` for all rows, in one executemany."""
    sqlite_dates = conn.dialect.name == "sqlite"
    insert_params(conn, [r.params(sqlite_dates) for r in rows])


def insert_params(conn: Connection, params: list[tuple[Any, ...]]) -> None:
    """The insert of :func:`insert_events` for rows already in column order (``EVENT_COLUMNS``)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join([mark] * 12)}) ON CONFLICT (uid) DO NOTHING"  # noqa: S608 (constants only)
    )
    conn.exec_driver_sql(sql, params)


def _classify(hits: list[Hit], metas: dict[int, DeliveryMeta], links: dict[int, LinkMeta]) -> list[_Row]:
    rows: list[_Row] = []
    for hit in hits:
        meta = metas.get(hit.delivery_id)
        if meta is None or meta.forgotten:
            continue
        if hit.kind == CLICK:
            link = links.get(hit.link_id or 0)
            if link is None or link.email_id != meta.email_id:
                continue
            cls, reason = rules.classify_click(
                user_agent=hit.user_agent,
                method=hit.method,
                prefetch=hit.prefetch,
                sent_at=meta.sent_at,
                at=hit.at,
                honeypot=link.kind == LinkKind.HONEYPOT.value,
            )
            rows.append(_Row(hit, meta, link, cls, reason))
        else:
            cls, reason = rules.classify_open(
                user_agent=hit.user_agent,
                method=hit.method,
                prefetch=hit.prefetch,
                sent_at=meta.sent_at,
                at=hit.at,
            )
            rows.append(_Row(hit, meta, None, cls, reason))
    return rows


def _honeypot_hits(
    conn: Connection, delivery_ids: set[int], lo: datetime, hi: datetime
) -> dict[int, list[datetime]]:
    found: dict[int, list[datetime]] = {}
    if not delivery_ids:
        return found
    query = select(Event.delivery_id, Event.at).where(
        Event.delivery_id.in_(delivery_ids),
        Event.kind == CLICK,
        Event.reason == rules.REASON_HONEYPOT,
        Event.at.between(lo - rules.HONEYPOT_WINDOW, hi + rules.HONEYPOT_WINDOW),
    )
    for delivery_id, at in conn.execute(query):
        found.setdefault(delivery_id, []).append(at)
    return found


def _apply_honeypot_window(conn: Connection, rows: list[_Row]) -> dict[int, list[datetime]]:
    """Mark this batch's human clicks near a honeypot hit (in this batch or stored) as bots."""
    batch_hits: dict[int, list[datetime]] = {}
    for row in rows:
        if row.reason == rules.REASON_HONEYPOT:
            batch_hits.setdefault(row.meta.delivery_id, []).append(row.hit.at)
    human = [r for r in rows if r.hit.kind == CLICK and r.classification == rules.HUMAN]
    if not human:
        return batch_hits
    known = {k: list(v) for k, v in batch_hits.items()}
    stored_ids = {r.meta.delivery_id for r in human if r.meta.track_identity}
    times = [r.hit.at for r in human]
    for delivery_id, ats in _honeypot_hits(conn, stored_ids, min(times), max(times)).items():
        known.setdefault(delivery_id, []).extend(ats)
    for row in human:
        if rules.near_honeypot(row.hit.at, known.get(row.meta.delivery_id, [])):
            row.classification, row.reason = rules.BOT, rules.REASON_HONEYPOT_WINDOW
    return batch_hits


def _reclassify_stored_clicks(
    conn: Connection, batch_hits: dict[int, list[datetime]], rows: list[_Row]
) -> set[int]:
    """Earlier human clicks of a recipient who just hit the honeypot become bots; their implied
    opens become machine opens. Returns the delivery ids touched."""
    identity = {r.meta.delivery_id for r in rows if r.meta.track_identity}
    ids = set(batch_hits) & identity
    if not ids:
        return set()
    every = [at for d in ids for at in batch_hits[d]]
    query = select(Event.id, Event.uid, Event.delivery_id, Event.at).where(
        Event.delivery_id.in_(ids),
        Event.kind == CLICK,
        Event.classification == rules.HUMAN,
        Event.at.between(min(every) - rules.HONEYPOT_WINDOW, max(every) + rules.HONEYPOT_WINDOW),
    )
    bots = [row for row in conn.execute(query) if rules.near_honeypot(row.at, batch_hits[row.delivery_id])]
    if bots:
        conn.execute(
            update(Event)
            .where(Event.id.in_([b.id for b in bots]))
            .values(classification=rules.BOT, reason=rules.REASON_HONEYPOT_WINDOW)
        )
        conn.execute(
            update(Event)
            .where(Event.uid.in_([b.uid + IMPLIED_SUFFIX for b in bots]))
            .values(classification=rules.MACHINE, reason=rules.REASON_HONEYPOT_WINDOW)
        )
    return {b.delivery_id for b in bots}


def _implied_opens(conn: Connection, rows: list[_Row], opened: set[int]) -> list[_Row]:
    """An open for each human click whose recipient has no human open yet."""
    for row in rows:
        if row.hit.kind == OPEN and row.classification == rules.HUMAN:
            opened.add(row.meta.delivery_id)
    clicks = [r for r in rows if r.hit.kind == CLICK and r.classification == rules.HUMAN]
    ask = {r.meta.delivery_id for r in clicks if r.meta.track_identity} - opened
    if ask:
        query = select(Event.delivery_id).where(
            Event.delivery_id.in_(ask), Event.kind == OPEN, Event.classification == rules.HUMAN
        )
        opened.update(conn.scalars(query).all())  # type: ignore[arg-type]
    implied: list[_Row] = []
    for row in clicks:
        if row.meta.delivery_id in opened:
            continue
        opened.add(row.meta.delivery_id)
        hit = row.hit
        open_hit = Hit(
            hit.uid + IMPLIED_SUFFIX, OPEN, hit.delivery_id, None, hit.at, hit.user_agent, hit.ip_hash
        )
        implied.append(_Row(open_hit, row.meta, None, rules.HUMAN, rules.REASON_IMPLIED, implied=True))
    return implied


def _mark_donation_clicks(conn: Connection, rows: list[_Row]) -> None:
    pairs = {
        (r.meta.subscriber_id, r.meta.campaign_id)
        for r in rows
        if r.link is not None
        and r.link.kind == LinkKind.DONATION.value
        and r.classification == rules.HUMAN
        and r.meta.track_identity
    }
    for subscriber_id, campaign_id in sorted(pairs):
        conn.execute(
            update(Enrolment)
            .where(and_(Enrolment.subscriber_id == subscriber_id, Enrolment.campaign_id == campaign_id))
            .values(donation_clicked=True)
        )


@dataclass
class BatchResult:
    """What one batch did: rows offered for insert, hits dropped (unknown ids), reclassified."""

    rows: int = 0
    dropped: int = 0
    reclassified_deliveries: frozenset[int] = frozenset()


def write_batch(conn: Connection, cache: MetaCache, hits: list[Hit], opened: set[int]) -> BatchResult:
    """Classify and insert ``hits`` inside the caller's transaction.

    ``opened`` holds delivery ids known to have a human open (a memory shared across batches;
    the only source for campaigns tracked without identity) and is updated in place.
    """
    metas = cache.deliveries((h.delivery_id for h in hits), conn)
    link_ids = {h.link_id for h in hits if h.link_id is not None}
    links = cache.links(link_ids, conn) if link_ids else {}
    rows = _classify(hits, metas, links)
    batch_hits = _apply_honeypot_window(conn, rows)
    rows.extend(_implied_opens(conn, rows, opened))
    if rows:
        insert_events(conn, rows)
    touched = _reclassify_stored_clicks(conn, batch_hits, rows)
    opened.difference_update(touched)
    _mark_donation_clicks(conn, rows)
    return BatchResult(len(rows), len(hits) - len([r for r in rows if not r.implied]), frozenset(touched))


def write_open_batch(
    conn: Connection, cache: MetaCache, rows: list[tuple[Any, ...]], opened: set[int]
) -> BatchResult:
    """:func:`write_batch` for a batch of opens only, read straight from their wire tuples
    (see :mod:`tracking.wire`). Without clicks there is no honeypot window, no implied open and
    no donation mark: classifying and inserting is all the work, done here on the wire form
    (integer times, no Hit, row or datetime objects per event)."""
    metas = cache.deliveries({row[2] for row in rows}, conn)
    stored = stored_micros_text if conn.dialect.name == "sqlite" else stored_micros_datetime
    classify = rules.classify_open_micros
    human = rules.HUMAN
    params: list[tuple[Any, ...]] = []
    for uid, kind, delivery_id, _link, micros, user_agent, ip_hash, method, prefetch in rows:
        meta = metas.get(delivery_id)
        if meta is None or meta.forgotten:
            continue
        cls, reason = classify(user_agent, method, prefetch, meta.sent_micros, micros)
        if cls == human:
            opened.add(delivery_id)
        params.append(
            event_params(uid, kind, cls, meta, None, stored(micros), user_agent, ip_hash, reason, False)
        )
    if params:
        insert_params(conn, params)
    return BatchResult(len(params), len(rows) - len(params))
