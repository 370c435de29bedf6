"""The worker's hot-path writes: outcomes and ``data`` marks on one long-lived connection.

Per message a single short transaction records the previous message's outcome and marks the
next one's phase ``data`` (fenced by ``lease_owner``). Every such write goes through one
:class:`MarkStore`, one implementation per backend (:class:`SqliteMarks`, :class:`PostgresMarks`):
in the common case (mark window 1, the previous message sent) that is ONE autocommitted UPDATE
on the driver connection; mark windows and failures take a transaction on the same connection.

A mark must outlive the database server, or a crash of the server turns a message the relay
accepted back into a queued one that is sent again. So on PostgreSQL every commit that marks
is synchronous (it returns once the WAL is flushed) unless ``durable=False`` (``--fast-marks``:
``synchronous_commit = off``, which a server crash can undo: duplicates). A flush costs about
one disk sync, so on PostgreSQL the worker marks a group of messages per commit by default
(:func:`default_mark_window`): a crash then leaves at most that many rows per session
``unknown``, never a duplicate. On SQLite the worker's commits need no disk sync to survive a
crash of any process (WAL mode, ``synchronous=NORMAL``), so it marks one at a time.
Measurements: docs/performance.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from delivery.claim import datetime_binder, finish
from delivery.models import DeliveryState, SmtpPhase
from delivery.suppress import bounce_subscriber
from wildmail.core.db import immediate, is_sqlite, writer_lock
from wildmail.core.sql import driver_sql, int_list
from wildmail.core.store import Store

GROUP_COMMIT = 16  # messages per durable mark commit on PostgreSQL (docs/performance.md)


def default_mark_window(engine: Engine, durable: bool = True) -> int:
    """Messages marked ``data`` per commit when the operator chose none: a group per disk
    sync for durable PostgreSQL marks, otherwise one (exact: one ``unknown`` per crash)."""
    return GROUP_COMMIT if durable and not is_sqlite(engine) else 1


# The hot path as one statement in its own (autocommit) transaction: the previous message is
# recorded ``sent`` and the next one marked ``data`` atomically, one database round trip.
SENT_AND_MARK = """
UPDATE deliveries SET
  smtp_phase = CASE WHEN id = :cur THEN 'data' ELSE 'done' END,
  state = CASE WHEN id = :cur THEN state ELSE 'sent' END,
  sent_at = CASE WHEN id = :cur THEN sent_at ELSE :now END,
  last_reply = CASE WHEN id = :cur THEN last_reply ELSE :reply END,
  lease_owner = CASE WHEN id = :cur THEN lease_owner ELSE NULL END,
  lease_expires_at = CASE WHEN id = :cur THEN lease_expires_at ELSE NULL END,
  updated_at = :now
WHERE id IN (:cur, :prev) AND lease_owner = :owner
  AND (state = 'sending' OR (id = :prev AND state = 'unknown'))
RETURNING id
"""
ONLY_MARK = """
UPDATE deliveries SET smtp_phase = 'data', updated_at = :now
WHERE id = :cur AND lease_owner = :owner AND state = 'sending'
"""
# Inside a transaction: a window of marks (ids inlined: integers from our own rows) and the
# pending ``sent`` outcomes, one row per reply.
MARK_MANY = """
UPDATE deliveries SET smtp_phase = 'data', updated_at = :now
WHERE id IN ({ids}) AND lease_owner = :owner AND state = 'sending'
RETURNING id
"""
MARK_SENT = """
UPDATE deliveries SET state = 'sent', smtp_phase = 'done', sent_at = :now, updated_at = :now,
  last_reply = :reply, lease_owner = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_owner = :owner AND state IN ('sending', 'unknown')
