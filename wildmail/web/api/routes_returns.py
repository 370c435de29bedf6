"""``/api/v1/suppressions`` (list, look up, add, remove) and ``/api/v1/bounces`` and
``/api/v1/complaints`` (what came back: kept DSNs, feedback reports and provider events)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from inbound.queries import RETURN_KINDS, Returned, returns_page
from subscribers.addresses import InvalidValue
from subscribers.lifecycle import CannotLift
from subscribers.records import (
    SuppressionEntry,
    add_suppression,
    find_suppression,
    remove_suppression,
    suppressions_page,
)
from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import Principal
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.pagination import Page, PageQuery, after_id, paged
from wildmail.web.api.problems import ProblemError
from wildmail.web.api.schemas import ReturnedOut, SuppressionIn, SuppressionOut
from wildmail.web.api.security import ctx_of, needs

router = APIRouter(tags=["suppression", "bounces"], route_class=ApiRoute)
SuppressionReader = Annotated[Principal, Depends(needs("suppression", "read"))]
SuppressionWriter = Annotated[Principal, Depends(needs("suppression", "write"))]
BounceReader = Annotated[Principal, Depends(needs("bounces", "read"))]
Address = Annotated[str, Path(min_length=3, max_length=320)]


def suppression_out(e: SuppressionEntry) -> SuppressionOut:
    return SuppressionOut(
        id=e.id, address_hash=e.address_hash, reason=e.reason, created_at=e.created_at, email=e.email
    )


def _invalid(exc: InvalidValue) -> ProblemError:
    return ProblemError(422, str(exc), kind="invalid-address")


@router.get("/api/v1/suppressions", summary="The suppression list, by id", tags=["suppression"])
def get_suppressions(
    request: Request, _: SuppressionReader, page: Annotated[PageQuery, Depends()]
) -> Page[SuppressionOut]:
    with ctx_of(request).session() as s:
        rows = suppressions_page(s, after_id(request, "suppressions", page), page.limit + 1)
    return paged(request, "suppressions", page, rows, lambda e: e.id, suppression_out)


@router.get("/api/v1/suppressions/{email}", summary="Is this address suppressed?", tags=["suppression"])
def get_suppression(request: Request, _: SuppressionReader, email: Address) -> SuppressionOut:
    try:
        with ctx_of(request).session() as s:
            entry = find_suppression(s, email)
    except InvalidValue as exc:
        raise _invalid(exc) from None
    if entry is None:
        raise ProblemError(404, "this address is not suppressed", kind="not-found")
    return suppression_out(entry)


@router.post("/api/v1/suppressions", status_code=201, summary="Suppress an address", tags=["suppression"])
def post_suppression(
    request: Request, _: SuppressionWriter, body: SuppressionIn, response: Response
) -> SuppressionOut:
    """Nothing is sent to the address again until the entry is removed (reason ``manual``). An
    address already suppressed keeps its entry (200)."""
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            entry, created = add_suppression(s, body.email, ctx.clock.now())
    except InvalidValue as exc:
        raise _invalid(exc) from None
    response.status_code = 201 if created else 200
    return suppression_out(entry)


@router.delete(
    "/api/v1/suppressions/{email}", status_code=204, summary="Remove a suppression", tags=["suppression"]
)
def delete_suppression(
    request: Request,
    principal: SuppressionWriter,
    email: Address,
    note: Annotated[str, Query(max_length=500, description="Why (required to lift a bounce's).")] = "",
) -> Response:
    """An entry added by hand goes at once; a hard bounce's needs a ``note`` (kept in the person's
    consent history); one the person asked for (unsubscribe, complaint) is refused (409): only
    their own fresh confirmation lifts that."""
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            remove_suppression(s, email, ctx.clock.now(), note, by=f"API token {principal.name}")
    except InvalidValue as exc:
        raise _invalid(exc) from None
    except CannotLift as exc:
        raise ProblemError(409, str(exc), kind="cannot-lift") from None
    except LookupError as exc:
        raise ProblemError(404, str(exc), kind="not-found") from None
    return Response(status_code=204)


def returned_out(r: Returned) -> ReturnedOut:
    return ReturnedOut(
        id=r.id, received_at=r.received_at, via=r.via, kind=r.kind, action=r.action, reason=r.reason,  # type: ignore[arg-type]
        status=r.status, delivery_id=r.delivery_id, subscriber_id=r.subscriber_id, campaign_id=r.campaign_id,
    )  # fmt: skip


@router.get("/api/v1/bounces", summary="Bounces received (hard, soft, block), by id", tags=["bounces"])
def get_bounces(
    request: Request,
    _: BounceReader,
    page: Annotated[PageQuery, Depends()],
    kind: Annotated[Literal["hard", "soft", "block"] | None, Query(description="Only this kind.")] = None,
) -> Page[ReturnedOut]:
    kinds = (kind,) if kind else tuple(k for k in RETURN_KINDS if k != "complaint")
    rows = returns_page(ctx_of(request), after_id(request, "bounces", page), page.limit + 1, kinds)
    return paged(request, "bounces", page, rows, lambda r: r.id, returned_out)


@router.get(
    "/api/v1/complaints", summary="Spam complaints received (feedback reports), by id", tags=["bounces"]
)
def get_complaints(
    request: Request, _: BounceReader, page: Annotated[PageQuery, Depends()]
) -> Page[ReturnedOut]:
    rows = returns_page(
        ctx_of(request), after_id(request, "complaints", page), page.limit + 1, ("complaint",)
    )
    return paged(request, "complaints", page, rows, lambda r: r.id, returned_out)
