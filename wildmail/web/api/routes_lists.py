"""``/api/v1/lists``: subscriber lists (create, read, rename/describe), as the CLI and dashboard allow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from subscribers import lifecycle
from subscribers.addresses import InvalidValue
from subscribers.models import SubscriberList
from subscribers.records import lists_page
from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import Principal
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.pagination import Page, PageQuery, after_id, paged
from wildmail.web.api.problems import ProblemError
from wildmail.web.api.schemas import ListIn, ListOut, ListPatch, SlugPath
from wildmail.web.api.security import ctx_of, needs

router = APIRouter(prefix="/api/v1/lists", tags=["lists"], route_class=ApiRoute)
Reader = Annotated[Principal, Depends(needs("lists", "read"))]
Writer = Annotated[Principal, Depends(needs("lists", "write"))]


def list_out(lst: SubscriberList, members: int) -> ListOut:
    return ListOut(
        id=lst.id, slug=lst.slug, name=lst.name, description=lst.description, double_opt_in=lst.double_opt_in,
        frequency_cap_days=lst.frequency_cap_days, created_at=lst.created_at, members=members,
    )  # fmt: skip


def _count(request: Request, lst: SubscriberList) -> int:
    with ctx_of(request).session() as s:
        rows = lists_page(s, lst.id - 1, 1)
    return rows[0][1] if rows else 0


@router.get("", summary="Lists, by id")
def get_lists(request: Request, _: Reader, page: Annotated[PageQuery, Depends()]) -> Page[ListOut]:
    with ctx_of(request).session() as s:
        rows = lists_page(s, after_id(request, "lists", page), page.limit + 1)
        return paged(request, "lists", page, rows, lambda r: r[0].id, lambda r: list_out(*r))


@router.post("", status_code=201, summary="Create a list")
def create_list(request: Request, _: Writer, body: ListIn, response: Response) -> ListOut:
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            lst = lifecycle.create_list(
                s, body.slug, body.name or None, double_opt_in=body.double_opt_in, at=ctx.clock.now(),
                description=body.description, frequency_cap_days=body.frequency_cap_days,
            )  # fmt: skip
            out = list_out(lst, 0)
    except InvalidValue as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise ProblemError(
            status, str(exc), kind="list-exists" if status == 409 else "invalid-list"
        ) from None
    response.headers["Location"] = f"/api/v1/lists/{out.slug}"
    return out


def _require(request: Request, slug: str) -> tuple[SubscriberList, int]:
    with ctx_of(request).session() as s:
        lst = lifecycle.get_list(s, slug)
        if lst is None:
            raise ProblemError(404, f"no list {slug!r}", kind="not-found")
        return lst, _count(request, lst)


@router.get("/{slug}", summary="One list")
def get_list(request: Request, _: Reader, slug: SlugPath) -> ListOut:
    return list_out(*_require(request, slug))


@router.patch("/{slug}", summary="Change a list's display name or description")
def patch_list(request: Request, _: Writer, slug: SlugPath, body: ListPatch) -> ListOut:
    ctx = ctx_of(request)
    lst, members = _require(request, slug)
    try:
        with write_transaction(ctx.engine) as s:
            name = body.name if body.name is not None else lst.name
            description = body.description if body.description is not None else lst.description
            changed = lifecycle.describe_list(s, slug, name, description)
            return list_out(changed, members)
    except InvalidValue as exc:
        raise ProblemError(422, str(exc), kind="invalid-list") from None
