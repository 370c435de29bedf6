"""Turn a batch of settled hits (opens and clicks, see :mod:`tracking.wire`) into Event rows in one
transaction.

Per batch: one query resolves the deliveries (most come from the cache), the rules of
:mod:`tracking.classify` run in memory, the honeypot window and implied opens are settled with
one query each, and the rows go in with one ``INSERT ... ON CONFLICT (uid) DO NOTHING``, so a
replayed batch (a retry after an unclear commit) writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from campaigns.models import Enrolment, LinkKind
from tracking import classify as rules
from tracking.lookup import DeliveryMeta, LinkMeta, MetaCache
from tracking.models import Event, EventKind
from tracking.wire import Hit
from wildmail.core.clock import from_micros, to_micros
from wildmail.core.outbox import EventType, emit_many

OPEN = EventKind.OPEN.value
CLICK = EventKind.CLICK.value
IMPLIED_SUFFIX = ":open"  # uid of the open implied by a click = click uid + this


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
    """One event's insert parameters in ``EVENT_COLUMNS`` order (``at`` as :func:`stored_micros_text`
    or :func:`stored_micros_datetime` gives it); the delivery id only for campaigns tracked per person."""
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

_SECOND_TEXTS: dict[int, str] = {}
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def stored_micros_text(micros: int) -> str:
    """A time in integer microseconds as UTCDateTime stores it on SQLite (``SQLITE_DATETIME``):
    the text of the second is made once per second seen (most events of a batch share a few)."""
    seconds, fraction = divmod(micros, 1_000_000)
    text = _SECOND_TEXTS.get(seconds)
    if text is None:
        if len(_SECOND_TEXTS) > 100_000:
            _SECOND_TEXTS.clear()
        text = _SECOND_TEXTS[seconds] = (_NAIVE_EPOCH + timedelta(seconds=seconds)).isoformat(" ")
    return f"{text}.{fraction:06d}"


def stored_micros_datetime(micros: int) -> datetime:
    """A time in integer microseconds as UTCDateTime stores it on other databases (naive UTC)."""
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


def insert_params(conn: Connection, params: list[tuple[Any, ...]]) -> None:
    """``INSERT INTO events ... ON CONFLICT (uid) DO NOTHING`` for rows in ``EVENT_COLUMNS`` order,
    in one executemany."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join([mark] * 12)}) ON CONFLICT (uid) DO NOTHING"  # noqa: S608 (constants only)
    )
    conn.exec_driver_sql(sql, params)


@dataclass(slots=True)
class _Click:
    """A click of the batch while the click rules that need other events run."""

    hit: Hit
    meta: DeliveryMeta
    link: LinkMeta
    classification: str
    reason: str


@dataclass
class BatchResult:
    """What one batch did: rows offered for insert, hits dropped (unknown ids), reclassified."""

    rows: int = 0
    dropped: int = 0
    reclassified_deliveries: frozenset[int] = frozenset()


