"""Admin pages for outbound webhooks: endpoints (add with the secret shown once, remove, enable,
disable, test ping), and each endpoint's delivery log with a Resend button."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from webhooks.addresses import WebhookError
from webhooks.endpoints import (
    add_endpoint,
    delivery_log,
    list_endpoints,
    remove_endpoint,
    require_endpoint,
    resend,
    send_test,
    set_enabled,
)
from wildmail.core.db import write_transaction
from wildmail.core.outbox import EventType
from wildmail.web.dashboard.auth import CAN_ADMIN, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.path_params import DbInt

router = APIRouter(route_class=DashboardRoute)

EVENT_TYPES = [e.value for e in EventType]
NOTICES = {
    "removed": "Endpoint removed with its delivery log.",
    "enabled": "Endpoint enabled: waiting deliveries go out.",
    "disabled": "Endpoint disabled: its events wait until it is enabled again.",
    "tested": "Test ping queued: the worker sends it within seconds; its result appears below.",
    "resent": "Queued again: the worker sends it within seconds.",
}


def _list_page(
    request: Request,
    status: int = 200,
    error: str | None = None,
    form: dict[str, object] | None = None,
    created: dict[str, object] | None = None,
) -> Response:
    user = require(request, CAN_ADMIN)
    with ctx_of(request).session() as s:
        endpoints = list_endpoints(s)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(
        request, "webhooks.html", status, user=user, endpoints=endpoints, event_types=EVENT_TYPES,
        error=error, form=form or {}, created=created, notice=notice,
    )  # fmt: skip


@router.get("/dashboard/webhooks")
def webhooks_page(request: Request) -> Response:
    return _list_page(request)


@router.post("/dashboard/webhooks")
async def add(request: Request) -> Response:
    require(request, CAN_ADMIN)
    form = await form_of(request)
    raw = await request.form()  # the same parsed form (cached); several boxes share one name
    chosen = [str(v) for v in raw.getlist("events")]
    url, description = str(form.get("url") or ""), str(form.get("description") or "")
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            endpoint = add_endpoint(
                s, url, chosen, ctx.clock.now(), description=description,
                allow_private=ctx.settings.webhooks_allow_private,
            )  # fmt: skip
            created = {"id": endpoint.id, "url": endpoint.url, "secret": endpoint.secret}
    except WebhookError as exc:
        kept: dict[str, object] = {"url": url, "description": description, "events": chosen}
        return _list_page(request, 400, error=f"Endpoint not added: {exc}", form=kept)
    # The secret is shown in this response only (no redirect: it is never stored for a later page).
    return _list_page(request, created=created)


async def _act(request: Request, endpoint_id: int, action: str) -> Response:
    require(request, CAN_ADMIN)
    await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            if action == "removed":
                remove_endpoint(s, endpoint_id)
            elif action == "tested":
                send_test(s, endpoint_id, ctx.clock.now())
            else:
                set_enabled(s, endpoint_id, action == "enabled", reason="disabled in the dashboard")
    except WebhookError as exc:
        return error_page(request, 404, "No such endpoint", str(exc))
    target = "/dashboard/webhooks" if action == "removed" else f"/dashboard/webhooks/{endpoint_id}"
    return done(target, action)


@router.post("/dashboard/webhooks/{endpoint_id}/remove")
async def remove(request: Request, endpoint_id: DbInt) -> Response:
    return await _act(request, endpoint_id, "removed")


@router.post("/dashboard/webhooks/{endpoint_id}/enable")
async def enable(request: Request, endpoint_id: DbInt) -> Response:
    return await _act(request, endpoint_id, "enabled")


@router.post("/dashboard/webhooks/{endpoint_id}/disable")
async def disable(request: Request, endpoint_id: DbInt) -> Response:
    return await _act(request, endpoint_id, "disabled")


@router.post("/dashboard/webhooks/{endpoint_id}/test")
async def test(request: Request, endpoint_id: DbInt) -> Response:
    return await _act(request, endpoint_id, "tested")


@router.get("/dashboard/webhooks/{endpoint_id}")
def log_page(request: Request, endpoint_id: DbInt) -> Response:
    user = require(request, CAN_ADMIN)
    try:
        with ctx_of(request).session() as s:
            endpoint = require_endpoint(s, endpoint_id)
            rows = delivery_log(s, endpoint_id, 200)
    except WebhookError as exc:
        return error_page(request, 404, "No such endpoint", str(exc))
    return render(
        request, "webhook_log.html", user=user, endpoint=endpoint, rows=rows,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )  # fmt: skip


@router.post("/dashboard/webhooks/deliveries/{delivery_id}/resend")
async def resend_delivery(request: Request, delivery_id: DbInt) -> Response:
    require(request, CAN_ADMIN)
    await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            endpoint_id = resend(s, delivery_id, ctx.clock.now()).endpoint_id
    except WebhookError as exc:
        return error_page(request, 404, "No such delivery", str(exc))
    return done(f"/dashboard/webhooks/{endpoint_id}", "resent")
