"""Dialect helpers shared by every package's SQL: upserts, row counts, driver-level statements."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Insert, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Conn = Session | Connection


def dialect_name(conn: Conn) -> str:
    """``sqlite`` or ``postgresql``: the dialect of a connection or session."""
    return conn.dialect.name if isinstance(conn, Connection) else conn.get_bind().dialect.name


def is_postgres(conn: Conn) -> bool:
    """True when ``conn`` talks to PostgreSQL."""
    return dialect_name(conn) == "postgresql"


def rowcount(result: Result[Any]) -> int:
    """Rows touched by an INSERT/UPDATE/DELETE result."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def upsert_ignore(conn: Conn, table: Any) -> Insert:
    """``INSERT`` that skips rows hitting a unique constraint, for this connection's dialect."""
    stmt = (postgresql.insert if is_postgres(conn) else sqlite.insert)(table).on_conflict_do_nothing()
    return stmt.execution_options(preserve_rowcount=True)  # type: ignore[no-any-return]


def driver_sql(sql: str, sqlite: bool) -> str:
    """``sql`` in the driver's named parameter style (sqlite3 ``:name``, psycopg ``%(name)s``)."""
    return sql if sqlite else re.sub(r":(\w+)", r"%(\1)s", sql)


def int_list(values: Iterable[int]) -> str:
    """``1,2,3``: integers from our own rows, inlined into an ``IN (...)`` list."""
    return ",".join(str(int(v)) for v in values)