def write_batch(conn: Connection, cache: MetaCache, hits: list[Hit], opened: set[int]) -> BatchResult:
    """Classify and insert settled ``hits`` (opens and clicks, see :mod:`tracking.wire`) inside
    the caller's transaction.

    Opens need nothing but their delivery: they are classified and turned into insert parameters
    in one pass. Clicks also take the honeypot window, the open each human click implies and the
    donation mark; that work is done for the clicks alone. ``opened`` holds delivery ids known to
    have a human open (a memory shared across batches; the only source for campaigns tracked
    without identity) and is updated in place.
    """
    metas = cache.deliveries({hit[2] for hit in hits}, conn)
    link_ids = {hit[3] for hit in hits if hit[3] is not None}
    links = cache.links(link_ids, conn) if link_ids else {}
    stored = stored_micros_text if conn.dialect.name == "sqlite" else stored_micros_datetime
    classify_open, classify_click = rules.classify_open_micros, rules.classify_click_micros
    human, honeypot = rules.HUMAN, LinkKind.HONEYPOT.value
    params: list[Any] = []  # insert parameters in hit order; a click's once its rules have run
    clicks: list[_Click] = []
    for hit in hits:
        uid, kind, delivery_id, link_id, micros, user_agent, ip_hash, method, prefetch = hit
        meta = metas.get(delivery_id)
        if meta is None or meta.forgotten:
            continue
        if kind == OPEN:
            cls, reason = classify_open(user_agent, method, prefetch, meta.sent_micros, micros)
            if cls == human:
                opened.add(delivery_id)
            params.append(
                event_params(uid, kind, cls, meta, None, stored(micros), user_agent, ip_hash, reason, False)
            )
            continue
        link = links.get(link_id) if link_id is not None else None
        if link is None or link.email_id != meta.email_id:
            continue
        cls, reason = classify_click(
            user_agent, method, prefetch, meta.sent_micros, micros, link.kind == honeypot
        )
        click = _Click(hit, meta, link, cls, reason)
        clicks.append(click)
        params.append(click)
    kept = len(params)
    touched: set[int] = set()
    donations: list[_Click] = []
    if clicks:
        honeypot_hits = _apply_honeypot_window(conn, clicks)
        params = [_click_params(p, stored) if p.__class__ is _Click else p for p in params]
        params.extend(_implied_opens(conn, clicks, opened, stored))
        donations = _new_donation_clicks(conn, clicks)
    if params:
        insert_params(conn, params)
    if clicks:
        touched = _reclassify_stored_clicks(conn, honeypot_hits, clicks)
        opened.difference_update(touched)
        _mark_donation_clicks(conn, clicks)
        _announce_donation_clicks(conn, donations)
    return BatchResult(len(params), len(hits) - kept, frozenset(touched))


def _click_params(click: _Click, stored: Callable[[int], Any]) -> tuple[Any, ...]:
    uid, kind, _, link_id, micros, user_agent, ip_hash, _, _ = click.hit
    return event_params(
        uid, kind, click.classification, click.meta, link_id, stored(micros), user_agent, ip_hash,
        click.reason, False,
    )  # fmt: skip


def _stored_honeypot_hits(conn: Connection, delivery_ids: set[int], lo: int, hi: int) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if not delivery_ids:
        return found
    window = rules.HONEYPOT_WINDOW_MICROS
    query = select(Event.delivery_id, Event.at).where(
        Event.delivery_id.in_(delivery_ids),
        Event.kind == CLICK,
        Event.reason == rules.REASON_HONEYPOT,
        Event.at.between(from_micros(lo - window), from_micros(hi + window)),
    )
    for delivery_id, at in conn.execute(query):
        found.setdefault(delivery_id, []).append(to_micros(at))
    return found


def _apply_honeypot_window(conn: Connection, clicks: list[_Click]) -> dict[int, list[int]]:
    """Mark this batch's human clicks near a honeypot hit (in this batch or stored) as bots;
    returns this batch's honeypot hits (times in microseconds) by delivery id."""
    batch_hits: dict[int, list[int]] = {}
    for click in clicks:
        if click.reason == rules.REASON_HONEYPOT:
            batch_hits.setdefault(click.meta.delivery_id, []).append(click.hit[4])
    human = [c for c in clicks if c.classification == rules.HUMAN]
    if not human:
        return batch_hits
    known = {k: list(v) for k, v in batch_hits.items()}
    stored_ids = {c.meta.delivery_id for c in human if c.meta.track_identity}
    times = [c.hit[4] for c in human]
    for delivery_id, ats in _stored_honeypot_hits(conn, stored_ids, min(times), max(times)).items():
        known.setdefault(delivery_id, []).extend(ats)
    for click in human:
        if rules.near_honeypot_micros(click.hit[4], known.get(click.meta.delivery_id, [])):
            click.classification, click.reason = rules.BOT, rules.REASON_HONEYPOT_WINDOW
    return batch_hits


