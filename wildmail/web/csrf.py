"""The one CSRF scheme of every form (public pages and dashboard): a signed, dated double submit.

The cookie ``wm_csrf`` holds a random nonce (HttpOnly, SameSite=Lax, Secure under https, kept for the
browser session). A form carries ``sign(secret, "csrf", "<nonce>|<unix time>")``. A POST is accepted
only when the signature is good, the nonce equals the cookie's (constant-time comparison) and the
token is younger than the page's window: two hours on the public pages, a session's lifetime on the
dashboard. Each page sets the cookie again, so a token and the cookie it names always travel together.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from wildmail.core.signing import BadToken, sign, verify

COOKIE = "wm_csrf"
PURPOSE = "csrf"
CLOCK_SKEW = timedelta(minutes=5)  # a token from a moment "in the future" (clock steps) still counts
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SCOPE_KEY = "wildmail.csrf_nonce"  # the nonce chosen for this request, shared by its pages and cookie


def nonce(request: Request) -> str:
    """This browser's nonce: its cookie's when well formed, else a new one (kept for the whole request)."""
    current = request.scope.get(_SCOPE_KEY)
    if not isinstance(current, str):
        cookie = request.cookies.get(COOKIE, "")
        current = cookie if _NONCE.fullmatch(cookie) else secrets.token_urlsafe(24)
        request.scope[_SCOPE_KEY] = current
    return current


def rotate(request: Request) -> None:
    """Start a new nonce for this browser (after login): tokens made before stop matching."""
    request.scope[_SCOPE_KEY] = secrets.token_urlsafe(24)


def token(secret: bytes, request: Request, now: datetime) -> str:
    """A form token bound to this browser's nonce and the time it was made."""
    return sign(secret, PURPOSE, f"{nonce(request)}|{int(now.timestamp())}".encode())


def set_cookie(request: Request, response: Response, secure: bool) -> None:
    """Give the browser the nonce the page's tokens were made from."""
    response.set_cookie(COOKIE, nonce(request), httponly=True, samesite="lax", secure=secure)


def valid(secret: bytes, request: Request, sent: object, now: datetime, max_age: timedelta) -> bool:
    """True for a token made for this browser's cookie less than ``max_age`` ago."""
    cookie = request.cookies.get(COOKIE)
    if not cookie or not isinstance(sent, str):
        return False
    try:
        bound, _, stamp = verify(secret, PURPOSE, sent).decode().partition("|")
        age = now.timestamp() - int(stamp)
    except (BadToken, UnicodeDecodeError, ValueError):
        return False
    fresh = -CLOCK_SKEW.total_seconds() <= age <= max_age.total_seconds()
    return hmac.compare_digest(bound.encode(), cookie.encode()) and fresh
