"""The one batching event writer: requests enqueue hits, a background thread commits them.

A request never waits for the database: :meth:`EventWriter.record` appends a raw hit (see
:mod:`tracking.wire`) to a deque (atomic under the GIL, no lock). The thread wakes every
``interval`` seconds, or at once when ``batch_size`` hits are waiting, settles each batch (uids,
IP hashes) and writes it in one transaction (see :mod:`tracking.batch`). A failed batch is
retried with the same uids, so a retry after an unclear commit is harmless. :meth:`stop` writes
everything still queued before returning.

Usable without any web framework: the demo and tests call ``record``/``flush`` directly.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from tracking.batch import BatchResult, write_batch
from tracking.ip_hash import IpHasher
from tracking.lookup import MetaCache
from tracking.wire import Hit, RawHit, Settler
from wildmail.core.db import write_connection

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1  # seconds: the longest a hit waits before it is committed
BATCH_SIZE = 1000  # hits per transaction; reaching it wakes the writer at once
MAX_ATTEMPTS = 5  # a batch that fails this often is dropped (and logged) so others still flow
OPENED_MEMORY = 500_000  # delivery ids remembered as opened before the memory is reset


@dataclass
class WriterStats:
    """Counters since start: rows written, hits dropped, batches, failures, hits lost."""

    written: int = 0
    dropped: int = 0
    batches: int = 0
    failures: int = 0
    lost: int = 0


class EventWriter:
    """Batches hits into Event rows on a background thread."""

    def __init__(
        self,
        engine: Engine,
        cache: MetaCache | None = None,
        *,
        ip_key: bytes | None = None,
        interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        """``ip_key`` hashes the raw addresses :meth:`record` takes (the site's secret)."""
        self.engine = engine
        self.cache = cache or MetaCache(engine)
        self.ip_key = ip_key
        self.interval = interval
        self.batch_size = batch_size
        self.stats = WriterStats()
        self._queue: deque[RawHit] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._opened: set[int] = set()
        # Event uids: a random per-writer prefix and a counter (see tracking.wire).
        self.uid_prefix = secrets.token_hex(8)
        self._uid_base = 0
        self._settler = Settler(self.uid_prefix, IpHasher(ip_key))

    def start(self) -> EventWriter:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="wildmail-event-writer", daemon=True)
            self._thread.start()
        return self

    def record(
        self,
        kind: str,
        delivery_id: int,
        link_id: int | None,
        micros: int,
        user_agent: bytes,
        purpose: bytes,
        method: str,
        ip: str,
    ) -> None:
        """Queue a hit as the request saw it (the request path's call; see :mod:`tracking.wire`):
        ``micros`` since the epoch, header values as bytes, the raw client address."""
        queue = self._queue
        queue.append((kind, delivery_id, link_id, micros, user_agent, purpose, method, ip))
        # "==": only the hit that fills a batch wakes the writer, not every hit until it has run
        if len(queue) == self.batch_size:
            self._wake.set()

    def pending(self) -> int:
        """Hits queued and not yet written."""
        return len(self._queue)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every hit submitted so far is committed; False on timeout."""
        if self._thread is None:
            self._drain()
            return True
        with self._done:
            self._wake.set()
            return self._done.wait_for(lambda: not self._queue and not self._busy, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread."""
        thread, self._thread = self._thread, None
        self._stopping = True
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        self._drain()  # anything submitted while the thread was finishing

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._drain()
            if self._stopping:
                return

    def _drain(self) -> None:
        while True:
            self._busy = True
            batch: list[Any] = []
            try:
                while self._queue and len(batch) < self.batch_size:
                    batch.append(self._queue.popleft())
                if batch:
                    base, self._uid_base = self._uid_base, self._uid_base + len(batch)
                    self._write_with_retries(self._prepare(batch, base))
            finally:
                with self._done:
                    self._busy = False
                    self._done.notify_all()
            if not batch:
                return

    def _prepare(self, batch: list[RawHit], uid_base: int) -> Any:
        """What :meth:`_write_with_retries` takes for one batch, computed once for all attempts."""
        return self._settler.settle(batch, uid_base)

    def _write(self, conn: Connection, batch: list[Hit]) -> BatchResult:
        """Write one settled batch inside ``conn``'s transaction."""
        return write_batch(conn, self.cache, batch, self._opened)

    def _write_with_retries(self, batch: list[Hit]) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with write_connection(self.engine) as conn:
                    result = self._write(conn, batch)
            except Exception:
                self.stats.failures += 1
                log.exception("event batch of %d failed (attempt %d)", len(batch), attempt)
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            self.stats.batches += 1
            self.stats.written += result.rows
            self.stats.dropped += result.dropped
            if len(self._opened) > OPENED_MEMORY:
                self._opened.clear()
            return
        self.stats.lost += len(batch)
        log.error("dropped %d events after %d failed attempts", len(batch), MAX_ATTEMPTS)
