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

A search within one list can be driven from either side: the search index, checking each match's
membership (cost: the prefix's matches read until a page is full), or the list's members, read by
primary key and matched here (cost: the list's size). Both sizes are counted up to
:data:`COUNT_CAP` on their indexes (cheap), and the smaller side drives. Without that, a common
prefix with few members in a small list read every match of the prefix (``bench/members.py``:
50,000 index rows, 180 ms on SQLite, 540 ms on PostgreSQL). When both exceed the cap, the index
drives: a page then needs about ``limit x subscribers / members`` probes, unless the list's members
happen to avoid the prefix.

The page's cursor is the last row's sort key (:class:`Cursor`), passed back by the next request.
Forgotten people are never listed (their row is an anonymous placeholder).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, select, tuple_
from sqlalchemy.orm import Session

from subscribers.models import ListMembership, Subscriber, SubscriberStatus

PAGE_SIZE = 50
COUNT_CAP = 20_000  # sizes are counted up to this many index rows (see above)
ID_CHUNK = 1000
MAX_PAGE_SIZE = 50
COUNT_CAP = 20_000  # sizes are counted up to this many index rows (see above)
ID_CHUNK = 10000
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


def fold(text: str) -> str:
    """Lower-case ASCII letters only, as ``lower()`` does in the database (see the module doc)."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def _prefix_range(column: Any, prefix: str) -> list[ColumnElement[bool]]:
    return [column >= prefix, column < prefix + TOP]


def _matching(prefix: str, by: SearchBy) -> Select[tuple[int]]:
    """Ids whose address or name starts with ``prefix``, read from the search index alone."""
    if by is SearchBy.EMAIL:
        return select(Subscriber.id).where(*_prefix_range(Subscriber.email, prefix.lower()))
    return select(Subscriber.id).where(*_prefix_range(func.lower(Subscriber.name), fold(prefix)))


def _count_upto(session: Session, stmt: Select[tuple[int]], cap: int | None = None) -> int:
    """How many rows ``stmt`` has, counting no further than ``cap`` (default :data:`COUNT_CAP`)."""
    limited = stmt.limit(COUNT_CAP if cap is None else cap).subquery()
    return int(session.scalar(select(func.count()).select_from(limited)) or 0)


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
    if prefix and list_id is not None:
        of_list = select(ListMembership.subscriber_id).where(ListMembership.list_id == list_id)
        size = _count_upto(session, of_list)
        if size < COUNT_CAP and size < _count_upto(session, _matching(prefix, by)):
            ids = list(session.scalars(of_list))
            return _search_among(session, ids, prefix, by, status, after, limit)
    columns = (
        Subscriber.id,
        Subscriber.email,
        Subscriber.name,
        Subscriber.status,
        Subscriber.created_at,
        Subscriber.paused_until,
    )
    conditions: list[ColumnElement[bool]] = [Subscriber.forgotten_at.is_(None)]
    if status is not None:
        conditions.append(Subscriber.status == SubscriberStatus(status).value)
    stmt = select(*columns)
    if not prefix:
        if list_id is not None:
            # Walk the list's own index and fetch each member by primary key.
            stmt = stmt.join(ListMembership, ListMembership.subscriber_id == Subscriber.id).where(
                ListMembership.list_id == list_id
            )
            order: Any = ListMembership.subscriber_id
        else:
            order = Subscriber.id
        if after is not None:
            conditions.append(order < after.id)
        stmt = stmt.order_by(order.desc())
    else:
        if list_id is not None:
            conditions.append(
                exists().where(
                    ListMembership.subscriber_id == Subscriber.id, ListMembership.list_id == list_id
                )
            )
        if by is SearchBy.EMAIL:
            key: Any = Subscriber.email
            conditions += _prefix_range(key, prefix.lower())
            if after is not None:
                conditions.append(key > after.key)
            stmt = stmt.order_by(key)
        else:
            key = func.lower(Subscriber.name)
            conditions += _prefix_range(key, fold(prefix))
            if after is not None:
                conditions.append(tuple_(key, Subscriber.id) > tuple_(literal(after.key), literal(after.id)))
            stmt = stmt.order_by(key, Subscriber.id)
    rows = session.execute(stmt.where(*conditions).limit(limit + 1)).all()
    members = [Member(*row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = members[-1]
        if not prefix:
            next_cursor = Cursor(last.id)
        elif by is SearchBy.EMAIL:
            next_cursor = Cursor(last.id, last.email)
        else:
            next_cursor = Cursor(last.id, fold(last.name))
    return MemberPage(members, next_cursor)


def _search_among(
    session: Session,
    ids: list[int],
    prefix: str,
    by: SearchBy,
    status: str | None,
    after: Cursor | None,
    limit: int,
) -> MemberPage:
    """:func:`search_members` over the subscribers ``ids`` (a small list): read by primary key,
    matched and ordered here exactly as the indexes order them (code point order, ASCII folding)."""
    conditions: list[ColumnElement[bool]] = [Subscriber.forgotten_at.is_(None)]
    if status is not None:
        conditions.append(Subscriber.status == SubscriberStatus(status).value)
    wanted = prefix.lower() if by is SearchBy.EMAIL else fold(prefix)
    found: list[tuple[tuple[str, int], Member]] = []
    for start in range(0, len(ids), ID_CHUNK):
        stmt = select(
            Subscriber.id,
            Subscriber.email,
            Subscriber.name,
            Subscriber.status,
            Subscriber.created_at,
            Subscriber.paused_until,
        ).where(Subscriber.id.in_(ids[start : start + ID_CHUNK]), *conditions)
        for row in session.execute(stmt):
            member = Member(*row)
            key = member.email if by is SearchBy.EMAIL else fold(member.name)
            if key.startswith(wanted) and (after is None or (key, member.id) > (after.key, after.id)):
                found.append(((key, member.id), member))
    found.sort(key=lambda item: item[0])
    members = [m for _, m in found[:limit]]
    if len(found) <= limit:
        return MemberPage(members, None)
    last_key, last_id = found[limit - 1][0]
    return MemberPage(members, Cursor(last_id, last_key))


def full_scan_search(session: Session, query: str, limit: int = PAGE_SIZE) -> list[int]:
    """The same address search without the index (``substr`` of every row): the benchmark's baseline."""
    prefix = query.strip().lower()
    stmt = (
        select(Subscriber.id)
        .where(func.substr(Subscriber.email, 1, len(prefix)) == prefix)
        .order_by(Subscriber.email)
        .limit(limit)
    )
    return list(session.scalars(stmt))
