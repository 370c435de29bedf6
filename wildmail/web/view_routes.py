"""The "view in your browser" pages.

``GET /v/r/<token>`` (the link in every sent email): the token signs a delivery id; the page is
that email as its reader received it, their name and their tracked links, without the open pixel
(:func:`delivery.web_copy.reader_page`). ``GET /v/<token>``: the token signs an email id (the same
for every reader, so it identifies nobody; test sends and previews link it); the page is the
compiled email with a neutral greeting and untracked links (:func:`campaigns.preview.web_version`).
A bad token, an unknown email or delivery, or a forgotten reader gets a plain 404.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from campaigns.preview import web_version
from delivery.message import Sender
from delivery.web_copy import reader_page
from wildmail.core import tokens
from wildmail.core.settings import Settings
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
    own_url = tokens.view_url(ctx.settings.base_url, ctx.settings.secret, email_id)
    with ctx.session() as session:
        return web_version(session, email_id, own_url)


def _reader_page(ctx: AppContext, token: str) -> str | None:
    try:
        delivery_id = tokens.parse_reader_view(ctx.settings.secret, token)
    except tokens.BadToken:
        return None
    with ctx.session() as session:
        return reader_page(session, _sender(ctx.settings), delivery_id)


def _sender(settings: Settings) -> Sender:
    """Who sends and signs, without loading the DKIM key (a page is not a message)."""
    return Sender(
        address=settings.sender_address,
        name=settings.sender_name,
        base_url=settings.base_url,
        secret=settings.secret,
        organisation=settings.organisation,
    )


def _answer(page: str | None, cache: str) -> Response:
    if page is None:
        return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})
    return HTMLResponse(page, headers={"Cache-Control": cache, "Content-Security-Policy": POLICY})


@router.get("/v/{token}")
async def view(request: Request, token: str) -> Response:
    """The web version, or 404."""
    ctx: AppContext = request.app.state.ctx
    return _answer(await run_in_threadpool(_page, ctx, token), "private, max-age=300")


@router.get("/v/r/{token}")
async def reader_view(request: Request, token: str) -> Response:
    """One reader's copy of the email, or 404 (never cached: it follows a forget at once)."""
    ctx: AppContext = request.app.state.ctx
    return _answer(await run_in_threadpool(_reader_page, ctx, token), "private, no-store")


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""
