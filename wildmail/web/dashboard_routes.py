"""Routes for the dashboard part of the web app (pages live in :mod:`wildmail.web.dashboard`)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse

from wildmail.web.dashboard import (
    routes_admin,
    routes_api_tokens,
    routes_archive,
    routes_auth,
    routes_campaigns,
    routes_delivery,
    routes_engagement,
    routes_jobs,
    routes_lists,
    routes_stats,
    routes_subscribers,
    routes_tuning,
    routes_webhooks,
)

router = APIRouter()
# Order matters: /dashboard/campaigns/new before /dashboard/campaigns/{slug}.
for part in (
    routes_engagement,  # before routes_campaigns' /dashboard/campaigns/{slug}/{action}
    routes_auth,
    routes_archive,  # before routes_campaigns' /dashboard/campaigns/{slug}/{action}
    routes_campaigns,
    routes_lists,
    routes_subscribers,
    routes_admin,
    routes_delivery,
    routes_jobs,
    routes_stats,
    routes_webhooks,
    routes_tuning,
    routes_api_tokens,
):
    router.include_router(part.router)


@router.get("/dashboard/", include_in_schema=False)
def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


async def startup(app: FastAPI) -> None:
    """Called once when the app starts."""


async def shutdown(app: FastAPI) -> None:
    """Called once when the app stops (flush buffers here)."""