"""


class MarkStore:
    """Every ``data`` mark and ``sent`` record of one worker session, on one kept connection.

    :meth:`sent_and_mark` and :meth:`only_mark` are one autocommitted statement each (the hot
    path, implemented per backend); :meth:`transaction` with :meth:`mark_sent` and
    :meth:`mark_many` is the rest, the same SQL on both. :func:`mark_store` picks the
    implementation for an engine.
    """

    def __init__(self, engine: Engine, owner: str, *, durable: bool = True) -> None:
        self.engine, self.owner, self.durable = engine, owner, durable
        sqlite = is_sqlite(engine)
        self.sql = {
            name: driver_sql(sql, sqlite)
            for name, sql in {
                "sent_and_mark": SENT_AND_MARK,
                "only_mark": ONLY_MARK,
                "mark_many": MARK_MANY,
                "mark_sent": MARK_SENT,
            }.items()
        }
        self.to_db = datetime_binder(engine)
        self._lock = writer_lock(engine)
        self._conn: Connection | None = None

    def connection(self) -> Connection:
        """The kept connection (opened on first use, again after :meth:`discard`)."""
        if self._conn is None:
            self._conn = immediate(self.engine).connect()
            self._opened(self._conn)
        return self._conn

    def _opened(self, conn: Connection) -> None:
        """Per-session settings of a new connection."""

    def sent_and_mark(self, cur: int, prev: int, reply: str, now: datetime) -> bool:
        """Record ``prev`` sent with ``reply`` and mark ``cur`` ``data`` in one autocommitted
        statement; True when ``cur`` is marked (still ours)."""
        raise NotImplementedError

    def only_mark(self, cur: int, now: datetime) -> bool:
        """Mark ``cur`` ``data`` in one autocommitted statement; True when it is still ours."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The kept connection in a write transaction (the writer lock, ``BEGIN IMMEDIATE`` on
        SQLite); commits on success. On error the connection is discarded (a new one next time)."""
        conn = self.connection()
        try:
            with self._lock:
                if not conn.in_transaction():
                    conn.begin()
                yield conn
                conn.commit()
        except BaseException:
            with suppress(Exception):  # a connection the server dropped: nothing to roll back
                conn.rollback()
            self.discard()
            raise

    def mark_sent(self, conn: Connection, sent: list[tuple[int, str]], now: datetime) -> None:
        """Inside :meth:`transaction`: record each ``(id, reply)`` sent (fenced by the owner)."""
        stamp = self.to_db(now)
        rows = [{"id": i, "reply": reply, "owner": self.owner, "now": stamp} for i, reply in sent]
        conn.exec_driver_sql(self.sql["mark_sent"], rows)  # type: ignore[arg-type]

    def mark_many(self, conn: Connection, ids: list[int], now: datetime) -> set[int]:
        """Inside :meth:`transaction`: mark ``ids`` ``data``; the ids still ours."""
        sql = self.sql["mark_many"].format(ids=int_list(ids))
        return {r[0] for r in conn.exec_driver_sql(sql, {"owner": self.owner, "now": self.to_db(now)})}

    def discard(self) -> None:
        """Forget the connection (after an error it may be broken): the next write opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a connection the server dropped: nothing to release
                conn.invalidate()

    def close(self) -> None:
        """Return the connection to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SqliteMarks(MarkStore):
    """SQLite through a kept ``sqlite3`` cursor: the connection runs without implicit
    transactions (``wildmail.core.db``), so a statement outside ``BEGIN`` commits by itself."""

    def __init__(self, engine: Engine, owner: str, *, durable: bool = True) -> None:
        super().__init__(engine, owner, durable=durable)
        self._cursor: Any = None
        self._params: dict[str, Any] = {"owner": owner}

    def _execute(self, sql: str, params: dict[str, Any]) -> Any:
        try:
            if self._cursor is None:
                raw = self.connection().connection.driver_connection
                assert raw is not None
                self._cursor = raw.cursor()
            with self._lock:
                return self._cursor.execute(sql, params)
        except BaseException:
            self.discard()
            raise

    def sent_and_mark(self, cur: int, prev: int, reply: str, now: datetime) -> bool:
        params = self._params
        params.update(cur=cur, prev=prev, reply=reply, now=self.to_db(now))
        return any(row[0] == cur for row in self._execute(self.sql["sent_and_mark"], params).fetchall())

    def only_mark(self, cur: int, now: datetime) -> bool:
        params = {"cur": cur, "owner": self.owner, "now": self.to_db(now)}
        return bool(self._execute(self.sql["only_mark"], params).rowcount == 1)

    def discard(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            with suppress(Exception):  # a broken connection's cursor: nothing to release
                cursor.close()
        super().discard()

    def close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            with suppress(Exception):
                cursor.close()
        super().close()


def _numbered(sql: str, names: tuple[str, ...]) -> bytes:
    """``sql`` with ``:name`` parameters as libpq's ``$n`` (n: position in ``names``)."""
    return re.sub(r":(\w+)", lambda m: f"${names.index(m.group(1)) + 1}", sql).encode()


# Server-side prepared statements of the PostgreSQL hot path: (SQL, parameter order).
PG_PREPARED = {
    b"wm_sent_and_mark": _numbered(SENT_AND_MARK, ("cur", "prev", "owner", "now", "reply")),
    b"wm_only_mark": _numbered(ONLY_MARK, ("cur", "owner", "now")),
}


