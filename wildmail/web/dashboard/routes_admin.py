"""Admin pages: users (add, remove) and a read-only view of the settings."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from wildmail.core.db import write_transaction
from wildmail.core.redaction import shown_settings
from wildmail.runtime.users import UserError, add_user, list_users, remove_user
from wildmail.web.dashboard.auth import CAN_ADMIN, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render

router = APIRouter(route_class=DashboardRoute)


def _users_page(
    request: Request, status: int = 200, error: str | None = None, form: dict[str, str] | None = None
) -> Response:
    user = require(request, CAN_ADMIN)
    with ctx_of(request).session() as s:
        users = list_users(s)
    return render(request, "users.html", status, user=user, users=users, error=error, form=form or {})


@router.get("/dashboard/users")
def users_page(request: Request) -> Response:
    return _users_page(request)


@router.post("/dashboard/users")
async def add(request: Request) -> Response:
    require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    email, role = str(form.get("email") or ""), str(form.get("role") or "")
    try:
        with write_transaction(ctx.engine) as s:
            add_user(s, email, role, str(form.get("password") or ""), ctx.clock.now())
    except UserError as exc:
        return _users_page(request, 400, error=f"User not added: {exc}", form={"email": email, "role": role})
    return done("/dashboard/users", "user-added")


@router.post("/dashboard/users/remove")
async def remove(request: Request) -> Response:
    me = require(request, CAN_ADMIN)
    form = await form_of(request)
    email = str(form.get("email") or "")
    if email.strip().lower() == me.email:
        return _users_page(request, 400, error="You cannot remove your own account.")
    try:
        with write_transaction(ctx_of(request).engine) as s:
            remove_user(s, email)
    except UserError as exc:
        return _users_page(request, 400, error=str(exc))
    return done("/dashboard/users", "user-removed")


@router.get("/dashboard/settings")
def settings_page(request: Request) -> Response:
    user = require(request, CAN_ADMIN)
    items = shown_settings(ctx_of(request).settings)
    return render(request, "settings.html", user=user, items=items)
