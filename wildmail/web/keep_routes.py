"""The re-engagement email's keep link: a page with a button; the POST keeps the subscription.

Mail scanners fetch every link in a message with GET, so the GET only shows the button (see
"Confirmation on POST" in docs/ARCHITECTURE.md). The signed token in the path is the authority,
as for the confirmation link; it names only the re-engagement episode.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from tracking import sunset
from wildmail.core.db import write_transaction
from wildmail.core.signing import BadToken
from wildmail.runtime.context import AppContext
from wildmail.web.templating import templates

router = APIRouter()
NOT_VALID = "This link is not valid. If you copied it from an email, please copy the whole link."


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _message(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    values = {"title": title, "text": text, "description": ""}
    return templates.TemplateResponse(request, "public/message.html", values, status_code=status)


def _episode(request: Request, token: str) -> int | None:
    try:
        return sunset.read_keep_token(_ctx(request).settings.secret, token)
    except BadToken:
        return None


@router.get("/keep/{token}", response_class=HTMLResponse)
def keep_page(request: Request, token: str) -> HTMLResponse:
    """Show the keep button (changes nothing)."""
    rid = _episode(request, token)
    if rid is None:
        return _message(request, 404, "Link not valid", NOT_VALID)
    with _ctx(request).session() as s:
        list_name = sunset.list_name_of(s, rid)
    if list_name is None:
        return _message(request, 404, "Link not valid", "This list no longer exists.")
    return templates.TemplateResponse(request, "public/keep.html", {"token": token, "list_name": list_name})


@router.post("/keep/{token}", response_class=HTMLResponse)
def keep_submit(request: Request, token: str) -> HTMLResponse:
    """Keep the subscription (and make the person active on the list again)."""
    rid = _episode(request, token)
    if rid is None:
        return _message(request, 404, "Link not valid", NOT_VALID)
    ctx = _ctx(request)
    with write_transaction(ctx.engine) as s:
        kept = sunset.keep(s, rid, ctx.clock.now())
        list_name = sunset.list_name_of(s, rid)
    if not kept or list_name is None:
        return _message(request, 404, "Link not valid", "This list no longer exists.")
    return _message(request, 200, "Thank you", f"You will keep receiving {list_name}.")


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to flush."""