class PostgresMarks(MarkStore):
    """PostgreSQL: each hot statement is prepared on the server once per connection and run
    through psycopg's libpq wrapper (``Connection.pgconn``) outside any transaction, so it
    commits by itself, with no cursor machinery and the GIL released while waiting
    (psycopg's ``prepare=True`` cost more CPU per mark: docs/performance.md). Marks commit
    synchronously unless ``durable=False`` (``--fast-marks``)."""

    def __init__(self, engine: Engine, owner: str, *, durable: bool = True) -> None:
        from psycopg import pq  # only PostgreSQL workers load the driver

        super().__init__(engine, owner, durable=durable)
        self._ok, self._rows, self._idle = (
            pq.ExecStatus.COMMAND_OK,
            pq.ExecStatus.TUPLES_OK,
            pq.TransactionStatus.IDLE,
        )
        self._pgconn: Any = None  # the libpq connection with PG_PREPARED prepared on it
        self._owner = owner.encode()

    def _opened(self, conn: Connection) -> None:
        if not self.durable:
            conn.exec_driver_sql("SET synchronous_commit TO OFF")
            conn.commit()

    def _exec(self, name: bytes, params: list[bytes], expect: Any) -> Any:
        try:
            pgconn = self._pgconn
            if pgconn is None:
                driver = self.connection().connection.driver_connection
                assert driver is not None
                pgconn = driver.pgconn
                for statement, sql in PG_PREPARED.items():
                    # A pooled connection may carry them from an earlier store (same name, same text).
                    if pgconn.describe_prepared(statement).status != self._ok:
                        _check(pgconn.prepare(statement, sql, None), self._ok)
                self._pgconn = pgconn
            if pgconn.transaction_status != self._idle:
                raise RuntimeError("the mark connection is inside a transaction")
            return _check(pgconn.exec_prepared(name, params), expect)
        except BaseException:
            self._pgconn = None
            self.discard()
            raise

    def sent_and_mark(self, cur: int, prev: int, reply: str, now: datetime) -> bool:
        key = str(int(cur)).encode()
        params = [key, str(int(prev)).encode(), self._owner, str(self.to_db(now)).encode(), reply.encode()]
        res = self._exec(b"wm_sent_and_mark", params, self._rows)
        return any(res.get_value(i, 0) == key for i in range(res.ntuples))

    def only_mark(self, cur: int, now: datetime) -> bool:
        params = [str(int(cur)).encode(), self._owner, str(self.to_db(now)).encode()]
        res = self._exec(b"wm_only_mark", params, self._ok)
        return bool(res.command_tuples == 1)

    def discard(self) -> None:
        self._pgconn = None
        super().discard()

    def close(self) -> None:
        self._pgconn = None
        super().close()


def _check(res: Any, status: Any) -> Any:
    """``res`` when libpq reports ``status``; otherwise the server's error as an exception."""
    if res.status != status:
        import psycopg

        raise psycopg.OperationalError((res.error_message or b"").decode("utf-8", "replace").strip())
    return res


def mark_store(engine: Engine, owner: str, *, durable: bool = True) -> MarkStore:
    """The :class:`MarkStore` of ``engine``'s backend."""
    kind = SqliteMarks if is_sqlite(engine) else PostgresMarks
    return kind(engine, owner, durable=durable)


@dataclass
class Outcome:
    """How one attempt ended (``bounce`` carries what the hard-bounce transition needs)."""

    id: int
    state: DeliveryState
    phase: SmtpPhase | None = None
    reply: str = ""
    retry_at: datetime | None = None
    bounce: tuple[int, str] | None = None
    relay_busy: bool = False


class Ledger:
    """Pending outcomes, written together with the next ``data`` mark (or on :meth:`flush`)."""

    def __init__(self, store: Store, owner: str, *, durable: bool = True) -> None:
        self.clock, self.owner = store.clock, owner
        self.pending: list[Outcome] = []
        self.marked: set[int] = set()
        self.store = mark_store(store.engine, owner, durable=durable)

    def mark_data(self, delivery_id: int, window: list[int] | None = None) -> bool:
        """Called right before DATA: True when ``delivery_id`` is marked ``data`` and still ours.

        Writes pending outcomes and marks ``delivery_id`` (plus the rest of ``window``, the
        next messages of the batch, so they need no write of their own) in one transaction.
        A window larger than one trades precision after a crash (every marked row that had
        not finished becomes ``unknown``) for fewer commits.
        """
        if delivery_id in self.marked:
            return True
        now = self.clock.now()
        pending = self.pending
        self.marked = set()
        if not window and len(pending) <= 1 and all(o.state == DeliveryState.SENT for o in pending):
            store = self.store
            if pending:
                done = pending[0]
                marked = store.sent_and_mark(delivery_id, done.id, done.reply, now)
            else:
                marked = store.only_mark(delivery_id, now)
            pending.clear()
        else:
            ids = list(dict.fromkeys([delivery_id, *(window or [])]))
            with self.store.transaction() as conn:
                self._write(conn, now)
                found = self.store.mark_many(conn, ids, now)
            pending.clear()
            marked = delivery_id in found
            self.marked = found
        if marked:
            self.marked.add(delivery_id)
        return marked

    def _write(self, conn: Connection, now: datetime) -> None:
        """Pending outcomes, inside the store's transaction (cleared once it commits)."""
        sent = [(o.id, o.reply) for o in self.pending if o.state == DeliveryState.SENT]
        if sent:
            self.store.mark_sent(conn, sent, now)
        for o in self.pending:
            if o.state != DeliveryState.SENT:
                finish(
                    conn, self.owner, [o.id], o.state, now, reply=o.reply, phase=o.phase, retry_at=o.retry_at
                )
                if o.bounce is not None:
                    bounce_subscriber(conn, o.bounce[0], o.reply, now, delivery_id=o.id)

    def flush(self) -> None:
        """Write pending outcomes now."""
        if not self.pending:
            return
        with self.store.transaction() as conn:
            self._write(conn, self.clock.now())
        self.pending.clear()

    def close(self) -> None:
        """Flush and return the connection to the pool."""
        try:
            self.flush()
        finally:
            self.store.close()
