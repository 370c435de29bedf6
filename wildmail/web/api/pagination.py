"""Cursor pages: ``?limit=&cursor=``, items in id order, ``next_cursor`` while more follow.

A cursor is the last id of a page, signed with the server's key and the resource's name
(:mod:`wildmail.core.signing`), so a client can neither forge one nor carry one to another resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field

from wildmail.core.signing import BadToken, sign_ints, verify_ints
from wildmail.web.api.problems import FieldError, ProblemError

T = TypeVar("T")
R = TypeVar("R")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    """One page of a list, oldest first (by id)."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class PageQuery:
    """The ``limit`` and ``cursor`` query parameters of a list endpoint."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None, Query(max_length=200, description="The next_cursor of the previous page.")
        ] = None,
    ) -> None:
        self.limit, self.cursor = limit, cursor


def _purpose(resource: str) -> str:
    return f"api.cursor.{resource}"


def after_id(request: Request, resource: str, page: PageQuery) -> int:
    """The id the page starts after (0 for the first page); a bad cursor is a 400 problem."""
    if not page.cursor:
        return 0
    try:
        (last,) = verify_ints(request.app.state.ctx.settings.secret, _purpose(resource), page.cursor, 1)
    except BadToken:
        raise ProblemError(
            400,
            "the cursor is not one this server gave for this list; start again without it",
            kind="invalid-cursor",
            errors=[FieldError(field="query.cursor", message="not a valid cursor")],
        ) from None
    return last


def paged(
    request: Request,
    resource: str,
    page: PageQuery,
    rows: Sequence[R],
    id_of: Callable[[R], int],
    out: Callable[[R], T],
) -> Page[T]:
    """A page from ``rows`` read with ``limit + 1`` (the extra row only says that more follow)."""
    shown = list(rows[: page.limit])
    more = len(rows) > page.limit
    cursor = None
    if more and shown:
        cursor = sign_ints(request.app.state.ctx.settings.secret, _purpose(resource), id_of(shown[-1]))
    return Page[T](items=[out(r) for r in shown], next_cursor=cursor)
