"""HTTP endpoints of tracking: open pixel, click redirect, unsubscribe page and RFC 8058 POST.

The logic lives in :mod:`tracking.service`; this module only translates HTTP. The pixel and the
click redirect are the hot paths: :class:`TrackingShortcut`, the outermost ASGI wrapper of the
app (see :mod:`wildmail.web.app`), answers them before FastAPI's middleware, telemetry and router
(they cost more than the work itself; see bench/tracking.py). Both do the same: verify the
token, queue the hit for the event writer, answer. Neither reads the database per request: a
click's destination comes from the tracker's per-process cache of link id -> URL; a miss is read
once (on a worker thread, so the event loop never waits for the database, and one read per link
however many clicks on it arrive while it runs) and kept for a minute.

Test sends carry delivery id 0 in their signed tokens: their clicks redirect without being
recorded and their unsubscribe link opens a page that says it was a test.
Bad tokens: clicks and unsubscribes answer 404 with a plain page, never redirect, record
nothing; so does a click on a link that no longer exists or whose stored URL is not http(s).
The pixel answers 404 too for a token whose signature fails (only a tampered URL does that;
mail clients never see it). A validly signed token is served without looking up its delivery:
the GIF, or the redirect to the link's stored URL; the writer drops the hit when the delivery
no longer exists, belongs to a forgotten person or to another email than the link.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from tracking.classify import PREFETCH_HEADERS
from tracking.links import DonationDestination
from tracking.lookup import MetaCache
from tracking.service import RequestInfo, Tracker, new_writer
from wildmail.runtime.context import AppContext
from wildmail.web import security_headers
from wildmail.web.security_headers import RawHeaders
from wildmail.web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter()

# The smallest valid transparent 1x1 GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# The shortcut answers before the app's security-header wrapper: the headers are included here.
PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL_GIF)).encode()),
    (b"cache-control", b"no-cache, max-age=0"),
    *security_headers.HEADERS,
]
NOT_FOUND_TEXT = "Not found: this link is not valid.\n"


def _plain(text: str, *extra: tuple[bytes, bytes]) -> tuple[bytes, RawHeaders]:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
        *security_headers.HEADERS,
    ]
    return body, headers


NOT_FOUND_BODY, NOT_FOUND_HEADERS = _plain(NOT_FOUND_TEXT)
NOT_ALLOWED_BODY, NOT_ALLOWED_HEADERS = _plain("Method Not Allowed\n", (b"allow", b"GET, HEAD"))
UNAVAILABLE_BODY, UNAVAILABLE_HEADERS = _plain(
    "Service unavailable: please try the link again in a minute.\n", (b"retry-after", b"60")
)
# The security headers include "Referrer-Policy: no-referrer": the token never reaches the destination.
REDIRECT_HEADERS = [(b"content-length", b"0"), (b"cache-control", b"no-store"), *security_headers.HEADERS]
LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"  # what Starlette's RedirectResponse leaves unquoted
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


async def _answer(send: Send, method: str, status: int, headers: RawHeaders, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def send_pixel(scope: Scope, send: Send, tracker: Tracker) -> None:
    """Record an open (when the token is valid) and answer the GIF, or a plain 404.

    Header values go to the tracker as bytes: decoding them is left to the event writer."""
    token = scope["path"][3:]
    ok = False
    if token.endswith(".gif"):
        user_agent, purpose = _classified_headers(scope)
        client = scope.get("client")
        ok = tracker.record_pixel(
            token[:-4], user_agent, purpose, scope["method"], client[0] if client else ""
        )
    if ok:
        await _answer(send, scope["method"], 200, PIXEL_HEADERS, PIXEL_GIF)
    else:
        await _answer(send, scope["method"], 404, NOT_FOUND_HEADERS, NOT_FOUND_BODY)


class TrackingShortcut:
    """ASGI wrapper: GET/HEAD ``/o/<token>.gif`` (open pixel) and ``/c/<token>`` (click redirect)
    are answered here, every other request goes to ``app``. ``tracker`` is set at startup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracker: Tracker | None = None
        self._loading: dict[int, asyncio.Future[str | DonationDestination]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracker = self.tracker
        if tracker is not None and scope["type"] == "http":
            path = scope["path"]
            if path.startswith(("/o/", "/c/")):
                if scope["method"] not in ("GET", "HEAD"):
                    await _answer(send, scope["method"], 405, NOT_ALLOWED_HEADERS, NOT_ALLOWED_BODY)
                elif path[1] == "o":
                    await send_pixel(scope, send, tracker)
                else:
                    await self.click(scope, send, tracker)
                return
        await self.app(scope, receive, send)

    async def click(self, scope: Scope, send: Send, tracker: Tracker) -> None:
        """Record a click (when the token is valid and its link redirects) and answer the 302 to the
        link's stored URL (UTM-tagged, with the signed ``wm_cid``, on donation links), or a plain 404."""
        method = scope["method"]
        ids = tracker.verify_click(scope["path"][3:])
        url = ""
        if ids is not None:
            delivery_id, link_id = ids
            cached = tracker.cached_destination(link_id)
            try:
                target = cached if cached is not None else await self._load(tracker, link_id)
            except Exception:  # the database is unreachable: say so, never "not valid"
                log.exception("loading the destination of link %d failed", link_id)
                await _answer(send, method, 503, UNAVAILABLE_HEADERS, UNAVAILABLE_BODY)
                return
            # a donation link gets the click's signed wm_cid (no database query: it is signed here)
            url = (
                target if isinstance(target, str) else tracker.donation_location(target, delivery_id, link_id)
            )
            if url:
                user_agent, purpose = _classified_headers(scope)
                client = scope.get("client")
                tracker.record_click(
                    delivery_id, link_id, user_agent, purpose, method, client[0] if client else ""
                )
        if not url:
            await _answer(send, method, 404, NOT_FOUND_HEADERS, NOT_FOUND_BODY)
            return
        location = quote(url, safe=LOCATION_SAFE).encode("latin-1")
        await _answer(send, method, 302, [(b"location", location), *REDIRECT_HEADERS], b"")

    async def _load(self, tracker: Tracker, link_id: int) -> str | DonationDestination:
        """The destination of a link not in the cache: one read on a worker thread, shared by every
        click on that link that arrives while it runs."""
        pending = self._loading.get(link_id)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(tracker.load_destination, link_id))
            self._loading[link_id] = pending
            pending.add_done_callback(lambda _: self._loading.pop(link_id, None))
        # shield: a client that hangs up must not cancel the read the other clicks wait for
        return await asyncio.shield(pending)


def _not_found() -> PlainTextResponse:
    return PlainTextResponse(NOT_FOUND_TEXT, status_code=404, headers={"Cache-Control": "no-store"})


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
    cache = MetaCache(ctx.engine)
    writer = new_writer(ctx.settings, ctx.engine, cache, child_module="wildmail.runtime.event_writer")
    tracker = Tracker(ctx.settings, ctx.engine, ctx.clock, writer=writer)
    interval = getattr(app.state, "writer_interval", None)
    if interval is not None:
        tracker.writer.interval = float(interval)
    app.state.tracker = tracker.start()


async def shutdown(app: FastAPI) -> None:
    """Write every queued event before the process ends."""
    tracker: Tracker | None = getattr(app.state, "tracker", None)
    if tracker is not None:
        await run_in_threadpool(tracker.stop)
