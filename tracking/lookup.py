"""Cached, bulk lookups of what a token's ids point at (delivery -> campaign/email, link -> URL).

The pixel path does no query per request: the writer resolves the deliveries of a whole batch
with one query and keeps them in a small LRU, so a busy campaign is read once per minute.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, select

from campaigns.models import Campaign, Link
from delivery.models import Delivery

CACHE_SIZE = 100_000
CACHE_TTL_SECONDS = 60.0  # campaign switches (track_identity) take effect within a minute
CHUNK = 500

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class DeliveryMeta:
    """What an event needs to know about its delivery."""

    delivery_id: int
    subscriber_id: int
    campaign_id: int
    email_id: int
    sent_at: datetime | None
    track_identity: bool
    campaign_slug: str
    list_id: int | None


@dataclass(frozen=True, slots=True)
class LinkMeta:
    """A tracked link: where it goes and what kind it is."""

    link_id: int
    email_id: int
    url: str
    kind: str


class _Lru(Generic[K, V]):
    def __init__(self, size: int, ttl: float) -> None:
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size, self._ttl = size, ttl
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class MetaCache:
    """Thread-safe LRU over deliveries and links, filled in bulk."""

    def __init__(self, engine: Engine, size: int = CACHE_SIZE, ttl: float = CACHE_TTL_SECONDS) -> None:
        self.engine = engine
        self._deliveries: _Lru[int, DeliveryMeta] = _Lru(size, ttl)
        self._links: _Lru[int, LinkMeta] = _Lru(size, ttl)

    def deliveries(self, ids: Iterable[int], conn: Connection | None = None) -> dict[int, DeliveryMeta]:
        """Metadata of every existing delivery among ``ids`` (unknown ids are absent)."""
        found: dict[int, DeliveryMeta] = {}
        missing: list[int] = []
        for delivery_id in set(ids):
            meta = self._deliveries.get(delivery_id)
            if meta is None:
                missing.append(delivery_id)
            else:
                found[delivery_id] = meta
        if missing:
            if conn is None:
                with self.engine.connect() as own:
                    loaded = _load_deliveries(own, missing)
            else:
                loaded = _load_deliveries(conn, missing)
            for meta in loaded:
                found[meta.delivery_id] = meta
                if meta.sent_at is not None:  # an unsent delivery's sent_at will still change
                    self._deliveries.put(meta.delivery_id, meta)
        return found

    def delivery(self, delivery_id: int) -> DeliveryMeta | None:
        """One delivery's metadata, or None when it does not exist."""
        return self.deliveries([delivery_id]).get(delivery_id)

    def link(self, link_id: int) -> LinkMeta | None:
        """One link, or None when it does not exist."""
        meta = self._links.get(link_id)
        if meta is not None:
            return meta
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Link.id, Link.email_id, Link.url, Link.kind).where(Link.id == link_id)
            ).one_or_none()
        if row is None:
            return None
        meta = LinkMeta(row.id, row.email_id, row.url, row.kind)
        self._links.put(link_id, meta)
        return meta

    def links(self, ids: Iterable[int], conn: Connection) -> dict[int, LinkMeta]:
        """Every existing link among ``ids``."""
        found: dict[int, LinkMeta] = {}
        missing = []
        for link_id in set(ids):
            meta = self._links.get(link_id)
            if meta is None:
                missing.append(link_id)
            else:
                found[link_id] = meta
        for start in range(0, len(missing), CHUNK):
            query = select(Link.id, Link.email_id, Link.url, Link.kind).where(
                Link.id.in_(missing[start : start + CHUNK])
            )
            for row in conn.execute(query):
                meta = LinkMeta(row.id, row.email_id, row.url, row.kind)
                found[row.id] = meta
                self._links.put(row.id, meta)
        return found


def _load_deliveries(conn: Connection, ids: list[int]) -> list[DeliveryMeta]:
    out: list[DeliveryMeta] = []
    for start in range(0, len(ids), CHUNK):
        query = (
            select(
                Delivery.id,
                Delivery.subscriber_id,
                Delivery.campaign_id,
                Delivery.email_id,
                Delivery.sent_at,
                Campaign.track_identity,
                Campaign.slug,
                Campaign.list_id,
            )
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.id.in_(ids[start : start + CHUNK]))
        )
        for row in conn.execute(query):
            out.append(
                DeliveryMeta(
                    row.id,
                    row.subscriber_id,
                    row.campaign_id,
                    row.email_id,
                    row.sent_at,
                    bool(row.track_identity),
                    row.slug,
                    row.list_id,
                )
            )
    return out
