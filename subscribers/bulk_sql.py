# ruff: noqa: S608  (SQL text is built from constants and "?" marks only; values are bound)
"""Dialect-specific bulk statements for the CSV import hot path.

SQLAlchemy's per-row bind processing (datetimes, JSON) cost more than the database work itself,
so the import prepares driver-level values once per chunk and sends them as one statement
(PostgreSQL: ``unnest`` arrays) or one ``executemany`` (SQLite, looped in C).
Values are always bound parameters, never interpolated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

Profile = tuple[int, str, str | None, str, str]
"""``(id, name, timezone, locale, attributes_json)``."""


def _ts(conn: Connection, at: datetime) -> Any:
    naive = at.astimezone(UTC).replace(tzinfo=None)
    # Same text format SQLAlchemy's SQLite DATETIME writes, so comparisons in SQL stay right.
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else naive


# PostgreSQL: a list travels as one newline-joined text parameter (psycopg dumps big Python lists
# element by element); normalised addresses, hex hashes and ids never contain a newline.
_ARRAY = "string_to_array(%s, E'\\n')"


def _joined(values: Sequence[object]) -> str:
    return "\n".join(map(str, values))


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


_STAGES = {
    "wm_stage_new": "e text, n text, tz text, l text, a jsonb",
    "wm_stage_upd": "i integer, n text, tz text, l text, a jsonb",
    "wm_stage_join": "i integer",
}


def _pg_copy(conn: Connection, target: str, rows: Sequence[Sequence[Any]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _pg_stage(conn: Connection, name: str, rows: Sequence[Sequence[Any]]) -> None:
    """Load rows into an empty temporary table with COPY (PostgreSQL's fastest path)."""
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({_STAGES[name]})")
    conn.exec_driver_sql(f"TRUNCATE {name}")
    _pg_copy(conn, name, rows)


def to_json(value: dict[str, Any]) -> str:
    """Serialise attributes like the JSON column type does."""
    return json.dumps(value) if value else "{}"


def select_existing(conn: Connection, emails: Sequence[str]) -> list[Any]:
    """``(id, email, status, name, timezone, locale, attributes)`` of subscribers with these emails."""
    cols = "id, email, status, name, timezone, locale, attributes"
    if _pg(conn):
        rows = conn.exec_driver_sql(
            f"SELECT {cols} FROM subscribers WHERE email = ANY({_ARRAY})", (_joined(emails),)
        )
        return list(rows)
    marks = ",".join("?" * len(emails))
    rows = conn.exec_driver_sql(f"SELECT {cols} FROM subscribers WHERE email IN ({marks})", tuple(emails))
    return [(*r[:6], json.loads(r[6]) if r[6] else {}) for r in rows]


def select_ids(conn: Connection, emails: Sequence[str]) -> list[tuple[int, str]]:
    """``(id, email)`` for these emails."""
    if _pg(conn):
        rows = conn.exec_driver_sql(
            f"SELECT id, email FROM subscribers WHERE email = ANY({_ARRAY})", (_joined(emails),)
        )
    else:
        marks = ",".join("?" * len(emails))
        rows = conn.exec_driver_sql(
            f"SELECT id, email FROM subscribers WHERE email IN ({marks})", tuple(emails)
        )
    return [(r[0], r[1]) for r in rows]


def select_suppressed(conn: Connection, digests: Sequence[str]) -> set[str]:
    """Which of these address hashes are suppressed."""
    params: Any
    if _pg(conn):
        sql, params = (
            f"SELECT address_hash FROM suppressions WHERE address_hash = ANY({_ARRAY})",
            (_joined(digests),),
        )
    else:
        marks = ",".join("?" * len(digests))
        sql, params = f"SELECT address_hash FROM suppressions WHERE address_hash IN ({marks})", tuple(digests)
    return {r[0] for r in conn.exec_driver_sql(sql, params)}


def select_members(conn: Connection, list_id: int, ids: Sequence[int]) -> set[int]:
    """Which of these subscribers are already on the list."""
    if not ids:
        return set()
    base = "SELECT subscriber_id FROM list_memberships WHERE list_id = "
    if _pg(conn):
        rows = conn.exec_driver_sql(
            base + f"%s AND subscriber_id = ANY({_ARRAY}::integer[])", (list_id, _joined(ids))
        )
    else:
        marks = ",".join("?" * len(ids))
        rows = conn.exec_driver_sql(base + f"? AND subscriber_id IN ({marks})", (list_id, *ids))
    return {r[0] for r in rows}


def insert_new(
    conn: Connection,
    rows: Sequence[tuple[str, str, str | None, str, str]],
    list_id: int,
    status: str,
    source: str,
    at: datetime,
) -> None:
    """Insert ``(email, name, timezone, locale, attributes_json)`` rows as new subscribers of the list,
    each with its first consent event. Addresses someone else inserted meanwhile are skipped.

    SQLite holds the write lock for the whole chunk (BEGIN IMMEDIATE), so nobody can race it there.
    """
    ts = _ts(conn, at)
    confirmed = ts if status == "active" else None
    cols = "email, name, timezone, locale, attributes, status, consent_source, created_at, updated_at"
    cols += ", confirmed_at"
    if _pg(conn):
        _pg_stage(conn, "wm_stage_new", rows)
        conn.exec_driver_sql(
            f"WITH ins AS (INSERT INTO subscribers ({cols}) "
            "SELECT e, n, tz, l, a, %s, %s, %s, %s, %s FROM wm_stage_new ON CONFLICT (email) DO NOTHING "
            "RETURNING id), "
            "ev AS (INSERT INTO consent_events (subscriber_id, from_status, to_status, source, detail, at) "
            "SELECT id, NULL, %s, %s, '', %s FROM ins) "
            "INSERT INTO list_memberships (subscriber_id, list_id, created_at) SELECT id, %s, %s FROM ins",
            (status, source, ts, ts, confirmed, status, source, ts, list_id, ts),
        )
        return
    conn.exec_driver_sql(
        f"INSERT INTO subscribers ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*r, status, source, ts, ts, confirmed) for r in rows],
    )
    ids = [i for i, _ in select_ids(conn, [r[0] for r in rows])]
    insert_events(conn, [(i, None) for i in ids], status, source, at)
    insert_memberships(conn, list_id, ids, at)


def insert_events(
    conn: Connection, rows: Sequence[tuple[int, str | None]], to_status: str, source: str, at: datetime
) -> None:
    """Consent events ``(subscriber_id, from_status) -> to_status`` at ``at``."""
    ts = _ts(conn, at)
    cols = "subscriber_id, from_status, to_status, source, detail, at"
    if _pg(conn):
        _pg_copy(conn, f"consent_events ({cols})", [(i, f, to_status, source, "", ts) for i, f in rows])
    else:
        conn.exec_driver_sql(
            f"INSERT INTO consent_events ({cols}) VALUES (?, ?, ?, ?, '', ?)",
            [(i, f, to_status, source, ts) for i, f in rows],
        )


def insert_memberships(conn: Connection, list_id: int, ids: Sequence[int], at: datetime) -> None:
    """Put these subscribers on the list (existing memberships are left alone)."""
    ts = _ts(conn, at)
    sql = "INSERT INTO list_memberships (subscriber_id, list_id, created_at) "
    if _pg(conn):
        _pg_stage(conn, "wm_stage_join", [(i,) for i in ids])
        conn.exec_driver_sql(
            sql + "SELECT i, %s, %s FROM wm_stage_join ON CONFLICT DO NOTHING", (list_id, ts)
        )
    else:
        conn.exec_driver_sql(sql + "VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [(i, list_id, ts) for i in ids])


def update_profiles(conn: Connection, rows: Sequence[Profile], at: datetime) -> None:
    """Set name, timezone, locale and attributes of existing subscribers."""
    ts = _ts(conn, at)
    if _pg(conn):
        _pg_stage(conn, "wm_stage_upd", rows)
        conn.exec_driver_sql(
            "UPDATE subscribers AS s SET name = t.n, timezone = t.tz, locale = t.l, attributes = t.a, "
            "updated_at = %s FROM wm_stage_upd AS t WHERE s.id = t.i",
            (ts,),
        )
    else:
        conn.exec_driver_sql(
            "UPDATE subscribers SET name = ?, timezone = ?, locale = ?, attributes = ?, updated_at = ? "
            "WHERE id = ?",
            [(n, tz, loc, a, ts, i) for i, n, tz, loc, a in rows],
        )


def activate(conn: Connection, ids: Sequence[int], source: str, at: datetime) -> None:
    """Pending -> active for these subscribers (events are written separately)."""
    ts = _ts(conn, at)
    sql = "UPDATE subscribers SET status = 'active', consent_source = "
    if _pg(conn):
        conn.exec_driver_sql(
            sql
            + f"%s, confirmed_at = %s, updated_at = %s WHERE id = ANY({_ARRAY}::integer[]) "
            + "AND status = 'pending'",
            (source, ts, ts, _joined(ids)),
        )
    else:
        conn.exec_driver_sql(
            sql + "?, confirmed_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
            [(source, ts, ts, i) for i in ids],
        )
