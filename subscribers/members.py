"""The member list of the dashboard: browse, search by address or name prefix, keyset pages.

Built to stay fast at a million subscribers: every page is one index range read up to
``limit + 1`` rows (the extra row says whether a next page exists), never ``OFFSET`` and never a
count of the whole result.

* Browsing (no search) shows the newest first: ``subscribers.id`` descending overall, or the
  ``(list_id, subscriber_id)`` index of ``list_memberships`` for one list.
* An address search reads the unique index on ``email`` from the prefix on (addresses are
  stored lower case; the column compares byte by byte on both backends, see
  :mod:`subscribers.models`), in address order.
* A name search reads ``ix_subscribers_name_key`` on ``(lower(name), id)``, in that order.
  ``lower`` folds ASCII letters only on SQLite and under PostgreSQL's "C" collation, so the
  prefix is folded the same way here.

A search with filters (one list, one status) checks the prefix's matches against them in index
order, at most :data:`SCAN_CAP` per page: when they run out first, the page is ``partial`` (maybe
empty) and its cursor continues the search where it stopped, so no request reads a whole index
range. A list of at most :data:`MEMBER_SCAN` members that is smaller than the prefix's matches
(both counted on their indexes, no further than that) is searched from its members instead: their
keys read by primary key, matched and ordered here, an exact page in one request. Without these
two, a common prefix with few members in a small list read every match of the prefix
(``bench/members.py``: 50,000 index rows, 180 ms on SQLite, 540 ms on PostgreSQL).

The page's cursor is the last row's sort key (:class:`Cursor`), passed back by the next request.
Forgotten people are never listed (their row is an anonymous placeholder). Reads go through the
session's connection (Core rows, no ORM loading): they return plain tuples anyway.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, literal, select, tuple_
from sqlalchemy.orm import Session

from subscribers.models import ListMembership, Subscriber, SubscriberStatus

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MEMBER_SCAN = 10_000  # a list this small is searched from its members (see above)
SCAN_CAP = 2_000  # prefix matches checked per page against the list and status filters
FIRST_CHUNK, MAX_CHUNK = 100, 2_000  # keys read per step of a filtered search (doubling)
ID_CHUNK = 1000  # ids per primary-key read of a list's members
# Above every code point: ``key < prefix + TOP`` holds for every key that starts with ``prefix``.
TOP = "\U0010ffff"


class SearchBy(enum.StrEnum):
    EMAIL = "email"
    NAME = "name"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this sort key (``key`` is text for searches, ``id`` always)."""

    id: int
    key: str = ""

    def encode(self) -> str:
        """As one query-string value: ``<id>`` or ``<id>:<key>``."""
        return f"{self.id}:{self.key}" if self.key else str(self.id)

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """The cursor a page link carried, or None when it is missing or malformed (first page)."""
        if not text:
            return None
        head, sep, key = text.partition(":")
        if not head.isdigit() or len(head) > 19:
            return None
        return cls(int(head), key if sep else "")


@dataclass(frozen=True)
class Member:
    """One row of the member list."""

    id: int
    email: str
    name: str
    status: str
    created_at: datetime
    paused_until: datetime | None


@dataclass(frozen=True)
class MemberPage:
    """One page of members and the cursor of the next page (None on the last page)."""

    members: list[Member]
    next_cursor: Cursor | None
    partial: bool = False  # the page stopped after SCAN_CAP matches: the next page searches on


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(text: str) -> str:
    """Lower-case ASCII letters only, as ``lower()`` does in the database (see the module doc)."""
    return text.translate(_ASCII_LOWER)


def _prefix_range(column: Any, prefix: str) -> list[ColumnElement[bool]]:
    return [column >= prefix, column < prefix + TOP]


def _matching(prefix: str, by: SearchBy) -> Select[tuple[int]]:
    """Ids whose address or name starts with ``prefix``, read from the search index alone."""
    if by is SearchBy.EMAIL:
        return select(Subscriber.id).where(*_prefix_range(Subscriber.email, prefix.lower()))
    return select(Subscriber.id).where(*_prefix_range(func.lower(Subscriber.name), fold(prefix)))


