"""The one shape of a tracked hit, from the request that saw it to the row that stores it.

The request path is the hottest code of tracking, so a request does no work it can leave to the
writer. It queues a **raw hit**, a plain tuple of what the request carried (:data:`RawHit`)::

    (kind, delivery_id, link_id, micros, user_agent, purpose, method, ip)

``user_agent`` and ``purpose`` (the prefetch headers, joined by spaces) are the header bytes as
they arrived; ``ip`` is the raw client address (never stored). The writer **settles** each batch
once, before the first attempt to write it: a uid for every hit (the writer's random prefix and a
counter, so a retried or resent batch keeps its uids and writes nothing twice), headers decoded,
the IP hashed and the prefetch rule applied. A settled batch is a list of :data:`Hit`::

    (uid, kind, delivery_id, link_id, micros, user_agent, ip_hash, method, prefetch)

which :func:`tracking.batch.write_batch` stores, opens and clicks alike. Times are integer
microseconds since the epoch (UTC) everywhere on this path: the one time encoding.
"""

from __future__ import annotations

from tracking.classify import is_prefetch
from tracking.ip_hash import IpHasher

RawHit = tuple[str, int, int | None, int, bytes, bytes, str, str]
Hit = tuple[str, str, int, int | None, int, str, str, str, bool]


class Settler:
    """Turns batches of raw hits into settled hits (see the module docstring)."""

    def __init__(self, uid_prefix: str, ip_hasher: IpHasher) -> None:
        self.uid_prefix = uid_prefix
        self.ip_hasher = ip_hasher

    def settle(self, raw: list[RawHit], base: int) -> list[Hit]:
        """Settled hits of ``raw``; the i-th hit gets the uid ``uid_prefix + hex(base + i)``."""
        prefix, hash_ip = self.uid_prefix, self.ip_hasher.hash
        settled: list[Hit] = []
        for i, (kind, delivery_id, link_id, micros, agent, purpose, method, ip) in enumerate(raw):
            # header values: HTTP allows any octet, so latin-1 never fails
            prefetch = bool(purpose) and is_prefetch(purpose.decode("latin-1"))
            settled.append(
                (
                    f"{prefix}{base + i:x}",
                    kind,
                    delivery_id,
                    link_id,
                    micros,
                    agent.decode("latin-1"),
                    hash_ip(ip),
                    method,
                    prefetch,
                )
            )
        return settled
