"""Application factory: one FastAPI app serving tracking, public pages and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from wildmail.context import AppContext
from wildmail.web import dashboard_routes, preferences_routes, public_routes, tracking_routes
from wildmail.web.templating import STATIC_DIR

# preferences_routes first: tracking_routes' /u/{token:path} would also match /u/<token>/preferences
PARTS = (preferences_routes, tracking_routes, public_routes, dashboard_routes)


def create_app(ctx: AppContext) -> FastAPI:
    """Build the app around an application context (settings, engine, clock)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for part in PARTS:
            await part.startup(app)
        try:
            yield
        finally:
            for part in reversed(PARTS):
                await part.shutdown(app)

    app = FastAPI(title="wildmail", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.add_middleware(tracking_routes.PixelFastPath)  # the open pixel skips the router (hot path)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for part in PARTS:
        app.include_router(part.router)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    return app
