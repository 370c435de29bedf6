"""Security headers on every response: a pure ASGI ``send`` wrapper, cheap enough for every request.

Script and styles come only from our static files (the one script is the job page's progress
poll, ``static/jobs.js``, which fetches JSON from the same origin); inline script never runs. A
response that already sets one of these headers keeps its own value (the email preview sets a
sandboxing policy that lets the dashboard frame it). The offline HTML report carries its
stylesheet inline (it is made to be saved as one file), so its path gets ``'unsafe-inline'`` for
styles, and only for styles.

The open pixel and click redirects are answered before this wrapper (see ``wildmail.web.app``):
their header lists include :data:`HEADERS` directly.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src {style}; img-src 'self' data:; "
    "font-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CONTENT_SECURITY_POLICY = _POLICY.format(style="'self'")
REPORT_POLICY = _POLICY.format(style="'unsafe-inline'")
# The standalone report (one self-contained file with an inline <style>) is the only inline CSS.
_INLINE_STYLE_PATH = re.compile(r"/dashboard/campaigns/[^/]+/report\.html")

RawHeaders = list[tuple[bytes, bytes]]
_COMMON: RawHeaders = [
    (b"x-content-type-options", b"nosniff"),
    # Token URLs (unsubscribe, preferences, confirm, click) must never reach another site.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
HEADERS: RawHeaders = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *_COMMON]
REPORT_HEADERS: RawHeaders = [(b"content-security-policy", REPORT_POLICY.encode()), *_COMMON]
_NAMES = frozenset(name for name, _ in HEADERS)


def headers_for(path: str, image_origin: str = "") -> RawHeaders:
    """The security headers a response to ``path`` gets (unless it sets its own).

    ``image_origin`` (the organisation's logo, setting ``logo_url``) is allowed as an image source.
    """
    headers = REPORT_HEADERS if _INLINE_STYLE_PATH.fullmatch(path) else HEADERS
    if not image_origin:
        return headers
    extended = f"img-src 'self' data: {image_origin};".encode()
    return [
        (k, v.replace(b"img-src 'self' data:;", extended) if k == b"content-security-policy" else v)
        for k, v in headers
    ]


def add_missing(headers: RawHeaders, extra: RawHeaders) -> RawHeaders:
    """``headers`` plus each of ``extra`` whose name the response did not set itself."""
    present = {name.lower() for name, _ in headers} & _NAMES
    if not present:
        return [*headers, *extra]
    return [*headers, *(item for item in extra if item[0] not in present)]


def wrap_send(send: Send, path: str, image_origin: str = "") -> Send:
    """A ``send`` that adds the security headers to the response start."""
    extra = headers_for(path, image_origin)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": add_missing(list(message.get("headers", ())), extra)}
        await send(message)

    return send_with_headers


class SecurityHeaders:
    """ASGI wrapper: every HTTP response of ``app`` gets the security headers (see :func:`wrap_send`)."""

    def __init__(self, app: ASGIApp, image_origin: str = "") -> None:
        self.app = app
        self.image_origin = image_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = wrap_send(send, scope["path"], self.image_origin)
        await self.app(scope, receive, send)
