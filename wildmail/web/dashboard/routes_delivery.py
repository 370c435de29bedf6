"""Admin page: relay pauses with their alerts, and suppressions an admin may lift with a note."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from delivery import ratelimit
from subscribers.lifecycle import CannotLift, lift_bounce, suppressed_people
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_ADMIN, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render

router = APIRouter(route_class=DashboardRoute)
PAGE = "/dashboard/delivery"
NOTICES = {
    "lifted": "Suppression lifted; the note is in the person's consent history.",
    "resumed": "Relay resumed: workers use it again at their next step.",
}


def _page(request: Request, status: int = 200, error: str | None = None) -> Response:
    user = require(request, CAN_ADMIN)
    ctx = ctx_of(request)
    search = request.query_params.get("q", "")[:320]
    with ctx.session() as s:
        people = suppressed_people(s, search)
    return render(
        request,
        "delivery.html",
        status,
        user=user,
        now=ctx.clock.now(),
        relays=ratelimit.relay_statuses(ctx),
        people=people,
        search=search,
        error=error,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.get(PAGE)
def delivery_page(request: Request) -> Response:
    return _page(request)


@router.post("/dashboard/suppressions/lift")
async def lift(request: Request) -> Response:
    user = require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    email, note = str(form.get("email") or ""), str(form.get("note") or "")
    try:
        with write_transaction(ctx.engine) as s:
            lift_bounce(s, email, note, ctx.clock.now(), by=f"{user.email} (dashboard)")
    except CannotLift as exc:
        return _page(request, 400, error=f"Not lifted: {exc}")
    return done(PAGE, "lifted")


@router.post("/dashboard/relays/resume")
async def resume(request: Request) -> Response:
    require(request, CAN_ADMIN)
    form = await form_of(request)
    try:
        ratelimit.resume(ctx_of(request), str(form.get("name") or ""))
    except ratelimit.UnknownRelay as exc:
        return _page(request, 400, error=str(exc))
    return done(PAGE, "resumed")
