"""Sessions, CSRF tokens, login rate limiting and role checks for the dashboard.

* Session cookie ``wm_session``: a signed token (HMAC, constant-time check) carrying the user id,
  the issue time and a fingerprint of the password hash (a password change ends old sessions);
  HttpOnly, SameSite=Lax, Secure when ``base_url`` is https; valid for 12 hours.
* CSRF: cookie ``wm_csrf`` holds a random nonce; every form carries ``keyed_hash(nonce)``; a POST
  without the matching field is refused with 403 (also the login form).
* Login rate limit: 5 failures per (email, client address) within 15 minutes -> 429.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, func, select
from starlette.datastructures import FormData

from wildmail.context import AppContext
from wildmail.db import write_transaction
from wildmail.signing import BadToken, keyed_hash, sign, verify
from wildmail.users import LoginFailure, Role, User, authenticate

SESSION_COOKIE = "wm_session"
CSRF_COOKIE = "wm_csrf"
SESSION_HOURS = 12
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)

# Which roles may do what: staff read, marketers also run campaigns and lists, admins do everything.
CAN_READ = (Role.STAFF, Role.MARKETER, Role.ADMIN)
CAN_EDIT = (Role.MARKETER, Role.ADMIN)
CAN_ADMIN = (Role.ADMIN,)


class LoginRequired(Exception):
    """No valid session: redirect to the login page."""


class Forbidden(Exception):
    """Logged in, but the role does not allow this (403)."""


class CsrfFailed(Exception):
    """A POST without a valid CSRF token (403)."""


class TooManyAttempts(Exception):
    """Too many failed logins for this address from this client (429)."""


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _secure(ctx: AppContext) -> bool:
    return ctx.settings.base_url.startswith("https://")


def _fingerprint(ctx: AppContext, user: User) -> str:
    return keyed_hash(ctx.settings.secret, "session-password", user.password_hash)[:16]


def start_session(request: Request, response: Response, user: User) -> None:
    """Set the session cookie for ``user`` (and rotate the CSRF nonce)."""
    ctx = ctx_of(request)
    issued = int(ctx.clock.now().timestamp())
    payload = f"{user.id}:{issued}:{_fingerprint(ctx, user)}".encode()
    token = sign(ctx.settings.secret, "dashboard-session", payload)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx),
    )
    set_csrf_cookie(request, response, rotate=True)


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(ctx_of(request)))


def session_user(request: Request) -> User | None:
    """The logged-in user, or None (bad, expired or outdated cookie)."""
    ctx = ctx_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user_id, issued, fingerprint = (
            verify(ctx.settings.secret, "dashboard-session", token).decode().split(":")
        )
        age = ctx.clock.now().timestamp() - int(issued)
    except (BadToken, ValueError, UnicodeDecodeError):
        return None
    if not 0 <= age <= SESSION_HOURS * 3600:
        return None
    with ctx.session() as s:
        user = s.get(User, int(user_id))
    if user is None or not hmac.compare_digest(fingerprint, _fingerprint(ctx, user)):
        return None
    return user


def require(request: Request, roles: tuple[Role, ...] = CAN_READ) -> User:
    """The logged-in user if their role is in ``roles``; raises LoginRequired / Forbidden."""
    user = session_user(request)
    if user is None:
        raise LoginRequired
    if Role(user.role) not in roles:
        raise Forbidden
    return user


def _nonce(request: Request) -> str:
    nonce: str | None = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
    request.state.csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    """The token forms must carry (bound to this browser's CSRF cookie)."""
    return keyed_hash(ctx_of(request).settings.secret, "csrf", _nonce(request))[:40]


def set_csrf_cookie(request: Request, response: Response, rotate: bool = False) -> None:
    """Make sure the browser holds the nonce the page's tokens were made from."""
    if rotate:
        request.state.csrf_nonce = secrets.token_urlsafe(24)
    nonce = _nonce(request)
    if rotate or request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=_secure(ctx_of(request))
        )


def check_csrf(request: Request, form: FormData) -> None:
    """Raise :class:`CsrfFailed` unless the form's token matches the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = form.get("csrf")
    if not cookie or not isinstance(sent, str):
        raise CsrfFailed
    expected = keyed_hash(ctx_of(request).settings.secret, "csrf", cookie)[:40]
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed


def _attempt_key(ctx: AppContext, email: str, client: str) -> str:
    return keyed_hash(ctx.settings.secret, "login-attempt", f"{email.strip().lower()}|{client}")


def login(request: Request, email: str, password: str) -> User | None:
    """Check credentials with rate limiting; raises :class:`TooManyAttempts`."""
    ctx = ctx_of(request)
    now = ctx.clock.now()
    client = request.client.host if request.client else "unknown"
    key = _attempt_key(ctx, email, client)
    with write_transaction(ctx.engine) as s:
        recent = s.scalar(
            select(func.count()).where(LoginFailure.key_hash == key, LoginFailure.at > now - FAILURE_WINDOW)
        )
        if (recent or 0) >= MAX_FAILURES:
            raise TooManyAttempts
        user = authenticate(s, email, password, now)
        if user is None:
            s.add(LoginFailure(key_hash=key, at=now))
            s.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1)))
            return None
        s.execute(delete(LoginFailure).where(LoginFailure.key_hash == key))
        s.flush()
        s.expunge(user)
        return user
