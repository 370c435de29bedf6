"""Shared page plumbing: the route class that turns auth errors into pages, rendering, notices."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from wildmail.web.dashboard.auth import (
    CsrfFailed,
    Forbidden,
    LoginRequired,
    TooManyAttempts,
    check_csrf,
    csrf_token,
    session_user,
    set_csrf_cookie,
)
from wildmail.web.templating import templates

NOTICES = {
    "created": "Campaign created. Check the split below, then preview each email.",
    "edited": "Email saved and recompiled: the preview shows the new version.",
    "scheduled": "Timetable saved.",
    "started": "Campaign scheduled: subscribers of its list are enrolled and email 1 goes out as confirmed.",
    "paused": "Campaign paused: nothing more is sent until you resume it.",
    "resumed": "Campaign resumed: each subscriber continues at their next slot.",
    "tested": "Test emails sent.",
    "duplicated": "Campaign duplicated: this is the new draft copy.",
    "deleted": "Campaign deleted.",
    "archive": "Web archive settings saved.",
    "list": "List created.",
    "user-added": "User added.",
    "user-removed": "User removed.",
    "test-started": "Subject test started: new deliveries of this email get a variant at random.",
    "test-stopped": "Subject test stopped: the chosen variant goes to everyone from now on.",
    "resend-saved": "Resend saved.",
    "token-revoked": "API token revoked: requests with it are refused from now on.",
}


# The security headers (CSP, X-Frame-Options, ...) are added to every response by
# wildmail.web.security_headers; dashboard pages are also never cached.
SECURITY_HEADERS = {"Cache-Control": "no-store"}


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/web/dashboard/<name>`` with the CSRF token, user and notice filled in."""
    base = {
        "csrf": csrf_token(request),
        "user": context.pop("user", None) or session_user(request),
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    response = templates.TemplateResponse(request, f"dashboard/{name}", base | context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    set_csrf_cookie(request, response)
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """A page that says what went wrong and what to do, with the right status code."""
    return render(request, "error.html", status, title=title, message=message)


def done(url: str, code: str) -> RedirectResponse:
    """Redirect after a successful POST, showing a fixed notice."""
    return RedirectResponse(f"{url}?done={quote(code)}", status_code=303)


async def form_of(request: Request) -> dict[str, Any]:
    """The posted form (fields and uploads) after checking its CSRF token."""
    form = await request.form()
    check_csrf(request, form)
    return {key: form.get(key) for key in form}


def safe_next(target: str | None) -> str:
    """Only local dashboard paths are allowed as a post-login destination (no open redirect)."""
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target
    return "/dashboard"


class DashboardRoute(APIRoute):
    """Turns LoginRequired, Forbidden, CsrfFailed and TooManyAttempts into pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                path = request.url.path if request.method == "GET" else "/dashboard"
                return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
            except Forbidden:
                return error_page(
                    request, 403, "Not allowed", "Your role does not allow this. Ask an admin if you need it."
                )
            except CsrfFailed:
                return error_page(
                    request,
                    403,
                    "Form expired",
                    "The form was missing its security token or came from another site. "
                    "Go back, reload the page and try again.",
                )
            except TooManyAttempts:
                return error_page(
                    request,
                    429,
                    "Too many attempts",
                    "Too many failed logins for this address. Wait 15 minutes and try again.",
                )

        return handler