def _reclassify_stored_clicks(
    conn: Connection, batch_hits: dict[int, list[int]], clicks: list[_Click]
) -> set[int]:
    """Earlier human clicks of a recipient who just hit the honeypot become bots; their implied
    opens become machine opens. Returns the delivery ids touched."""
    identity = {c.meta.delivery_id for c in clicks if c.meta.track_identity}
    ids = set(batch_hits) & identity
    if not ids:
        return set()
    every = [at for d in ids for at in batch_hits[d]]
    window = rules.HONEYPOT_WINDOW_MICROS
    query = select(Event.id, Event.uid, Event.delivery_id, Event.at).where(
        Event.delivery_id.in_(ids),
        Event.kind == CLICK,
        Event.classification == rules.HUMAN,
        Event.at.between(from_micros(min(every) - window), from_micros(max(every) + window)),
    )
    bots = [
        row
        for row in conn.execute(query)
        if rules.near_honeypot_micros(to_micros(row.at), batch_hits[row.delivery_id])
    ]
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


def _implied_opens(
    conn: Connection, clicks: list[_Click], opened: set[int], stored: Callable[[int], Any]
) -> list[tuple[Any, ...]]:
    """An open for each human click whose recipient has no human open yet (this batch's human
    opens are already in ``opened``)."""
    human = [c for c in clicks if c.classification == rules.HUMAN]
    ask = {c.meta.delivery_id for c in human if c.meta.track_identity} - opened
    if ask:
        query = select(Event.delivery_id).where(
            Event.delivery_id.in_(ask), Event.kind == OPEN, Event.classification == rules.HUMAN
        )
        opened.update(conn.scalars(query).all())  # type: ignore[arg-type]
    implied: list[tuple[Any, ...]] = []
    for click in human:
        if click.meta.delivery_id in opened:
            continue
        opened.add(click.meta.delivery_id)
        uid, _, _, _, micros, user_agent, ip_hash, _, _ = click.hit
        implied.append(
            event_params(
                uid + IMPLIED_SUFFIX, OPEN, rules.HUMAN, click.meta, None, stored(micros), user_agent,
                ip_hash, rules.REASON_IMPLIED, True,
            )
        )  # fmt: skip
    return implied


def _new_donation_clicks(conn: Connection, clicks: list[_Click]) -> list[_Click]:
    """The batch's human donation clicks not stored before (a replayed batch announces nothing
    twice); one query, only when the batch has any."""
    donation = LinkKind.DONATION.value
    found = [c for c in clicks if c.link.kind == donation and c.classification == rules.HUMAN]
    if not found:
        return found
    stored = set(conn.scalars(select(Event.uid).where(Event.uid.in_([c.hit[0] for c in found]))))
    return [c for c in found if c.hit[0] not in stored]


def _announce_donation_clicks(conn: Connection, donations: list[_Click]) -> None:
    """One ``donation.clicked`` event per new human donation click, in one statement; the
    delivery and subscriber are named only for campaigns tracked per person."""
    if not donations:
        return
    items = []
    for c in donations:
        uid, _, _, link_id, micros, *_ = c.hit
        identity = c.meta.track_identity
        items.append(
            {
                "click_id": uid,
                "campaign_id": c.meta.campaign_id,
                "campaign": c.meta.campaign_slug,
                "email_id": c.meta.email_id,
                "link_id": link_id,
                "delivery_id": c.meta.delivery_id if identity else None,
                "subscriber_id": c.meta.subscriber_id if identity else None,
                "clicked_at": from_micros(micros).isoformat(),
            }
        )
    emit_many(conn, EventType.DONATION_CLICKED, items, from_micros(max(c.hit[4] for c in donations)))


def _mark_donation_clicks(conn: Connection, clicks: list[_Click]) -> None:
    pairs = {
        (c.meta.subscriber_id, c.meta.campaign_id)
        for c in clicks
        if c.link.kind == LinkKind.DONATION.value
        and c.classification == rules.HUMAN
        and c.meta.track_identity
    }
    for subscriber_id, campaign_id in sorted(pairs):
        conn.execute(
            update(Enrolment)
            .where(and_(Enrolment.subscriber_id == subscriber_id, Enrolment.campaign_id == campaign_id))
            .values(donation_clicked=True)
        )
