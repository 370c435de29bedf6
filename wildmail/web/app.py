"""Application factory: one FastAPI app serving tracking, public pages and the dashboard."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from tracking.service import Tracker
from wildmail.core.context import AppContext
from wildmail.web import dashboard_routes, preferences_routes, public_routes, tracking_routes
from wildmail.web.body_limits import BodyLimits, BodyTooLarge, LimitedBody, too_large_response
from wildmail.web.path_params import path_errors_as_404
from wildmail.web.security_headers import wrap_send
from wildmail.web.templating import STATIC_DIR

# preferences_routes first: tracking_routes' /u/{token:path} would also match /u/<token>/preferences
PARTS = (preferences_routes, tracking_routes, public_routes, dashboard_routes)


class WildmailApp(FastAPI):
    """FastAPI, except that the open pixel is answered before any framework layer.

    The pixel is the hot path (every opened email fetches it); FastAPI's middleware stack and
    per-request telemetry checks cost more than verifying the token and queueing the hit, so
    ``/o/<token>.gif`` is served here directly (its headers include the security headers).
    Everything else goes through FastAPI with the security headers added to the response and
    the request body held to the route's size limit, outside every framework layer, so errors,
    redirects and static files get them too.
    """

    pixel_tracker: Tracker | None = None  # set at startup; read here without Starlette's State lookup
    body_limits = BodyLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracker = self.pixel_tracker
        # GET/HEAD /o/...: the open pixel (checked inline: this runs for every request)
        if (
            tracker is not None
            and scope["type"] == "http"
            and scope["path"].startswith("/o/")
            and scope["method"] in ("GET", "HEAD")
        ):
            await tracking_routes.send_pixel(scope, send, tracker)
            return
        if scope["type"] == "http":
            send = wrap_send(send, scope["path"])
            body = LimitedBody(scope, receive, send, self.body_limits)
            if body.declared_too_large():
                await body.refuse()
                return
            receive, send = body.receive, body.send
        await super().__call__(scope, receive, send)


def create_app(ctx: AppContext, body_limits: BodyLimits | None = None) -> FastAPI:
    """Build the app around an application context (settings, engine, clock).

    ``body_limits`` replaces the default request body limits (64 KB forms, 20 MB uploads).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for part in PARTS:
            await part.startup(app)
        if isinstance(app, WildmailApp):
            app.pixel_tracker = tracking_routes.tracker_of(app)
        # Everything loaded so far lives as long as the process: moving it out of the collector's
        # generations keeps full collections short (they added milliseconds to the pixel's p99).
        gc.freeze()
        try:
            yield
        finally:
            if isinstance(app, WildmailApp):
                app.pixel_tracker = None
            for part in reversed(PARTS):
                await part.shutdown(app)

    app = WildmailApp(title="wildmail", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    if body_limits is not None:
        app.body_limits = body_limits
    app.add_exception_handler(BodyTooLarge, too_large_response)
    app.add_exception_handler(RequestValidationError, path_errors_as_404)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for part in PARTS:
        app.include_router(part.router)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    return app
