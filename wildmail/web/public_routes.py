"""Public pages: the subscribe form and the confirmation link.

The form carries a CSRF token (:mod:`wildmail.web.csrf`, the scheme of every form) with a
2 hour window. A confirmation link opens a page with a button that
POSTs back: link scanners that prefetch URLs in mail (GET) cannot confirm on someone's behalf.

Against bots and inbox flooding: a honeypot field (hidden by the stylesheet; a bot that fills it
gets the usual answer and nothing is sent), at most ``SUBSCRIBES_PER_CLIENT`` posts per client
address per hour (counted in this process, see :mod:`wildmail.web.client_limits`), and the
per-address limits of :func:`subscribers.optin.subscribe` (a few confirmations a day).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse

from subscribers import lifecycle, optin
from subscribers.addresses import InvalidValue
from subscribers.models import ConsentSource
from wildmail.core.db import write_transaction
from wildmail.runtime.context import AppContext
from wildmail.runtime.mailer import MailError, send_one
from wildmail.web import csrf
from wildmail.web.client_limits import WindowLimit
from wildmail.web.templating import templates

router = APIRouter()
CSRF_WINDOW = timedelta(hours=2)  # how long a public form (sign-up, preferences) stays usable
SUBSCRIBES_PER_CLIENT = 5  # form posts per client address per hour
CLIENT_WINDOW = timedelta(hours=1)


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, f"public/{template}", values, status_code=status)


def _message(request: Request, status: int, title: str, text: str, description: str = "") -> HTMLResponse:
    return _page(request, "message.html", status, title=title, text=text, description=description)


def _form(request: Request, slug: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx = _ctx(request)
    with ctx.session() as session:
        lst = lifecycle.get_list(session, slug)
        if lst is None:
            return _message(request, 404, "List not found", "There is no mailing list at this address.")
        about = {"list_name": lst.name, "description": lst.description, "double_opt_in": lst.double_opt_in}
    token = csrf.token(ctx.settings.secret, request, ctx.clock.now())
    # An embedded form on the charity's site (subscribers.signup_form) sends the address by GET.
    values.setdefault("email", request.query_params.get("email", "")[:254])
    values.setdefault("name", request.query_params.get("name", "")[:200])
    response = _page(request, "subscribe.html", status, slug=slug, csrf=token, **about, **values)
    csrf.set_cookie(request, response, ctx.settings.base_url.startswith("https://"))
    return response


@router.get("/subscribe/{slug}", response_class=HTMLResponse)
def subscribe_form(request: Request, slug: str) -> HTMLResponse:
    """The sign-up form of one list."""
    return _form(request, slug)


@router.post("/subscribe/{slug}", response_class=HTMLResponse)
def subscribe_submit(
    request: Request,
    slug: str,
    email: Annotated[str, Form(max_length=400)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    csrf_token_: Annotated[str, Form(alias="csrf_token", max_length=600)] = "",
    website: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    """Create a pending subscriber and send the confirmation email (or activate on single opt-in)."""
    ctx = _ctx(request)
    now = ctx.clock.now()
    if not csrf.valid(ctx.settings.secret, request, csrf_token_, now, CSRF_WINDOW):
        return _form(
            request, slug, 403, email=email, name=name, error="The form expired. Please send it again."
        )
    if website:  # honeypot field hidden from people; bots fill it in
        return _message(request, 200, "Almost there", "Please check your inbox to confirm your subscription.")
    limit: WindowLimit = request.app.state.subscribe_limit
    if not limit.allow(request.client.host if request.client else "", now):
        response = _message(
            request,
            429,
            "Too many sign-ups",
            "Too many subscriptions were sent from your network in the last hour. Please try again later.",
        )
        response.headers["Retry-After"] = str(int(CLIENT_WINDOW.total_seconds()))
        return response
    try:
        with write_transaction(ctx.engine) as session:
            lst = lifecycle.get_list(session, slug)
            if lst is None:
                return _message(request, 404, "List not found", "There is no mailing list at this address.")
            list_name = lst.name
            result = optin.subscribe(
                session, ctx.settings, lst, email, now, lambda m: send_one(ctx.settings, m),
                name=name, source=ConsentSource.FORM,
            )  # fmt: skip
    except InvalidValue as exc:
        return _form(request, slug, 400, email=email, name=name, error=str(exc))
    except MailError:
        return _message(
            request, 503, "Please try again later", "We could not send the confirmation email just now."
        )
    if result.outcome is optin.Outcome.ACTIVATED:
        return _message(
            request,
            200,
            "You are subscribed",
            f"Thank you! Your subscription is active: you will now receive {list_name}.",
        )
    return _message(request, 200, "Almost there", "Please check your inbox to confirm your subscription.")


def _check(request: Request, token: str) -> HTMLResponse | None:
    ctx = _ctx(request)
    try:
        optin.read_token(ctx.settings.secret, token, ctx.clock.now())
    except optin.ConfirmationInvalid as exc:
        return _message(request, 404, "Link not valid", str(exc))
    except optin.ConfirmationExpired as exc:
        return _message(request, 410, "Link expired", str(exc))
    return None


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    """Show the confirmation button (changes nothing)."""
    problem = _check(request, token)
    if problem is not None:
        return problem
    ctx = _ctx(request)
    with ctx.session() as session:
        lst = optin.list_of_token(session, ctx.settings.secret, token, ctx.clock.now())
        about: dict[str, Any] = {"list_name": lst.name, "description": lst.description} if lst else {}
    return _page(request, "confirm.html", token=token, **about)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_submit(request: Request, token: str) -> HTMLResponse:
    """Confirm the subscription; tampered or expired tokens change nothing."""
    ctx = _ctx(request)
    try:
        with write_transaction(ctx.engine) as session:
            _sub, lst, _changed = optin.confirm_by_token(session, ctx.settings.secret, token, ctx.clock.now())
            list_name, description = lst.name, lst.description
    except optin.ConfirmationInvalid as exc:
        return _message(request, 404, "Link not valid", str(exc))
    except optin.ConfirmationExpired as exc:
        return _message(request, 410, "Link expired", str(exc))
    return _message(
        request, 200, "Subscription confirmed", f"Thank you! You will now receive {list_name}.", description
    )


async def startup(app: FastAPI) -> None:
    """Start counting form posts per client."""
    app.state.subscribe_limit = WindowLimit(SUBSCRIBES_PER_CLIENT, CLIENT_WINDOW)


async def shutdown(app: FastAPI) -> None:
    """Nothing to flush."""
