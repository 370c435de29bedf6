"""Database engine, sessions and the column types shared by every model.

SQLite runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL is
used through psycopg 3. All datetimes are stored as UTC and come back aware.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 30_000
MAX_ROW_ID = 2**63 - 1  # largest id a BIGINT (or SQLite INTEGER) column holds; larger ones name no row

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every wildmail table."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps naive text otherwise)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


SQLITE_WAL_CHECKPOINT_PAGES = 10000
SQLITE_POOL_SIZE = 40  # anyio's default thread pool size (FastAPI runs sync routes there)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """True when the URL or engine points at SQLite."""
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's BEGIN control transactions (needed for BEGIN IMMEDIATE).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~40 MB instead of every 4 MB (docs/performance.md, "WAL checkpoints").
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
    cur.close()


def set_sqlite_cache(engine: Engine, kib: int) -> None:
    """Give every new connection of ``engine`` a page cache of ``kib`` KiB (SQLite only; the
    default is 2 MiB). For a process that writes much: the event writer."""
    if not is_sqlite(engine):
        return

    def _cache(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA cache_size=-{int(kib)}")

    event.listen(engine, "connect", _cache)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with wildmail's per-backend settings applied."""
    if is_sqlite(url):
        # Keep as many connections as the web server's thread pool may use at once: a connection
        # opened past the pool is closed after one use, and opening one runs four PRAGMAs.
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if kwargs.pop("no_pool", False):
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A sessionmaker that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


class WriterLock:
    """SQLite writers of this process one at a time (a reentrant thread lock) and, for a file
    database, of every process too: ``flock`` on ``<database>-wmlock``, held while the outermost
    holder writes. Waiters sleep in the kernel until it is released instead of polling in
    SQLite's busy handler (docs/performance.md, "The SQLite writer lock")."""

    def __init__(self, path: str | None) -> None:
        self._thread_lock = threading.RLock()
        self._path = path
        self._fd = -1
        self._depth = 0

    def __enter__(self) -> WriterLock:
        self._thread_lock.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                if self._fd < 0:
                    try:
                        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    except OSError:  # a read-only directory: threads of this process only
                        self._path = None
                if self._fd >= 0:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_WRITERS: dict[str, WriterLock] = {}


def _lock_path(engine: Engine) -> str | None:
    """``<database file>-wmlock`` for a file database; None for an in-memory one."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database) + "-wmlock"


def writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """The lock every write transaction on ``engine`` takes before it begins (SQLite), or a
    no-op context (PostgreSQL). One per process and database (keyed by process id, so a fork
    does not share it); hot paths look it up once and keep it."""
    key = str(engine.url)
    if not key.startswith("sqlite"):
        return nullcontext()
    key = f"{os.getpid()}:{key}"
    found = _WRITERS.get(key)
    if found is None:
        found = _WRITERS.setdefault(key, WriterLock(_lock_path(engine)))
    return found


def immediate(engine: Engine) -> Engine:
    """``engine`` whose transactions begin with ``BEGIN IMMEDIATE`` on SQLite (the write lock
    up front, so read-then-write cannot deadlock on lock upgrade); unchanged on PostgreSQL.
    For a connection kept open across transactions; each of them runs under :func:`writer_lock`."""
    return engine.execution_options(sqlite_begin="BEGIN IMMEDIATE") if is_sqlite(engine) else engine


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction: :func:`writer_lock` first, then ``BEGIN IMMEDIATE``
    on SQLite (an ordinary transaction on PostgreSQL). Commits on success, rolls back on error.
    Every writer goes through this or :func:`write_transaction`."""
    with writer_lock(engine), immediate(engine).begin() as conn:
        yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose every transaction (it may commit several times) begins with ``BEGIN
    IMMEDIATE`` under :func:`writer_lock`, held until the session closes: for a command-line
    use case that reads, writes and commits in one short run."""
    with writer_lock(engine), Session(immediate(engine), expire_on_commit=False) as session:
        yield session


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Session]:
    """:func:`write_connection` as an ORM session (same lock, same ``BEGIN IMMEDIATE``): one
    transaction of a :func:`write_session`."""
    with write_session(engine) as session, session.begin():
        yield session
