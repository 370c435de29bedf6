"""Admin page for REST API tokens: list (never the secret), add (the token is shown once, on the
answer to the form), revoke. The use cases are ``wildmail api-tokens``'s."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import ALL_SCOPES, TokenError, create_token, list_tokens, revoke_token
from wildmail.web.dashboard.auth import CAN_ADMIN, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render

router = APIRouter(route_class=DashboardRoute)
PAGE = "/dashboard/api-tokens"


def _page(request: Request, status: int = 200, **extra: object) -> Response:
    user = require(request, CAN_ADMIN)
    with ctx_of(request).session() as s:
        tokens = list_tokens(s)
    form = extra.pop("form", {})
    return render(
        request, "api_tokens.html", status, user=user, tokens=tokens, scopes=ALL_SCOPES, form=form, **extra
    )


@router.get(PAGE)
def tokens_page(request: Request) -> Response:
    return _page(request)


@router.post(PAGE)
async def add(request: Request) -> Response:
    """Make a token; the answer shows it once (the page is not cached, and no redirect carries it)."""
    require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    name = str(form.get("name") or "")
    chosen = [scope for scope in ALL_SCOPES if form.get(f"scope-{scope}")]
    try:
        with write_transaction(ctx.engine) as s:
            token, text = create_token(s, name, ",".join(chosen), ctx.clock.now())
            shown = {"name": token.name, "text": text}
    except TokenError as exc:
        kept = {"name": name, "scopes": chosen}
        return _page(request, 400, error=f"Token not made: {exc}", form=kept)
    return _page(request, new_token=shown)


@router.post(f"{PAGE}/revoke")
async def revoke(request: Request) -> Response:
    require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            revoke_token(s, str(form.get("id") or ""), ctx.clock.now())
    except TokenError as exc:
        return _page(request, 400, error=str(exc))
    return done(PAGE, "token-revoked")
