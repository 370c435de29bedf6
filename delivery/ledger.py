"""The worker's hot-path writes: outcomes and ``data`` marks on one long-lived connection.

Per message a single short transaction records the previous message's outcome and marks the
next one's phase ``data`` (fenced by ``lease_owner``). In the common case (mark window 1, the
previous message sent) that is ONE autocommitted UPDATE on the driver connection (one database
round trip, no ORM work); failures, bounces and mark windows use statements compiled once.

A mark must outlive the database server, or a crash of the server turns a message the relay
accepted back into a queued one that is sent again. So on PostgreSQL every commit that marks
is synchronous (it returns once the WAL is flushed) unless ``durable=False`` (``--fast-marks``:
``synchronous_commit = off``, which a server crash within ~0.6 s can undo: duplicates). A
flush costs about one disk sync, so on PostgreSQL the worker marks a group of messages per
commit by default (:func:`default_mark_window`): a crash then leaves at most that many rows
per session ``unknown``, never a duplicate. On SQLite the worker's commits need no disk sync
to survive a crash of any process (WAL mode, ``synchronous=NORMAL``), so it marks one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, or_, text

from delivery.claim import SENDING, driver_sql, finish, local_writer, writer_lock
from delivery.models import Delivery, DeliveryState, SmtpPhase
from delivery.suppress import bounce_subscriber
from wildmail.core.context import AppContext
from wildmail.core.db import is_sqlite

T: Table = Delivery.__table__  # type: ignore[assignment]
GROUP_COMMIT = 16  # messages per durable mark commit on PostgreSQL (docs/performance.md)


def default_mark_window(engine: Engine, durable: bool = True) -> int:
    """Messages marked ``data`` per commit when the operator chose none: a group per disk
    sync for durable PostgreSQL marks, otherwise one (exact: one ``unknown`` per crash)."""
    return GROUP_COMMIT if durable and not is_sqlite(engine) else 1


MARK_DATA = (
    T.update()
    .where(T.c.id == bindparam("d_id"), T.c.lease_owner == bindparam("owner"), T.c.state == SENDING)
    .values(smtp_phase=SmtpPhase.DATA.value, updated_at=bindparam("now"))
)
MARK_DATA_MANY = (
    T.update()
    .where(
        T.c.id.in_(bindparam("ids", expanding=True)),
        T.c.lease_owner == bindparam("owner"),
        T.c.state == SENDING,
    )
    .values(smtp_phase=SmtpPhase.DATA.value, updated_at=bindparam("now"))
    .returning(T.c.id)
)
MARK_SENT = (
    T.update()
    .where(
        T.c.id == bindparam("d_id"),
        T.c.lease_owner == bindparam("owner"),
        or_(T.c.state == SENDING, T.c.state == DeliveryState.UNKNOWN.value),
    )
    .values(
        state=DeliveryState.SENT.value,
        smtp_phase=SmtpPhase.DONE.value,
        sent_at=bindparam("now"),
        updated_at=bindparam("now"),
        last_reply=bindparam("reply"),
        lease_owner=None,
        lease_expires_at=None,
    )
)

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
# The same two statements as server-side prepared statements for PostgreSQL's libpq fast path.
PG_PREPARED = {
    b"wm_sent_and_mark": re.sub(
        r":(\w+)",
        lambda m: {"cur": "$1", "prev": "$2", "owner": "$3", "now": "$4", "reply": "$5"}[m.group(1)],
        SENT_AND_MARK,
    ),
}
ONLY_MARK = """
UPDATE deliveries SET smtp_phase = 'data', updated_at = :now
WHERE id = :cur AND lease_owner = :owner AND state = 'sending'
"""
PG_PREPARED[b"wm_only_mark"] = re.sub(
    r":(\w+)", lambda m: {"cur": "$1", "owner": "$2", "now": "$3"}[m.group(1)], ONLY_MARK
)


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

    def __init__(self, ctx: AppContext, owner: str, *, durable: bool = True) -> None:
        self.ctx, self.owner = ctx, owner
        self.pending: list[Outcome] = []
        self.marked: set[int] = set()
        self._conn: Connection | None = None
        self._durable = durable
        self._sqlite = is_sqlite(ctx.engine)
        self._sent_and_mark = driver_sql(SENT_AND_MARK, self._sqlite)
        self._only_mark = driver_sql(ONLY_MARK, self._sqlite)
        dialect = ctx.engine.dialect
        column_type = T.c.updated_at.type.dialect_impl(dialect)
        self._to_db: Callable[[datetime], Any] = column_type.bind_processor(dialect) or (lambda v: v)
        self._lock = writer_lock(ctx.engine)
        self._cursor: Any = None  # the fast path's driver cursor, kept while the connection lives
        self._params: dict[str, Any] = {"owner": owner}
        self._pgconn: Any = None  # PostgreSQL: libpq connection with PG_PREPARED prepared on it
        self._owner_bytes = owner.encode()

    def _connection(self) -> Connection:
        if self._conn is None:
            engine = self.ctx.engine
            if is_sqlite(engine):
                engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            self._conn = engine.connect()
            if not self._durable and not is_sqlite(engine):
                self._conn.execute(text("SET synchronous_commit TO OFF"))
                self._conn.commit()
        return self._conn

    def _write(self, conn: Connection, now: datetime) -> None:
        sent = [o for o in self.pending if o.state == DeliveryState.SENT]
        if sent:
            conn.execute(
                MARK_SENT, [{"d_id": o.id, "owner": self.owner, "now": now, "reply": o.reply} for o in sent]
            )
        others = [o for o in self.pending if o.state != DeliveryState.SENT]
        if others:
            for o in others:
                finish(
                    conn, self.owner, [o.id], o.state, now, reply=o.reply, phase=o.phase, retry_at=o.retry_at
                )
                if o.bounce is not None:
                    bounce_subscriber(conn, o.bounce[0], o.reply, now)
        self.pending.clear()

    def mark_data(self, delivery_id: int, window: list[int] | None = None) -> bool:
        """Called right before DATA: True when ``delivery_id`` is marked ``data`` and still ours.

        Writes pending outcomes and marks ``delivery_id`` (plus the rest of ``window``, the
        next messages of the batch, so they need no write of their own) in one transaction.
        A window larger than one trades precision after a crash (every marked row that had
        not finished becomes ``unknown``) for fewer commits.
        """
        if delivery_id in self.marked:
            return True
        now = self.ctx.clock.now()
        if not window and len(self.pending) <= 1 and all(o.state == DeliveryState.SENT for o in self.pending):
            return self._mark_fast(delivery_id, now)
        ids = list(dict.fromkeys([delivery_id, *(window or [])]))
        conn = self._connection()
        with local_writer(self.ctx.engine):
            return self._mark_slow(conn, delivery_id, ids, now)

    def _mark_slow(self, conn: Connection, delivery_id: int, ids: list[int], now: datetime) -> bool:
        try:
            self._write(conn, now)
            if len(ids) == 1:
                result: Any = conn.execute(MARK_DATA, {"d_id": delivery_id, "owner": self.owner, "now": now})
                self.marked = {delivery_id} if int(result.rowcount) == 1 else set()
            else:
                rows = conn.execute(MARK_DATA_MANY, {"ids": ids, "owner": self.owner, "now": now})
                self.marked = {r[0] for r in rows}
            conn.commit()
        except BaseException:
            self._drop_cursor()  # the connection may be replaced: take a fresh cursor next time
            self._pgconn = None
            conn.rollback()
            self.marked = set()
            raise
        return delivery_id in self.marked

    def _mark_fast_pg(self, delivery_id: int, now: datetime) -> bool | None:
        """:meth:`_mark_fast` on PostgreSQL straight through libpq: one prepared statement
        executed outside any transaction (so it commits by itself), no psycopg cursor machinery,
        the GIL released while waiting. None when the connection is inside a transaction."""
        pgconn = self._pgconn
        if pgconn is None:
            pgconn = self._connection().connection.driver_connection.pgconn  # type: ignore[union-attr]
            if pgconn.transaction_status != IDLE:
                return None
            for name, sql in PG_PREPARED.items():
                # A pooled connection may carry them from an earlier ledger (same name, same text).
                if pgconn.describe_prepared(name).status != COMMAND_OK:
                    _check(pgconn.prepare(name, sql.encode(), None), COMMAND_OK)
            self._pgconn = pgconn
        if pgconn.transaction_status != IDLE:
            return None
        stamp = str(self._to_db(now)).encode()  # naive UTC: text a ``timestamp`` column parses
        cur = str(int(delivery_id)).encode()
        pending = self.pending
        try:
            if pending:
                done = pending[0]
                params = [cur, str(int(done.id)).encode(), self._owner_bytes, stamp, done.reply.encode()]
                res = _check(pgconn.exec_prepared(b"wm_sent_and_mark", params), TUPLES_OK)
                marked = any(res.get_value(i, 0) == cur for i in range(res.ntuples))
            else:
                res = _check(
                    pgconn.exec_prepared(b"wm_only_mark", [cur, self._owner_bytes, stamp]), COMMAND_OK
                )
                marked = res.command_tuples == 1
        except BaseException:
            self._pgconn = None
            if pgconn.status != CONNECTION_OK and self._conn is not None:
                self._conn.invalidate()  # the server went away: the next mark opens a new one
                self._conn = None
            raise
        pending.clear()
        self.marked = {delivery_id} if marked else set()
        return marked

    def _mark_fast(self, delivery_id: int, now: datetime) -> bool:
        """Window 1 with at most one ``sent`` outcome pending: one autocommitted statement on
        the driver connection (no ORM, no BEGIN/COMMIT round trips), through a kept cursor."""
        if not self._sqlite:
            fast = self._mark_fast_pg(delivery_id, now)
            if fast is not None:
                return fast
        cursor = self._cursor
        if cursor is None:
            raw = self._connection().connection.driver_connection
            assert raw is not None
            cursor = self._cursor = raw.cursor()
        raw = cursor.connection
        params = self._params
        params["cur"] = delivery_id
        params["now"] = self._to_db(now)
        pending = self.pending
        sqlite = self._sqlite
        if not sqlite:
            raw.autocommit = True  # idle between transactions, so this is a client-side switch
        try:
            with self._lock:
                if pending:
                    done = pending[0]
                    params["prev"] = done.id
                    params["reply"] = done.reply
                    cursor.execute(self._sent_and_mark, params)
                    marked = any(row[0] == delivery_id for row in cursor.fetchall())
                else:
                    cursor.execute(
                        self._only_mark, {"cur": delivery_id, "owner": self.owner, "now": params["now"]}
                    )
                    marked = cursor.rowcount == 1
        except BaseException:
            self._drop_cursor()
            raise
        finally:
            if not sqlite:
                raw.autocommit = False
        pending.clear()
        self.marked = {delivery_id} if marked else set()
        return marked

    def _drop_cursor(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            with suppress(Exception):  # a broken connection's cursor: nothing to release
                cursor.close()

    def flush(self) -> None:
        """Write pending outcomes now."""
        if not self.pending:
            return
        conn = self._connection()
        try:
            with local_writer(self.ctx.engine):
                self._write(conn, self.ctx.clock.now())
                conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def close(self) -> None:
        """Flush and return the connection to the pool."""
        try:
            self.flush()
        finally:
            self._drop_cursor()
            self._pgconn = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None


COMMAND_OK, TUPLES_OK, IDLE, CONNECTION_OK = (
    1,
    2,
    0,
    0,
)  # psycopg.pq ExecStatus, TransactionStatus, ConnStatus


def _check(res: Any, status: int) -> Any:
    """``res`` when libpq reports ``status``; otherwise the server's error as an exception."""
    if res.status != status:
        import psycopg

        raise psycopg.OperationalError((res.error_message or b"").decode("utf-8", "replace").strip())
    return res
