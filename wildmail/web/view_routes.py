"""``GET /v/<token>``: an email's web version, the "view in your browser" link of every email.

The token signs the email's id (per email, the same for every reader, so it identifies nobody);
a bad token or an unknown email gets a plain 404. The page is the compiled email with a neutral
greeting and untracked links (:func:`campaigns.preview.web_version`).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from campaigns.preview import web_version
from wildmail.core import tokens
from wildmail.runtime.context import AppContext

router = APIRouter()
# The email's own inline styles and its pictures (wherever the article put them); no script, no forms.
POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox allow-popups "
    "allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)


def _page(ctx: AppContext, token: str) -> str | None:
    try:
        email_id = tokens.parse_view(ctx.settings.secret, token)
    except tokens.BadToken:
        return None
    with ctx.session() as session:
        return web_version(session, email_id)


@router.get("/v/{token}")
async def view(request: Request, token: str) -> Response:
    """The web version, or 404."""
    ctx: AppContext = request.app.state.ctx
    page = await run_in_threadpool(_page, ctx, token)
    if page is None:
        return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})
    headers = {"Cache-Control": "private, max-age=300", "Content-Security-Policy": POLICY}
    return HTMLResponse(page, headers=headers)


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""
