"""The REST API under ``/api/v1``: its own FastAPI app, reached through :class:`ApiFirst`.

A separate app so that everything under ``/api`` (its 404s and 405s too) answers in one error shape
(:mod:`.problems`), and so that its OpenAPI 3.1 schema (``/api/openapi.json``) holds only the API.
It shares the dashboard's context and job registry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from wildmail.runtime.context import AppContext
from wildmail.web.api import (
    docs,
    problems,
    routes_campaigns,
    routes_imports,
    routes_lists,
    routes_returns,
    routes_stats,
    routes_subscribers,
)
from wildmail.web.client_limits import WindowLimit
from wildmail.web.jobs import Jobs

PARTS = (routes_lists, routes_subscribers, routes_imports, routes_campaigns, routes_stats, routes_returns)
COMMON_ERRORS = problems.documented(400, 401, 403, 404, 409, 422, 429)
DESCRIPTION = """wildmail's REST API. Authenticate with `Authorization: Bearer <token>` (tokens come from
`wildmail api-tokens add --name NAME --scope resource:read|write,...`). Lists are paged by cursor
(`?limit=&cursor=` with the `next_cursor` of the previous page). A POST may carry an
`Idempotency-Key` header: the same key with the same request replays the first answer for 24 hours.
Every error is an RFC 9457 problem document (`application/problem+json`)."""

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the same key with the same request replays the first answer for 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}


def _schema(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes)
        problem = problems.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        for path in schema["paths"].values():
            if "post" in path:
                path["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        app.openapi_schema = schema
    return app.openapi_schema


def create_rest_api(ctx: AppContext, jobs: Jobs) -> FastAPI:
    """The API app for ``ctx``; imports run as jobs in ``jobs`` (the dashboard's registry)."""
    rest = FastAPI(
        title="wildmail", version="1", openapi_url="/api/openapi.json", docs_url=None, redoc_url=None
    )
    rest.state.ctx = ctx
    rest.state.jobs = jobs
    rest.state.rate_limit = WindowLimit(ctx.settings.api_rate_limit, timedelta(minutes=1))
    problems.install(rest)
    for part in PARTS:
        rest.include_router(part.router, responses=COMMON_ERRORS)
    rest.include_router(docs.router)
    rest.openapi = lambda: _schema(rest)  # type: ignore[method-assign]
    return rest


class ApiFirst:
    """ASGI wrapper: requests under ``/api`` go to the REST API, everything else to ``app``."""

    def __init__(self, app: ASGIApp, rest: ASGIApp) -> None:
        self.app, self.rest = app, rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"] == "/api" or scope["path"].startswith("/api/")):
            await self.rest(scope, receive, send)
        else:
            await self.app(scope, receive, send)
