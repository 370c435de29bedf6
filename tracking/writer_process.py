"""The event writer with its database work in a child process.

The web server's event loop is the bottleneck of the tracking endpoints. With the writer on a
thread of the same process, classifying and inserting each hit (about 17 µs) competed with the
loop for the one GIL and its core. :class:`ProcessEventWriter` keeps the parent side of
:class:`~tracking.writer.EventWriter` (a deque, a thread waking every ``interval`` or at
``batch_size``, the same ``flush``/``stop`` contract) but ships each batch to
``python -m tracking.writer_process`` over a pipe and waits for the child to acknowledge its
commit. The database work then runs on the other core.

Protocol (parent -> child on stdin): frames of a 4-byte big-endian length and a :mod:`marshal`
payload. The first frame is the configuration: database URL, the key for IP hashes and the
writer's uid prefix (secrets never appear on a command line). Each later frame is
``(uid_base, raw_hits)``: the batch exactly as requests queued it (see :mod:`tracking.wire`);
the child settles it (uids, IP hashes), so the parent's only work per batch is one
``marshal.dumps``. After the configuration frame the child answers ``ready``; after committing
a frame it writes one line: ``ack <rows> <dropped> <failures> <lost> <batches>``. End of stdin:
the child exits.

A batch is kept until its ack arrives. If the child dies, the parent starts a new one and sends
the same frame again: the same uid base and prefix give the same event uids, so the replay
writes nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

from sqlalchemy import Engine

from tracking.ip_hash import IpHasher
from tracking.lookup import MetaCache
from tracking.wire import RawHit, Settler
from tracking.writer import BATCH_SIZE, FLUSH_INTERVAL, MAX_ATTEMPTS, EventWriter

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
ACK = "ack"
READY = b"ready\n"
WRITER_CACHE_KIB = 64 * 1024  # random index inserts: 29 -> 24 µs per event with 64 MiB over 2 MiB
RESTART_PAUSE = 0.2  # seconds before starting a new child after one died
CHILD_MODULE = "tracking.writer_process"  # what the child runs with ``python -m`` unless told otherwise


class WriterProcessError(RuntimeError):
    """The child process died or answered something unexpected."""


def write_frame(stream: IO[bytes], payload: Any) -> None:
    """Write one length-prefixed marshal frame and flush it."""
    data = marshal.dumps(payload)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; ``None`` at a clean end of stream."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) != _LENGTH.size:
        raise WriterProcessError("truncated frame header")
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) != size:
        raise WriterProcessError("truncated frame")
    return marshal.loads(data)  # noqa: S302 (frames come only from our own parent process)


class ProcessEventWriter(EventWriter):
    """An :class:`EventWriter` whose batches are committed by a child process."""

    def __init__(
        self,
        engine: Engine,
        database_url: str,
        cache: MetaCache | None = None,
        *,
        ip_key: bytes | None = None,
        interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
        child_module: str = CHILD_MODULE,
    ) -> None:
        super().__init__(engine, cache, ip_key=ip_key, interval=interval, batch_size=batch_size)
        self.database_url = database_url
        self.child_module = child_module  # run as ``python -m``; its main() ends in :func:`main`
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self.restarts = 0

    @property
    def child_pid(self) -> int | None:
        """The pid of the running child process, if any."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def start(self) -> ProcessEventWriter:
        """Start the child process and the shipping thread."""
        self._ensure_child()
        super().start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ship and commit everything queued, then end the child and the thread."""
        super().stop(timeout)
        with self._child_lock:
            child, self._child = self._child, None
        if child is not None:
            _close_quietly(child.stdin)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("event writer process %d did not exit; killing it", child.pid)
                child.kill()
                child.wait()
            _close_quietly(child.stdout)

    def _ensure_child(self) -> subprocess.Popen[bytes]:
        with self._child_lock:
            child = self._child
            if child is not None and child.poll() is None:
                return child
            if child is not None:
                self.restarts += 1
                log.error(
                    "event writer process %d ended (code %s); starting another", child.pid, child.returncode
                )
                _close_quietly(child.stdin)
                _close_quietly(child.stdout)
                time.sleep(RESTART_PAUSE)
            child = subprocess.Popen(
                [sys.executable, "-m", self.child_module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert child.stdin is not None and child.stdout is not None
            try:
                config = {
                    "database_url": self.database_url,
                    "batch_size": self.batch_size,
                    "ip_key": self.ip_key,
                    "uid_prefix": self.uid_prefix,
                }
                write_frame(child.stdin, config)
                answer = child.stdout.readline()
            except OSError as exc:
                answer = str(exc).encode()
            if answer != READY:
                child.kill()
                child.wait()
                raise WriterProcessError(f"event writer process did not start: {answer!r}")
            self._child = child
            return child

    def _prepare(self, batch: list[RawHit], uid_base: int) -> Any:
        """The frame for this batch: the child settles it (the same frame on every attempt)."""
        return (uid_base, batch)

    def _write_with_retries(self, batch: Any) -> None:
        # ``batch`` is the frame of _prepare: (uid_base, raw hits)
        size = len(batch[1])
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                child = self._ensure_child()
                assert child.stdin is not None and child.stdout is not None
                write_frame(child.stdin, batch)
                ack = child.stdout.readline().decode("ascii", "replace").split()
                if len(ack) != 6 or ack[0] != ACK:
                    raise WriterProcessError(f"unexpected answer {ack!r}")
            except (OSError, ValueError, WriterProcessError) as exc:
                self.stats.failures += 1
                log.error("event batch of %d not acknowledged (attempt %d): %s", size, attempt, exc)
                self._kill_child()
                continue
            written, dropped, failures, lost, batches = (int(x) for x in ack[1:])
            self.stats.written += written
            self.stats.dropped += dropped
            self.stats.failures += failures
            self.stats.lost += lost
            self.stats.batches += batches
            return
        self.stats.lost += size
        log.error("dropped %d events after %d failed attempts", size, MAX_ATTEMPTS)

    def _kill_child(self) -> None:
        with self._child_lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The child: commit each frame of hits, acknowledge it, exit at end of input."""
    from wildmail.core.db import make_engine, set_sqlite_cache

    config = read_frame(stdin)
    if not isinstance(config, dict) or "database_url" not in config:
        log.error("event writer process: no configuration frame")
        return 2
    engine = make_engine(str(config["database_url"]))
    set_sqlite_cache(engine, WRITER_CACHE_KIB)
    writer = EventWriter(engine, batch_size=int(config.get("batch_size", BATCH_SIZE)))
    settler = Settler(str(config["uid_prefix"]), IpHasher(config.get("ip_key")))
    stdout.write(READY)
    stdout.flush()
    try:
        while (frame := read_frame(stdin)) is not None:
            uid_base, raw = frame
            before = (
                writer.stats.written,
                writer.stats.dropped,
                writer.stats.failures,
                writer.stats.lost,
                writer.stats.batches,
            )
            writer._write_with_retries(settler.settle(raw, uid_base))
            after = (
                writer.stats.written,
                writer.stats.dropped,
                writer.stats.failures,
                writer.stats.lost,
                writer.stats.batches,
            )
            counts = " ".join(str(a - b) for a, b in zip(after, before, strict=True))
            stdout.write(f"{ACK} {counts}\n".encode("ascii"))
            stdout.flush()
    finally:
        engine.dispose()
    return 0


def main() -> None:
    """Entry point of ``python -m tracking.writer_process``."""
    # The parent decides when to stop (end of stdin, after its last flush): a Ctrl-C to the
    # terminal's process group or systemd's SIGTERM to the whole unit must not end the child
    # before the parent has shipped its final events.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Acks get a private copy of stdout; anything else printed goes to stderr, not into the protocol.
    acks = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    sys.exit(serve(sys.stdin.buffer, acks))


if __name__ == "__main__":
    main()
