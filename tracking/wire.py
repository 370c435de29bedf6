"""The forms a hit takes between the request that saw it and the row that stores it.

The request path is the hottest code of tracking, and under load every call it makes costs
several times what it costs in a loop (caches are cold after the network stack has run). So a
request does no work it can leave to the writer. It queues a **raw hit**, a plain tuple of what
the request carried::

    (uid | None, kind, delivery_id, link_id, nanos, user_agent, purpose, method, ip, ip_hash | None)

``user_agent`` and ``purpose`` may still be the header bytes, ``ip`` is the raw address (never
stored; ``ip_hash`` is set instead when the hit is already hashed) and ``purpose`` may be a
bool when the prefetch verdict is known. The writer **settles** each batch once, before the
first attempt to write it: a uid for every hit that has none (the writer's random prefix and a
counter, so a retried or resent batch keeps its uids and writes nothing twice), headers decoded,
the IP hashed and the prefetch rule applied. A settled batch is a list of **wire hits**::

    (uid, kind, delivery_id, link_id, micros, user_agent, ip_hash, method, prefetch)

which :func:`~tracking.batch.write_open_batch` reads directly and :func:`decode_hits` turns into
:class:`~tracking.batch.Hit` objects. Times are integers since the epoch (UTC): nanoseconds in a
raw hit (``time.time_ns()`` as it comes), microseconds in a wire hit.
"""

from __future__ import annotations

from typing import Any

from tracking.batch import Hit
from tracking.classify import is_prefetch
from tracking.ip_hash import IpHasher
from wildmail.core.clock import from_micros, to_micros

RawHit = tuple[Any, ...]
WireHit = tuple[Any, ...]


def raw_from_hit(hit: Hit) -> RawHit:
    """A finished :class:`Hit` (uid, hash and verdict known) as a raw hit."""
    return (
        hit.uid,
        hit.kind,
        hit.delivery_id,
        hit.link_id,
        to_micros(hit.at) * 1000,
        hit.user_agent,
        hit.prefetch,
        hit.method,
        "",
        hit.ip_hash,
    )


def _text(value: str | bytes) -> str:
    # header values arrive as bytes; HTTP allows any octet, so latin-1 never fails
    return value.decode("latin-1") if isinstance(value, bytes) else value


class Settler:
    """Turns batches of raw hits into wire hits (see the module docstring)."""

    def __init__(self, uid_prefix: str, ip_hasher: IpHasher) -> None:
        self.uid_prefix = uid_prefix
        self.ip_hasher = ip_hasher

    def settle(self, raw: list[RawHit], base: int) -> list[WireHit]:
        """Wire hits of ``raw``; the i-th hit without a uid gets ``uid_prefix + hex(base + i)``."""
        prefix, hash_ip = self.uid_prefix, self.ip_hasher.hash
        settled: list[WireHit] = []
        for i, hit in enumerate(raw):
            uid, kind, delivery_id, link_id, nanos, agent, purpose, method, ip, ip_hash = hit
            if purpose.__class__ is not bool:
                purpose = bool(purpose) and is_prefetch(_text(purpose))
            settled.append(
                (
                    uid if uid is not None else f"{prefix}{base + i:x}",
                    kind,
                    delivery_id,
                    link_id,
                    nanos // 1000,
                    _text(agent),
                    ip_hash if ip_hash is not None else hash_ip(ip),
                    method,
                    purpose,
                )
            )
        return settled


def encode_hits(hits: list[Hit]) -> list[WireHit]:
    """Hits as wire hits."""
    return [
        (
            h.uid,
            h.kind,
            h.delivery_id,
            h.link_id,
            to_micros(h.at),
            h.user_agent,
            h.ip_hash,
            h.method,
            h.prefetch,
        )
        for h in hits
    ]


def decode_hits(rows: list[WireHit]) -> list[Hit]:
    """The inverse of :func:`encode_hits`."""
    return [
        Hit(uid, kind, delivery_id, link_id, from_micros(at), ua, ip_hash, method, prefetch)
        for uid, kind, delivery_id, link_id, at, ua, ip_hash, method, prefetch in rows
    ]
