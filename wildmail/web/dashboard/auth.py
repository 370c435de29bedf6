"""Sessions, CSRF tokens, login rate limiting and role checks for the dashboard.

* Session cookie ``wm_session``: a signed random token naming a row of ``user_sessions`` (only its
  hash is stored); HttpOnly, SameSite=Lax, Secure when ``base_url`` is https; valid for 12 hours
  unless revoked earlier (logout, a password or role change, removal, ``wildmail users revoke-sessions``).
* CSRF: cookie ``wm_csrf`` holds a random nonce; every form carries ``keyed_hash(nonce)``; a POST
  without the matching field is refused with 403 (also the login form).
* Login rate limit (:class:`wildmail.runtime.users.LoginLimits`): within 15 minutes, 5 failures
  of one client on one account, 20 of one client, 20 on one account or 200 overall -> 429. The
  client is the connecting address (an IPv6 client is its /64), or what a ``trusted_proxies``
  proxy forwarded: uvicorn rewrites the address only for those (:mod:`wildmail.web.serving`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from datetime import timedelta

from fastapi import Request, Response
from starlette.datastructures import FormData

from wildmail.core.context import AppContext
from wildmail.core.db import write_transaction
from wildmail.core.signing import BadToken, keyed_hash, sign, verify
from wildmail.runtime.users import (
    LoginLimits,
    LoginThrottled,
    Role,
    User,
    UserError,
    attempt_login,
    normalise_email,
    open_session,
    revoke_session,
    session_owner,
    touch_session,
)

SESSION_COOKIE = "wm_session"
CSRF_COOKIE = "wm_csrf"
SESSION_HOURS = 12
LIMITS = LoginLimits()
PAIR_LIMIT, CLIENT_LIMIT, ACCOUNT_LIMIT, GLOBAL_LIMIT = (
    LIMITS.per_pair,
    LIMITS.per_client,
    LIMITS.per_account,
    LIMITS.overall,
)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session

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
    """Too many failed logins from this client, on this account or overall (429)."""


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _secure(ctx: AppContext) -> bool:
    return ctx.settings.base_url.startswith("https://")


def start_session(request: Request, response: Response, user: User) -> None:
    """Open a server-side session for ``user``, set its cookie (and rotate the CSRF nonce).

    A session this browser already had is revoked: its cookie is being replaced.
    """
    ctx = ctx_of(request)
    previous = _session_token(request)
    with write_transaction(ctx.engine) as s:
        if previous is not None:
            revoke_session(s, previous, ctx.clock.now())
        token = open_session(s, user, ctx.clock.now(), timedelta(hours=SESSION_HOURS))
    response.set_cookie(
        SESSION_COOKIE,
        sign(ctx.settings.secret, "dashboard-session", token.encode()),
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx),
    )
    set_csrf_cookie(request, response, rotate=True)


def _session_token(request: Request) -> str | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return verify(ctx_of(request).settings.secret, "dashboard-session", cookie).decode("ascii")
    except (BadToken, ValueError, UnicodeDecodeError):
        return None


def end_session(request: Request, response: Response) -> None:
    """Revoke the session server-side (a copy of the cookie stops working) and clear the cookie."""
    ctx = ctx_of(request)
    token = _session_token(request)
    if token is not None:
        with write_transaction(ctx.engine) as s:
            revoke_session(s, token, ctx.clock.now())
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(ctx))


def session_user(request: Request) -> User | None:
    """The logged-in user, or None (bad, expired or revoked session)."""
    cached: User | None = getattr(request.state, "session_user", None)
    if cached is not None:
        return cached
    token = _session_token(request)
    if token is None:
        return None
    ctx = ctx_of(request)
    now = ctx.clock.now()
    with ctx.session() as s:
        found = session_owner(s, token, now)
        if found is None:
            return None
        user, last_seen = found
        s.expunge(user)
    if now - last_seen >= TOUCH_EVERY:
        with write_transaction(ctx.engine) as s:
            touch_session(s, token, now)
    request.state.session_user = user
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


def client_address(request: Request) -> str:
    """The client as rate limits see it: its address (already the forwarded one behind a trusted proxy)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))  # one site gets a whole /64
    return str(address)


def login(request: Request, email: str, password: str) -> User | None:
    """Check credentials with rate limiting; raises :class:`TooManyAttempts`."""
    ctx = ctx_of(request)
    secret = ctx.settings.secret
    try:
        account = normalise_email(email)
    except UserError:
        account = email.strip().lower()
    account_key = keyed_hash(secret, "login-account", account)
    client_key = keyed_hash(secret, "login-client", client_address(request))
    try:
        with write_transaction(ctx.engine) as s:
            user = attempt_login(
                s,
                email,
                password,
                account_key=account_key,
                client_key=client_key,
                now=ctx.clock.now(),
                limits=LIMITS,
            )
            if user is not None:
                s.flush()
                s.expunge(user)
            return user
    except LoginThrottled:
        raise TooManyAttempts from None
