"""Leader election for the scheduler: only one process runs the tick.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for the
life of the process (it vanishes with the connection, so a dead leader frees it at once).
SQLite: an exclusive ``fcntl`` lock on a file next to the database (one host by design).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from wildmail.core.db import is_sqlite

log = logging.getLogger("wildmail.leader")
ADVISORY_KEY = 0x77696C646D61696C  # "wildmail"


class LeaderLock:
    """Non-blocking leadership; call :meth:`acquire` before each tick."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def lock_path(self) -> Path:
        """The lock file used with SQLite."""
        database = make_url(str(self.engine.url)).database or "wildmail.db"
        return Path(f"{database}.scheduler.lock")

    def acquire(self) -> bool:
        """True when this process is (still) the leader."""
        if is_sqlite(self.engine):
            return self._acquire_file()
        return self._acquire_advisory()

    def _acquire_file(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.lock_path, "ab")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle
        return True

    def _acquire_advisory(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:
                log.warning("lost the leader connection; trying to lead again")
                self._drop()
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the connection is already broken
                conn.invalidate()

    def release(self) -> None:
        """Give up leadership (process exit does this too)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                self._conn.commit()
                self._conn.close()
            finally:
                self._conn = None
