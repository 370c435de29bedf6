"""The email preferences page: ``GET``/``POST /u/<token>/preferences``.

Uses the unsubscribe token of a delivery (same signature checks; a bad or unknown token gets
the plain 404 page and changes nothing). The form carries a CSRF token (:mod:`wildmail.web.csrf`,
with the public pages' window); a POST without a valid one gets 403 and changes nothing. The
logic lives in :mod:`tracking.preferences`.

This router must be included before :mod:`wildmail.web.tracking_routes`, whose
``/u/{token:path}`` would otherwise also match ``/u/<token>/preferences``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from tracking.lookup import DeliveryMeta
from tracking.preferences import Outcome, preferences_for, save_committed
from wildmail.core.db import MAX_ROW_ID
from wildmail.runtime.context import AppContext
from wildmail.web import csrf
from wildmail.web.public_routes import CSRF_WINDOW
from wildmail.web.templating import templates
from wildmail.web.tracking_routes import NOT_FOUND_TEXT, tracker_of

router = APIRouter()
LEAVE_EVERYTHING = "leave-everything"
PAUSE, RESUME = "pause", "resume"


def _not_found() -> PlainTextResponse:
    return PlainTextResponse(NOT_FOUND_TEXT, status_code=404, headers={"Cache-Control": "no-store"})


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _render(
    request: Request, token: str, meta: DeliveryMeta, *, status: int = 200, **values: Any
) -> Response:
    ctx = _ctx(request)
    with ctx.session() as session:
        page = preferences_for(session, meta.subscriber_id, ctx.clock.now())
    if page is None:
        return _not_found()
    context = {
        "page": page,
        "csrf": csrf.token(ctx.settings.secret, request, ctx.clock.now()),
        "action": request.app.url_path_for("preferences", token=token),
        "unsubscribe_url": request.app.url_path_for("unsubscribe_page", token=token),
        "leave_value": LEAVE_EVERYTHING,
        "pause_value": PAUSE,
        "resume_value": RESUME,
        **values,
    }
    response = templates.TemplateResponse(
        request,
        "tracking/preferences.html",
        context,
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
    csrf.set_cookie(request, response, ctx.settings.base_url.startswith("https://"))
    return response


@router.api_route(
    "/u/{token}/preferences",
    methods=["GET", "HEAD"],
    name="preferences",
    include_in_schema=False,
    response_class=HTMLResponse,
)
def preferences_page(token: str, request: Request) -> Response:
    """Show the lists and the leave-everything button (changes nothing)."""
    meta = tracker_of(request.app).unsubscribe_target(token)
    if meta is None:
        return _not_found()
    return _render(request, token, meta)


def _keep_ids(values: list[Any]) -> set[int] | None:
    """The ticked list ids, or None when one is not an id (a number a row could have)."""
    texts = [v.strip() for v in values if isinstance(v, str)]
    if not all(t.isdigit() and 1 <= int(t) <= MAX_ROW_ID for t in texts):
        return None
    return {int(t) for t in texts}


@router.post("/u/{token}/preferences", include_in_schema=False, response_class=HTMLResponse)
async def preferences_submit(token: str, request: Request) -> Response:
    """Apply the ticked lists, pause for a month (or end a pause), or unsubscribe from everything;
    committed before answering."""
    tracker = tracker_of(request.app)
    meta = tracker.unsubscribe_target(token)
    if meta is None:
        return _not_found()
    try:
        form = await request.form()
    except Exception:  # malformed body: a clear 400, never a 500
        return PlainTextResponse("Bad request: the form could not be read.\n", status_code=400)
    ctx = _ctx(request)
    if not csrf.valid(ctx.settings.secret, request, form.get("csrf_token"), ctx.clock.now(), CSRF_WINDOW):
        error = "The form expired. Please make your choice again."
        return await run_in_threadpool(_render, request, token, meta, status=403, error=error)
    keep = _keep_ids(form.getlist("keep"))
    if keep is None:
        return PlainTextResponse("Bad request: a list id is not a number.\n", status_code=400)
    client = request.client
    outcome: Outcome = await run_in_threadpool(
        lambda: save_committed(
            ctx.engine,
            meta,
            ctx.clock.now(),
            keep=keep,
            leave_everything=form.get("action") == LEAVE_EVERYTHING,
            pause_emails=form.get("action") == PAUSE,
            resume_emails=form.get("action") == RESUME,
            user_agent=request.headers.get("user-agent", ""),
            ip_hash=tracker.hash_ip(client.host if client else ""),
        )
    )
    return await run_in_threadpool(_render, request, token, meta, outcome=outcome, saved=True)


async def startup(app: FastAPI) -> None:
    """Nothing to start: the tracker comes from :mod:`wildmail.web.tracking_routes`."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to flush."""
