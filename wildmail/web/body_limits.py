"""Request body size limits per route: checked against Content-Length and again while the body streams.

Forms and tracking posts are small; only the CSV import and the article upload accept files. A
request whose Content-Length is over the limit is answered 413 before its body is read; a chunked
body (no length) is counted as it arrives and refused as soon as it passes the limit, so a large
upload never sits in memory whole (uploads below the limit are spooled to disk by the form parser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_LIMIT = 64 * 1024
UPLOAD_LIMIT = 20 * 1024 * 1024
CSV_HINT = "Import larger CSV files with 'wildmail subscribers import'."
# Routes that take a file upload, with what the 413 adds when the file is too large.
UPLOADS = (
    (re.compile(r"/dashboard/lists/[^/]+/import"), CSV_HINT),
    (re.compile(r"/dashboard/campaigns/new"), ""),
    (re.compile(r"/webhooks/[a-z]+"), ""),  # providers batch events (SendGrid, SES with headers)
    (re.compile(r"/api/v1/lists/[^/]+/imports"), CSV_HINT),  # the REST API's uploads
    (re.compile(r"/api/v1/campaigns"), ""),
)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


class BodyTooLarge(HTTPException):
    """The request body is over the route's limit (HTTP 413)."""

    def __init__(self, limit: int, hint: str = "") -> None:
        text = f"Request body too large: this address accepts at most {_size(limit)}. {hint}"
        super().__init__(413, text.rstrip() + "\n")


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body accepted: ``upload`` on the upload routes, ``form`` everywhere else."""

    form: int = FORM_LIMIT
    upload: int = UPLOAD_LIMIT

    def for_path(self, path: str) -> tuple[int, str]:
        """The limit for ``path`` and the hint the 413 gives."""
        for pattern, hint in UPLOADS:
            if pattern.fullmatch(path):
                return self.upload, hint
        return self.form, ""


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent or not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _answer(exc: BodyTooLarge, path: str = "") -> Response:
    # Connection: close, so the server does not read the rest of the body to reuse the connection
    if path.startswith("/api/"):  # the REST API answers every error as problem details
        body = {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": exc.detail.strip(),
        }
        return JSONResponse(
            body | {"instance": path}, 413, {"Connection": "close"}, "application/problem+json"
        )
    return PlainTextResponse(exc.detail, status_code=413, headers={"Connection": "close"})


class LimitedBody:
    """One request's body, counted as it arrives; once it is over the limit, the answer is the 413.

    Reading past the limit raises :class:`BodyTooLarge` in the app (which stops the reading), and
    whatever the app answers then (a handler may catch the error and reply 400) is replaced by
    the 413, so every route gets the same clear answer.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send, limits: BodyLimits) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.hint = limits.for_path(scope["path"])
        self.received = 0
        self.tripped = self.started = False

    def declared_too_large(self) -> bool:
        """True when the Content-Length alone is over the limit (answer with :meth:`refuse`)."""
        length = declared_length(self.scope)
        return length is not None and length > self.limit

    async def refuse(self) -> None:
        """Answer 413 without reading the body."""
        answer = _answer(BodyTooLarge(self.limit, self.hint), self.scope["path"])
        await answer(self.scope, self._receive, self._send)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.tripped = True
                raise BodyTooLarge(self.limit, self.hint)
        return message

    async def send(self, message: Message) -> None:
        if self.tripped and not self.started:
            if message["type"] == "http.response.start":
                self.started = True
                await self.refuse()
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def too_large_response(request: Request, exc: Exception) -> Response:
    """Exception handler for :class:`BodyTooLarge` raised in a route (the 413 replaces it anyway)."""
    assert isinstance(exc, BodyTooLarge)
    return _answer(exc)


class BodyLimit:
    """ASGI wrapper: each HTTP request to ``app`` is held to its route's body limit (:class:`LimitedBody`)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            body = LimitedBody(scope, receive, send, self.limits)
            if body.declared_too_large():
                await body.refuse()
                return
            receive, send = body.receive, body.send
        await self.app(scope, receive, send)