def _count_upto(session: Session, stmt: Select[tuple[int]], cap: int) -> int:
    """How many rows ``stmt`` has, counting no further than ``cap`` (an index read of ``cap`` rows)."""
    limited = stmt.limit(cap).subquery()
    return int(session.connection().scalar(select(func.count()).select_from(limited)) or 0)


def _search_key(by: SearchBy, prefix: str, after: Cursor | None) -> tuple[Any, list[ColumnElement[bool]]]:
    """The sort key of a search and the conditions of its index range (after the cursor)."""
    if by is SearchBy.EMAIL:
        key: Any = Subscriber.email
        conditions = _prefix_range(key, prefix.lower())
        if after is not None:
            conditions.append(key > after.key)
    else:
        key = func.lower(Subscriber.name)
        conditions = _prefix_range(key, fold(prefix))
        if after is not None:
            conditions.append(tuple_(key, Subscriber.id) > tuple_(literal(after.key), literal(after.id)))
    return key, conditions


def search_members(
    session: Session,
    *,
    query: str = "",
    by: SearchBy = SearchBy.EMAIL,
    list_id: int | None = None,
    status: str | None = None,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> MemberPage:
    """One page of members, newest first, or matching ``query`` as an address or name prefix.

    ``list_id`` keeps members of one list, ``status`` one status (:class:`SubscriberStatus`).
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    prefix = query.strip()
    filters: list[ColumnElement[bool]] = [Subscriber.forgotten_at.is_(None)]
    if status is not None:
        filters.append(Subscriber.status == SubscriberStatus(status).value)
    if not prefix:
        return _browse(session, list_id, filters, after, limit)
    if list_id is not None:
        of_list = select(ListMembership.subscriber_id).where(ListMembership.list_id == list_id)
        size = _count_upto(session, of_list, MEMBER_SCAN + 1)
        if size <= MEMBER_SCAN and size < _count_upto(session, _matching(prefix, by), MEMBER_SCAN + 1):
            ids = list(session.connection().scalars(of_list).all())
            return _search_among(session, ids, prefix, by, status, after, limit)
        filters.append(
            exists().where(ListMembership.subscriber_id == Subscriber.id, ListMembership.list_id == list_id)
        )
    key, in_range = _search_key(by, prefix, after)
    if list_id is None and status is None:
        # Every match is a hit (a forgotten person's placeholder matches no real search).
        stmt = _member_columns().where(*in_range, *filters).order_by(key, Subscriber.id)
        return _page_of(session.connection().execute(stmt.limit(limit + 1)).all(), limit, by)
    return _filtered_search(session, prefix, by, filters, after, limit)


def _filtered_search(
    session: Session,
    prefix: str,
    by: SearchBy,
    filters: list[ColumnElement[bool]],
    after: Cursor | None,
    limit: int,
) -> MemberPage:
    """A prefix search whose filters (list, status) drop matches: the index range is read in
    growing chunks of keys (index only), each chunk's ids checked against the filters by primary
    key, until a page is full, the range ends, or :data:`SCAN_CAP` matches were checked (then the
    page is ``partial`` and its cursor continues from the last key checked). Plain queries, so the
    work per page is bounded whatever either planner decides."""
    conn = session.connection()
    check = select(Subscriber.id).where(Subscriber.id.in_(bindparam("ids", expanding=True)), *filters)
    found: list[tuple[str, int]] = []
    scanned, chunk, cursor, exhausted = 0, FIRST_CHUNK, after, False
    while scanned < SCAN_CAP and len(found) <= limit:
        key, in_range = _search_key(by, prefix, cursor)
        take = min(chunk, SCAN_CAP - scanned)
        keys = conn.execute(
            select(Subscriber.id, key).where(*in_range).order_by(key, Subscriber.id).limit(take)
        )
        batch = [(str(k), int(sid)) for sid, k in keys.all()]
        scanned += len(batch)
        if batch:
            passing = set(conn.scalars(check, {"ids": [sid for _, sid in batch]}).all())
            found += [(k, sid) for k, sid in batch if sid in passing]
            cursor = Cursor(batch[-1][1], batch[-1][0])
        if len(batch) < take:
            exhausted = True
            break
        chunk = min(chunk * 2, MAX_CHUNK)
    page = found[:limit]
    rows = {
        row[0]: Member(*row)
        for row in session.connection().execute(
            _member_columns().where(Subscriber.id.in_([sid for _, sid in page]))
        )
    }
    members = [rows[sid] for _, sid in page if sid in rows]
    if len(found) > limit:
        last_key, last_id = page[-1]
        return MemberPage(members, Cursor(last_id, last_key))
    if exhausted or cursor is None:
        return MemberPage(members, None)
    return MemberPage(members, cursor, partial=True)


def _browse(
    session: Session,
    list_id: int | None,
    filters: list[ColumnElement[bool]],
    after: Cursor | None,
    limit: int,
) -> MemberPage:
    """Newest first, overall or walking one list's own index (each member fetched by primary key)."""
    stmt = _member_columns()
    if list_id is not None:
        stmt = stmt.join(ListMembership, ListMembership.subscriber_id == Subscriber.id).where(
            ListMembership.list_id == list_id
        )
        order: Any = ListMembership.subscriber_id
    else:
        order = Subscriber.id
    if after is not None:
        filters = [*filters, order < after.id]
    rows = session.connection().execute(stmt.where(*filters).order_by(order.desc()).limit(limit + 1)).all()
    members = [Member(*row) for row in rows[:limit]]
    return MemberPage(members, Cursor(members[-1].id) if len(rows) > limit else None)


def _page_of(rows: Sequence[Any], limit: int, by: SearchBy) -> MemberPage:
    """A search page from up to ``limit + 1`` rows in key order; the cursor is the last row's key."""
    members = [Member(*row) for row in rows[:limit]]
    if len(rows) <= limit:
        return MemberPage(members, None)
    last = members[-1]
    return MemberPage(members, Cursor(last.id, last.email if by is SearchBy.EMAIL else fold(last.name)))


def _search_among(
    session: Session,
    ids: list[int],
    prefix: str,
    by: SearchBy,
    status: str | None,
    after: Cursor | None,
    limit: int,
) -> MemberPage:
    """:func:`search_members` over the subscribers ``ids`` (a small list): their sort keys read by
    primary key, matched and ordered here exactly as the indexes order them (code point order,
    ASCII folding), then the page's rows read in full."""
    conditions: list[ColumnElement[bool]] = [Subscriber.forgotten_at.is_(None)]
    if status is not None:
        conditions.append(Subscriber.status == SubscriberStatus(status).value)
    by_email = by is SearchBy.EMAIL
    wanted = prefix.lower() if by_email else fold(prefix)
    column = Subscriber.email if by_email else Subscriber.name
    conn = session.connection()
    # One statement for every chunk: the ids are bound at execution (no per-id compilation).
    stmt = select(Subscriber.id, column).where(
        Subscriber.id.in_(bindparam("ids", expanding=True)), *conditions
    )
    found: list[tuple[str, int]] = []
    for start in range(0, len(ids), ID_CHUNK):
        for sid, value in conn.execute(stmt, {"ids": ids[start : start + ID_CHUNK]}).all():
            key = value if by_email else value.translate(_ASCII_LOWER)
            if key.startswith(wanted) and (after is None or (key, sid) > (after.key, after.id)):
                found.append((key, sid))
    found.sort()
    page = found[: limit + 1]
    rows = {
        row[0]: Member(*row)
        for row in session.connection().execute(
            _member_columns().where(Subscriber.id.in_([sid for _, sid in page]))
        )
    }
    members = [rows[sid] for _, sid in page[:limit] if sid in rows]
    if len(page) <= limit:
        return MemberPage(members, None)
    last_key, last_id = page[limit - 1]
    return MemberPage(members, Cursor(last_id, last_key))


def _member_columns() -> Select[tuple[int, str, str, str, datetime, datetime | None]]:
    return select(
        Subscriber.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.status,
        Subscriber.created_at,
        Subscriber.paused_until,
    )


def full_scan_search(session: Session, query: str, limit: int = PAGE_SIZE) -> list[int]:
    """The same address search without the index (``substr`` of every row): the benchmark's baseline."""
    prefix = query.strip().lower()
    stmt = (
        select(Subscriber.id)
        .where(func.substr(Subscriber.email, 1, len(prefix)) == prefix)
        .order_by(Subscriber.email)
        .limit(limit)
    )
    return list(session.connection().scalars(stmt))
