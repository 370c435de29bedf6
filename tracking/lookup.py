"""Cached, bulk lookups of what a token's ids point at (delivery -> campaign/email, link -> URL).

The pixel path does no query per request: the writer resolves the deliveries of a whole batch
with one query per 1,000 ids and keeps them in a bounded LRU, so a busy campaign is read once
per minute. Rows are read straight from the driver cursor into small named tuples (building
ORM/Core rows and dataclasses cost more than the query itself; see bench/tracking.py).
The lookup also says whether the subscriber was forgotten (the writer then drops the event).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Connection, Engine

from wildmail.core.clock import to_micros

CACHE_SIZE = 100_000
CACHE_TTL_SECONDS = 60.0  # campaign switches (track_identity) and `forget` take effect within a minute
CHUNK = 1000  # ids per IN (...) query; SQLite allows 32,766 parameters, PostgreSQL 65,535

K = TypeVar("K")
V = TypeVar("V")


class DeliveryMeta(NamedTuple):
    """What an event needs to know about its delivery (an aware UTC ``sent_at``)."""

    delivery_id: int
    subscriber_id: int
    campaign_id: int
    email_id: int
    sent_at: datetime | None
    track_identity: bool
    campaign_slug: str
    list_id: int | None
    sent_micros: int | None = None  # sent_at as wildmail.core.clock.to_micros gives it (the writer's form)
    forgotten: bool = False  # the subscriber was forgotten: their links work but record nothing


class LinkMeta(NamedTuple):
    """A tracked link: where it goes and what kind it is."""

    link_id: int
    email_id: int
    url: str
    kind: str


class _Lru(Generic[K, V]):
    """A bounded, thread-safe LRU with a time to live; bulk calls take the lock once."""

    def __init__(self, size: int, ttl: float) -> None:
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size, self._ttl = size, ttl
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The fresh entries among ``keys`` (stale ones are removed)."""
        found: dict[K, V] = {}
        now = time.monotonic()
        data = self._data
        with self._lock:
            for key in keys:
                hit = data.get(key)
                if hit is None:
                    continue
                if hit[0] < now:
                    del data[key]
                    continue
                data.move_to_end(key)
                found[key] = hit[1]
        return found

    def put(self, key: K, value: V) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[K, V]]) -> None:
        expires = time.monotonic() + self._ttl
        data = self._data
        with self._lock:
            for key, value in items:
                if key in data:  # a new key goes to the end by itself; a known one must be moved
                    del data[key]
                data[key] = (expires, value)
            for _ in range(len(data) - self._size):
                data.popitem(last=False)


class MetaCache:
    """Thread-safe LRU over deliveries and links, filled in bulk."""

    def __init__(self, engine: Engine, size: int = CACHE_SIZE, ttl: float = CACHE_TTL_SECONDS) -> None:
        self.engine = engine
        self._deliveries: _Lru[int, DeliveryMeta] = _Lru(size, ttl)
        self._links: _Lru[int, LinkMeta] = _Lru(size, ttl)

    def deliveries(self, ids: Iterable[int], conn: Connection | None = None) -> dict[int, DeliveryMeta]:
        """Metadata of every existing delivery among ``ids`` (unknown ids are absent)."""
        wanted = set(ids)
        found = self._deliveries.get_many(wanted)
        missing = [i for i in wanted if i not in found] if len(found) < len(wanted) else []
        if missing:
            if conn is None:
                with self.engine.connect() as own:
                    loaded = _load_deliveries(own, missing)
            else:
                loaded = _load_deliveries(conn, missing)
            for meta in loaded:
                found[meta.delivery_id] = meta
            # an unsent delivery's sent_at will still change: only sent ones are remembered
            self._deliveries.put_many((m.delivery_id, m) for m in loaded if m.sent_at is not None)
        return found

    def delivery(self, delivery_id: int) -> DeliveryMeta | None:
        """One delivery's metadata, or None when it does not exist."""
        return self.deliveries([delivery_id]).get(delivery_id)

    def links(self, ids: Iterable[int], conn: Connection) -> dict[int, LinkMeta]:
        """Every existing link among ``ids``."""
        wanted = set(ids)
        found = self._links.get_many(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            loaded = [LinkMeta._make(row) for row in _select_in(conn, LINK_SQL, missing)]
            found.update((m.link_id, m) for m in loaded)
            self._links.put_many((m.link_id, m) for m in loaded)
        return found


DELIVERY_SQL = (
    "SELECT d.id, d.subscriber_id, d.campaign_id, d.email_id, d.sent_at, c.track_identity, c.slug, c.list_id,"
    " s.forgotten_at IS NOT NULL"
    " FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id JOIN subscribers s ON s.id = d.subscriber_id"
    " WHERE d.id IN ({marks})"
)
LINK_SQL = "SELECT id, email_id, url, kind FROM links WHERE id IN ({marks})"
LINK_TARGET_SQL = (
    "SELECT l.id, l.email_id, l.url, l.kind, c.slug"
    " FROM links l JOIN emails e ON e.id = l.email_id JOIN campaigns c ON c.id = e.campaign_id"
    " WHERE l.id IN ({marks})"
)


class LinkTarget(NamedTuple):
    """A tracked link with the slug of its campaign: everything a redirect needs."""

    link: LinkMeta
    campaign_slug: str


def load_link_target(engine: Engine, link_id: int) -> LinkTarget | None:
    """One link and its campaign's slug, or None when the link does not exist (one short read)."""
    with engine.connect() as conn:
        for link_id_, email_id, url, kind, slug in _select_in(conn, LINK_TARGET_SQL, [link_id]):
            return LinkTarget(LinkMeta(link_id_, email_id, url, kind), slug)
    return None


def _select_in(conn: Connection, sql: str, ids: list[int]) -> list[Any]:
    """Rows of ``sql`` for ``ids`` (in chunks), read from the DBAPI cursor of ``conn``'s
    transaction as plain tuples."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = conn.connection.cursor()
    rows: list[Any] = []
    try:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            cursor.execute(sql.format(marks=", ".join([mark] * len(chunk))), chunk)
            rows.extend(cursor.fetchall())
    finally:
        cursor.close()
    return rows


def _utc(value: datetime | str | None) -> datetime | None:
    """A stored UTCDateTime as an aware datetime (SQLite returns its text, others naive UTC)."""
    if value is None:
        return None
    if isinstance(value, str):  # parsing with the offset is several times cheaper than .replace()
        return datetime.fromisoformat(value + "+00:00")
    return value.replace(tzinfo=UTC)


def _load_deliveries(conn: Connection, ids: list[int]) -> list[DeliveryMeta]:
    metas = []
    for d, s, c, e, sent, track, slug, lst, forgotten in _select_in(conn, DELIVERY_SQL, ids):
        at = _utc(sent)
        micros = to_micros(at) if at is not None else None
        metas.append(DeliveryMeta(d, s, c, e, at, bool(track), slug, lst, micros, bool(forgotten)))
    return metas
