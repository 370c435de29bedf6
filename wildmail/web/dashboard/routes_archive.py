"""Marketer action: a campaign's public web archive on or off (``delivery.archive.set_archive``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from delivery.archive import set_archive
from delivery.lifecycle import CampaignNotFound
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of
from wildmail.web.dashboard.routes_stats import not_found

router = APIRouter(route_class=DashboardRoute)


@router.post("/dashboard/campaigns/{slug}/archive")
async def archive(request: Request, slug: str) -> Response:
    """Save the archive switches of the campaign page (unchecked boxes are not posted: off)."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            set_archive(s, slug, form.get("public") == "1", form.get("all_emails") == "1")
    except CampaignNotFound:
        return not_found(request, slug)
    return done(f"/dashboard/campaigns/{slug}", "archive")
