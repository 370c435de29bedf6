"""Who an API request acts as: a bearer token (``Authorization: Bearer wm_...``), its scopes and
its rate limit (``api_rate_limit`` requests per minute per token, then 429 with Retry-After)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wildmail.runtime.api_tokens import Principal, authenticate
from wildmail.runtime.context import AppContext
from wildmail.web.api.problems import ProblemError
from wildmail.web.client_limits import WindowLimit

TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `wildmail api-tokens add` (wm_<id>_<secret>).",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wildmail"'}


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def principal_of(request: Request) -> Principal:
    """The request's token, checked once per request (401 without a live one, 429 over the limit)."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ProblemError(
            401, "send an API token: Authorization: Bearer wm_...", kind="unauthenticated", headers=CHALLENGE
        )
    ctx = ctx_of(request)
    now = ctx.clock.now()
    principal = await run_in_threadpool(authenticate, ctx.engine, presented, now, TOUCH_EVERY)
    if principal is None:
        raise ProblemError(
            401, "this API token is unknown or revoked", kind="unauthenticated", headers=CHALLENGE
        )
    limit: WindowLimit = request.app.state.rate_limit
    key = str(principal.token_id)
    if not limit.allow(key, now):
        wait = limit.retry_after(key, now)
        raise ProblemError(
            429,
            f"this token made more than {limit.limit} requests in a minute; retry in {wait} s",
            kind="rate-limited",
            headers={"Retry-After": str(wait)},
        )
    request.state.principal = principal
    return principal


def needs(resource: str, access: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's token, which must hold ``resource:access`` (write includes read)."""

    async def dependency(
        request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        principal = await principal_of(request)
        if not principal.allows(resource, access):
            raise ProblemError(
                403,
                f"this token lacks the scope {resource}:{access}",
                kind="insufficient-scope",
            )
        return principal

    return dependency
