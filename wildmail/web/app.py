"""Application factory: one ASGI app serving tracking, public pages and the dashboard.

The app is FastAPI inside three plain ASGI wrappers, composed in :func:`create_app` (outermost
first): the tracking shortcut answers the open pixel and click redirects before any framework
layer (they are the hot paths; FastAPI's middleware, telemetry and router cost more than the
work itself), then every other response gets the security headers and every request body is held
to its route's size limit, outside every framework layer, so errors, redirects and static files
get them too. Inside those, requests under ``/api`` go to the REST API's own app
(:mod:`wildmail.web.api`, through ``ApiFirst``), everything else to the FastAPI app below.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlparse

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from inbound.webhooks import Fetch, https_fetch
from wildmail.runtime.context import AppContext
from wildmail.web import (
    archive_routes,
    dashboard_routes,
    donation_routes,
    keep_routes,
    media_routes,
    preferences_routes,
    public_routes,
    tracking_routes,
    view_routes,
    webhook_routes,
)
from wildmail.web.api import ApiFirst, create_rest_api
from wildmail.web.body_limits import BodyLimit, BodyLimits, BodyTooLarge, too_large_response
from wildmail.web.jobs import Jobs
from wildmail.web.path_params import path_errors_as_404
from wildmail.web.security_headers import SecurityHeaders
from wildmail.web.templating import STATIC_DIR

# preferences_routes first: tracking_routes' /u/{token:path} would also match /u/<token>/preferences
FAVICON_CACHE = {"Cache-Control": "public, max-age=86400"}
PARTS = (
    preferences_routes,
    tracking_routes,
    public_routes,
    dashboard_routes,
    media_routes,
    view_routes,
    webhook_routes,
    keep_routes,
    archive_routes,
    donation_routes,
)


class WebApp:
    """The composed ASGI app. ``api`` is the FastAPI app inside; ``state`` is its state (the
    context, the tracker once started)."""

    def __init__(self, api: FastAPI, shortcut: tracking_routes.TrackingShortcut) -> None:
        self.api = api
        self.state: State = api.state
        self._shortcut = shortcut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._shortcut(scope, receive, send)


def logo_origin(logo_url: str) -> str:
    """The origin of a logo on another site (for the pages' image policy); "" for a path on ours."""
    parsed = urlparse(logo_url)
    return (
        f"{parsed.scheme}://{parsed.netloc}" if parsed.scheme in ("http", "https") and parsed.netloc else ""
    )


def create_app(
    ctx: AppContext, body_limits: BodyLimits | None = None, sns_fetch: Fetch | None = None
) -> WebApp:
    """Build the app around an application context (settings, engine, clock).

    ``body_limits`` replaces the default request body limits (64 KB forms, 20 MB uploads);
    ``sns_fetch`` how the SES webhook fetches SNS certificates (HTTPS to AWS by default).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for part in PARTS:
            await part.startup(app)
        shortcut.tracker = tracking_routes.tracker_of(app)
        # Everything loaded so far lives as long as the process: moving it out of the collector's
        # generations keeps full collections short (they added milliseconds to the pixel's p99).
        gc.freeze()
        try:
            yield
        finally:
            shortcut.tracker = None
            for part in reversed(PARTS):
                await part.shutdown(app)

    api = FastAPI(title="wildmail", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    api.state.ctx = ctx
    api.state.sns_fetch = sns_fetch or https_fetch
    api.state.jobs = Jobs()  # background jobs of the dashboard (in this process)
    api.add_exception_handler(BodyTooLarge, too_large_response)
    api.add_exception_handler(RequestValidationError, path_errors_as_404)
    api.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for part in PARTS:
        api.include_router(part.router)

    @api.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for it on every site; answered, not a 404 in every log."""
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers=FAVICON_CACHE)

    @api.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    # The REST API (/api/...): its own app, sharing the context and the job registry.
    limited = BodyLimit(ApiFirst(api, create_rest_api(ctx, api.state.jobs)), body_limits or BodyLimits())
    shortcut = tracking_routes.TrackingShortcut(SecurityHeaders(limited, logo_origin(ctx.settings.logo_url)))
    return WebApp(api, shortcut)
