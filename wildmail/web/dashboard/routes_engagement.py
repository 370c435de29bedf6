"""Marketer pages for send-time optimisation (per campaign) and the sunset policy (per list).

Both are forms with the dashboard's CSRF token; they call the same use cases as
``wildmail engagement`` (:func:`tracking.sendtime.switch`, :func:`tracking.sunset.configure_list`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stats.engagement import UnknownCampaign, campaign_engagement
from tracking import sendtime, sunset
from wildmail.runtime.users import Role
from wildmail.web.dashboard.auth import CAN_EDIT, CAN_READ, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render

router = APIRouter(route_class=DashboardRoute)
NOTICES = {"send-time": "Send-time optimisation saved.", "sunset": "Sunset policy saved."}


def _page(request: Request, slug: str, status: int = 200, **extra: Any) -> Response:
    user = require(request, CAN_READ)
    try:
        found = campaign_engagement(ctx_of(request), slug)
    except UnknownCampaign:
        return error_page(request, 404, "No such campaign", f"There is no campaign {slug!r}.")
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(
        request, "engagement.html", status, user=user, campaign=found.campaign, figures=found.send_time,
        sunsets=found.sunset, policy=found.policy, list_slug=found.list_slug, inactive=found.inactive,
        notice=notice, can_edit=Role(user.role) in CAN_EDIT, **extra,
    )  # fmt: skip


@router.get("/dashboard/campaigns/{slug}/engagement")
def engagement_page(request: Request, slug: str) -> Response:
    """The STO switch and its A/B figures, and the sunset figures of one campaign."""
    return _page(request, slug)


@router.post("/dashboard/campaigns/{slug}/send-time")
async def send_time_form(request: Request, slug: str) -> Response:
    require(request, CAN_EDIT)
    form = await form_of(request)
    start, end = str(form.get("start") or "7"), str(form.get("end") or "20")
    try:
        sendtime.switch(ctx_of(request), slug, enabled=form.get("enabled") == "1", window=f"{start}-{end}")
    except sendtime.StoError as exc:
        return _page(request, slug, 400, error=f"Not saved: {exc}")
    return done(f"/dashboard/campaigns/{slug}/engagement", "send-time")


@router.post("/dashboard/lists/{slug}/sunset")
async def sunset_form(request: Request, slug: str) -> Response:
    require(request, CAN_EDIT)
    form = await form_of(request)
    try:
        after = int(str(form.get("after") or "0"))
        wait_days = int(str(form.get("wait_days") or "14"))
    except ValueError:
        return error_page(request, 400, "Sunset policy not saved", "Give whole numbers of emails and days.")
    try:
        sunset.configure_list(
            ctx_of(request), slug, after=after, wait_days=wait_days, unknown=form.get("unknown") == "1"
        )
    except sunset.PolicyError as exc:
        return error_page(request, 400, "Sunset policy not saved", str(exc))
    return done("/dashboard/lists", "sunset")
