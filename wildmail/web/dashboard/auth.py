"""Sessions, CSRF tokens, login rate limiting and role checks for the dashboard.

* Session cookie ``wm_session``: a signed random token naming a row of ``user_sessions`` (only its
  hash is stored); HttpOnly, SameSite=Lax, Secure when ``base_url`` is https; valid for 12 hours
  unless revoked earlier (logout, a password or role change, removal, ``wildmail users revoke-sessions``).
* CSRF: the scheme of :mod:`wildmail.web.csrf` (signed, dated double submit) with the session's
  lifetime as its window; a POST without a valid ``csrf`` field is refused with 403 (also the login form).
* Login rate limit (:class:`wildmail.runtime.users.LoginLimits`): within 15 minutes, 5 failures
  of one client on one account, 20 of one client, 20 on one account or 200 overall -> 429. The
  client is the connecting address (an IPv6 client is its /64), or what a ``trusted_proxies``
  proxy forwarded: uvicorn rewrites the address only for those (:mod:`wildmail.web.serving`).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from fastapi import Request, Response
from starlette.datastructures import FormData

from wildmail.core.signing import BadToken, keyed_hash, sign, verify
from wildmail.runtime import users
from wildmail.runtime.context import AppContext
from wildmail.runtime.users import LoginLimits, LoginThrottled, Role, User, UserError, normalise_email
from wildmail.web import csrf

SESSION_COOKIE = "wm_session"
SESSION_HOURS = 12
CSRF_WINDOW = timedelta(hours=SESSION_HOURS)  # a dashboard form stays usable while its session lives
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
    now = ctx.clock.now()
    token = users.start_session(
        ctx.engine, user, now, timedelta(hours=SESSION_HOURS), replacing=_session_token(request)
    )
    response.set_cookie(
        SESSION_COOKIE,
        sign(ctx.settings.secret, "dashboard-session", token.encode()),
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(ctx),
    )
    csrf.rotate(request)
    csrf.set_cookie(request, response, _secure(ctx))


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
        users.end_session(ctx.engine, token, ctx.clock.now())
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
    user = users.live_session_user(ctx.engine, token, ctx.clock.now(), TOUCH_EVERY)
    if user is None:
        return None
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


def csrf_token(request: Request) -> str:
    """The token forms must carry (bound to this browser's CSRF cookie)."""
    ctx = ctx_of(request)
    return csrf.token(ctx.settings.secret, request, ctx.clock.now())


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Give the browser the nonce the page's tokens were made from."""
    csrf.set_cookie(request, response, _secure(ctx_of(request)))


def check_csrf(request: Request, form: FormData) -> None:
    """Raise :class:`CsrfFailed` unless the form's ``csrf`` token matches the browser's CSRF cookie."""
    ctx = ctx_of(request)
    if not csrf.valid(ctx.settings.secret, request, form.get("csrf"), ctx.clock.now(), CSRF_WINDOW):
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
        return users.log_in(
            ctx.engine,
            email,
            password,
            account_key=account_key,
            client_key=client_key,
            now=ctx.clock.now(),
            limits=LIMITS,
        )
    except LoginThrottled:
        raise TooManyAttempts from None
