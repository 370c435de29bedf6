"""HTTP endpoints of tracking: open pixel, click redirect, unsubscribe page and RFC 8058 POST.

The logic lives in :mod:`tracking.service`; this module only translates HTTP. The pixel is
answered by :func:`send_pixel` straight from ``wildmail.web.app.WildmailApp.__call__``, before
FastAPI's middleware, telemetry and router (they cost more than the pixel itself; see
bench/tracking.py). The same pixel is also registered as an ordinary route, as a fallback.

Test sends carry delivery id 0 in their signed tokens: their clicks redirect without being
recorded and their unsubscribe link opens a page that says it was a test.
Bad tokens: clicks and unsubscribes answer 404 with a plain page, never redirect, record
nothing. The pixel answers 404 too for a token whose signature fails (only a tampered URL
does that; mail clients never see it), and the GIF for every validly signed token without a
database lookup, so a pixel whose delivery was deleted is served but not recorded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import NoMatchFound
from starlette.types import Scope, Send

from tracking.classify import PREFETCH_HEADERS
from tracking.service import RequestInfo, Tracker
from wildmail.core.context import AppContext
from wildmail.web import security_headers
from wildmail.web.templating import templates

router = APIRouter()

# The smallest valid transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# The fast path is answered before the app's security-header wrapper: the headers are included here.
PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL_GIF)).encode()),
    (b"cache-control", b"no-cache, max-age=0"),
    *security_headers.HEADERS,
]
NOT_FOUND_TEXT = "Not found: this link is not valid.\n"
NOT_FOUND_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(NOT_FOUND_TEXT)).encode()),
    (b"cache-control", b"no-store"),
    *security_headers.HEADERS,
]
ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
_PREFETCH_NAMES = tuple(name.encode() for name in PREFETCH_HEADERS)


def tracker_of(app: Any) -> Tracker:
    """The app's :class:`Tracker` (created by :func:`startup`)."""
    tracker: Tracker = app.state.tracker
    return tracker


def _classified_headers(scope: Scope) -> tuple[bytes, bytes]:
    """The request's User-Agent and its prefetch headers (joined by spaces), as bytes."""
    user_agent = purpose = b""
    for name, value in scope["headers"]:
        if name == b"user-agent":
            user_agent = value
        elif name in _PREFETCH_NAMES:
            purpose = purpose + b" " + value if purpose else value
    return user_agent, purpose


def _info_from_scope(scope: Scope) -> RequestInfo:
    user_agent, purpose = _classified_headers(scope)
    client = scope.get("client")
    return RequestInfo(
        scope["method"],
        user_agent.decode("latin-1"),
        purpose.decode("latin-1").strip(),
        client[0] if client else "",
    )


async def send_pixel(scope: Scope, send: Send, tracker: Tracker) -> None:
    """Record an open (when the token is valid) and answer the GIF, or a plain 404.

    Header values go to the tracker as bytes: decoding them is left to the event writer."""
    token = scope["path"][3:]
    ok = False
    if token.endswith(".gif"):
        user_agent, purpose = _classified_headers(scope)
        client = scope.get("client")
        ok = tracker.record_pixel(token, user_agent, purpose, scope["method"], client[0] if client else "")
    body = PIXEL_GIF if ok else NOT_FOUND_TEXT.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200 if ok else 404,
            "headers": PIXEL_HEADERS if ok else NOT_FOUND_HEADERS,
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


@router.api_route("/o/{token:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def open_pixel(token: str, request: Request) -> Response:
    """Fallback for the pixel when the app does not answer it first (see ``wildmail.web.app``)."""
    tracker = tracker_of(request.app)
    info = _info_from_scope(request.scope)
    if token.endswith(".gif") and tracker.record_open(token, info):
        return Response(PIXEL_GIF, media_type="image/gif", headers={"Cache-Control": "no-cache, max-age=0"})
    return _not_found()


def _not_found() -> PlainTextResponse:
    return PlainTextResponse(NOT_FOUND_TEXT, status_code=404, headers={"Cache-Control": "no-store"})


@router.api_route("/c/{token:path}", methods=["GET", "HEAD"], include_in_schema=False)
def click(token: str, request: Request) -> Response:
    """Record a click and redirect (302) to the link's stored URL."""
    url = tracker_of(request.app).record_click(token, _info_from_scope(request.scope))
    if url is None:
        return _not_found()
    return RedirectResponse(
        url, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _preferences_url(request: Request, token: str) -> str | None:
    """The public preferences page for this token, when the public routes provide one."""
    try:
        path: str = request.app.url_path_for("preferences", token=token)  # a path: never the Host header
        return path
    except NoMatchFound:
        return None


def _test_page(request: Request) -> Response:
    """What the unsubscribe link of a test send opens: a page saying so (nothing changes)."""
    return templates.TemplateResponse(
        request, "tracking/test_unsubscribe.html", {}, headers={"Cache-Control": "no-store"}
    )


def _page(request: Request, token: str, *, done: bool, changed: bool = False) -> Response:
    tracker = tracker_of(request.app)
    if tracker.is_test_unsubscribe(token):
        return _test_page(request)
    meta = tracker.unsubscribe_target(token)
    page = tracker.unsubscribe_page(meta) if meta is not None else None
    if page is None:
        return _not_found()
    context = {
        "page": page,
        "token": token,
        "done": done,
        "changed": changed,
        "preferences_url": _preferences_url(request, token),
    }
    return templates.TemplateResponse(
        request, "tracking/unsubscribe.html", context, headers={"Cache-Control": "no-store"}
    )


@router.api_route(
    "/u/{token:path}", methods=["GET", "HEAD"], include_in_schema=False, response_class=HTMLResponse
)
def unsubscribe_page(token: str, request: Request) -> Response:
    """Confirmation page; changes nothing (mail scanners follow GET links)."""
    return _page(request, token, done=False)


@router.post("/u/{token:path}", include_in_schema=False, response_class=HTMLResponse)
async def unsubscribe_post(token: str, request: Request) -> Response:
    """RFC 8058 one-click POST (or the page's button): unsubscribe, committed before answering."""
    tracker = tracker_of(request.app)
    if tracker.is_test_unsubscribe(token):
        return _test_page(request)
    meta = tracker.unsubscribe_target(token)
    if meta is None:
        return _not_found()
    try:
        form = await request.form()
        value = form.get(ONE_CLICK_FIELD)
    except Exception:  # malformed body: a clear 400, never a 500
        value = None
    if value != ONE_CLICK_VALUE:
        return PlainTextResponse(
            f"Bad request: the body must contain {ONE_CLICK_FIELD}={ONE_CLICK_VALUE}.\n", status_code=400
        )
    changed = await run_in_threadpool(tracker.unsubscribe, meta, _info_from_scope(request.scope))
    return await run_in_threadpool(_page, request, token, done=True, changed=changed)


async def startup(app: FastAPI) -> None:
    """Create the tracker and start its event writer.

    ``app.state.writer_interval`` (seconds), when set before startup, replaces the writer's
    flush interval (tests use it to hold events until shutdown).
    """
    ctx: AppContext = app.state.ctx
    tracker = Tracker(ctx.settings, ctx.engine, ctx.clock)
    interval = getattr(app.state, "writer_interval", None)
    if interval is not None:
        tracker.writer.interval = float(interval)
    app.state.tracker = tracker.start()


async def shutdown(app: FastAPI) -> None:
    """Write every queued event before the process ends."""
    tracker: Tracker | None = getattr(app.state, "tracker", None)
    if tracker is not None:
        await run_in_threadpool(tracker.stop)
