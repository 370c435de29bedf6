"""Log in and log out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from wildmail.web.dashboard.auth import (
    LIMITS,
    TooManyAttempts,
    end_session,
    login,
    session_user,
    start_session,
)
from wildmail.web.dashboard.pages import DashboardRoute, form_of, render, safe_next

router = APIRouter(route_class=DashboardRoute)


@router.get("/login")
def login_page(request: Request, next: str = "/dashboard") -> Response:
    """The login form (logged-in users go straight on)."""
    if session_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), email="")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the credentials (rate limited), then start a session."""
    form = await form_of(request)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    try:
        user = login(request, email, password) if email and password else None
    except TooManyAttempts:
        minutes = int(LIMITS.window.total_seconds() // 60)
        refused = render(
            request,
            "login.html",
            429,
            next=target,
            email=email,
            error=f"Too many failed logins. Wait {minutes} minutes and try again.",
            user=None,
        )
        refused.headers["Retry-After"] = str(minutes * 60)
        return refused
    if user is None:
        return render(
            request, "login.html", 401, next=target, email=email, error="Wrong email or password.", user=None
        )
    response = RedirectResponse(target, status_code=303)
    start_session(request, response, user)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session server-side: a copy of the cookie no longer works."""
    await form_of(request)
    response = RedirectResponse("/login", status_code=303)
    end_session(request, response)
    return response
