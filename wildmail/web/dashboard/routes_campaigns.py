"""Marketer pages: create a campaign from an article, edit and preview emails, timetable, start/pause/resume,
send a test. Domain work is done by ``campaigns.service`` and ``delivery.control``."""

from __future__ import annotations

import importlib
import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.datastructures import UploadFile

from campaigns.models import Campaign, CampaignMode
from campaigns.preview import preview_emails
from campaigns.service import (
    USER_ERRORS,
    CampaignError,
    CampaignOptions,
    available_templates,
    create_campaign_from_text,
    edit_email,
    get_campaign,
    get_email,
)
from subscribers.models import SubscriberList
from wildmail.core.db import MAX_ROW_ID, write_transaction
from wildmail.runtime.users import User
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.dashboard.routes_stats import campaign_page, not_found
from wildmail.web.path_params import DbInt

router = APIRouter(route_class=DashboardRoute)
MAX_ARTICLE_BYTES = 2_000_000
TEST_RECIPIENTS_MAX = 10  # a test send is not a way to mail a list


def optional(module: str) -> Any | None:
    """A module another issue provides, or None while it has not landed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _lists(request: Request) -> list[SubscriberList]:
    with ctx_of(request).session() as s:
        return list(s.scalars(select(SubscriberList).order_by(SubscriberList.name)))


@router.get("/dashboard/campaigns/new")
def new_campaign(request: Request) -> Response:
    user = require(request, CAN_EDIT)
    return _new_page(request, user, {})


def _new_page(
    request: Request, user: User, form: dict[str, str], status: int = 200, **extra: Any
) -> Response:
    names = available_templates(ctx_of(request).settings)
    return render(
        request,
        "new_campaign.html",
        status,
        user=user,
        form=form,
        lists=_lists(request),
        templates=names,
        **extra,
    )


async def _article_text(form: dict[str, Any]) -> tuple[str, str]:
    upload = form.get("article")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_ARTICLE_BYTES + 1)
        if len(data) > MAX_ARTICLE_BYTES:
            raise CampaignError("the article file is larger than 2 MB")
        try:
            return data.decode("utf-8-sig"), upload.filename
        except UnicodeDecodeError:
            raise CampaignError(f"{upload.filename} is not UTF-8 text") from None
    text = str(form.get("text") or "")
    if not text.strip():
        raise CampaignError("choose an article file or paste the article text")
    return text, "pasted article"


@router.post("/dashboard/campaigns/new")
async def create(request: Request) -> Response:
    """Split the uploaded article into a draft campaign and show it."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        text, source = await _article_text(form)
        parts = fields.get("parts", "").strip()
        if parts and not parts.isdigit():
            raise CampaignError("number of emails must be a whole number")
        options = CampaignOptions(
            name=fields.get("name", ""),
            list_slug=fields.get("list") or None,
            donation_url=fields.get("donation_url") or None,
            template=fields.get("template") or None,
            parts=int(parts) if parts else None,
        )
        with write_transaction(ctx.engine) as s:
            campaign = create_campaign_from_text(s, ctx.settings, text, options, ctx.clock.now(), source)
            slug = campaign.slug
    except USER_ERRORS as exc:
        return _new_page(request, user, fields, 400, error=str(exc))
    return done(f"/dashboard/campaigns/{slug}", "created")


@router.post("/dashboard/campaigns/{slug}/emails/{position}")
async def edit(request: Request, slug: str, position: DbInt) -> Response:
    """Save an email's subject and preheader (recompiled at once)."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            subject, preheader = form.get("subject"), form.get("preheader")
            edit_email(
                s,
                ctx.settings,
                campaign,
                position,
                subject=subject if isinstance(subject, str) else None,
                preheader=preheader if isinstance(preheader, str) else None,
                now=ctx.clock.now(),
            )
    except USER_ERRORS as exc:
        return campaign_page(request, slug, error=f"Email {position}: {exc}", status=400)
    return done(f"/dashboard/campaigns/{slug}", "edited")


def _preview(request: Request, slug: str, position: int) -> tuple[Campaign, Any, Any] | Response:
    ctx = ctx_of(request)
    with ctx.session() as s:
        try:
            campaign = get_campaign(s, slug)
            email = get_email(campaign, position)
        except CampaignError as exc:
            return error_page(request, 404, "No such email", str(exc))
        item = next(p for p in preview_emails(campaign, ctx.settings) if p.position == position)
        s.expunge_all()
    return campaign, email, item


@router.get("/dashboard/campaigns/{slug}/emails/{position}/preview")
def preview_page(request: Request, slug: str, position: DbInt) -> Response:
    """The email at desktop and phone widths, as a subscriber would see it."""
    user = require(request, CAN_EDIT)
    found = _preview(request, slug, position)
    if isinstance(found, Response):
        return found
    campaign, email, item = found
    src = f"/dashboard/campaigns/{slug}/emails/{position}/preview.html"
    return render(request, "preview.html", user=user, campaign=campaign, email=email, text=item.text, src=src)


@router.get("/dashboard/campaigns/{slug}/emails/{position}/preview.html")
def preview_html(request: Request, slug: str, position: DbInt) -> Response:
    """The personalised HTML itself (shown in a sandboxed iframe, no scripts allowed)."""
    require(request, CAN_EDIT)
    found = _preview(request, slug, position)
    if isinstance(found, Response):
        return found
    headers = {
        "Content-Security-Policy": "sandbox; script-src 'none'; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
    }
    return HTMLResponse(found[2].html, headers=headers)


def _schedule_fields(form: dict[str, Any], lists: dict[str, int]) -> dict[str, Any]:
    """Validate the timetable form; raises CampaignError naming the field."""
    try:
        weekday, hour = int(form.get("weekday", "")), int(form.get("hour", ""))
    except ValueError:
        raise CampaignError("weekday and hour must be numbers") from None
    if not 0 <= weekday <= 6 or not 0 <= hour <= 23:
        raise CampaignError("hour must be 0..23 and weekday Monday..Sunday")
    zone = str(form.get("timezone", "")).strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignError(f"unknown time zone {zone!r} (use a name like Europe/Berlin)") from None
    mode = str(form.get("mode", ""))
    if mode not in {m.value for m in CampaignMode}:
        raise CampaignError("mode must be drip or broadcast")
    start_text = str(form.get("start") or "").strip()
    try:
        start = date.fromisoformat(start_text) if start_text else None
    except ValueError:
        raise CampaignError(f"start date {start_text!r} is not a date (YYYY-MM-DD)") from None
    list_slug = str(form.get("list") or "")
    if list_slug and list_slug not in lists:
        raise CampaignError(f"no subscriber list {list_slug!r}")
    return {
        "send_weekday": weekday,
        "send_hour": hour,
        "timezone": zone,
        "mode": mode,
        "start_date": start,
        "list_id": lists.get(list_slug),
    }


@router.post("/dashboard/campaigns/{slug}/schedule")
async def schedule(request: Request, slug: str) -> Response:
    """Save the timetable of a draft campaign."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            if campaign.status != "draft":
                raise CampaignError("the timetable can only be changed before the campaign starts")
            lists = dict(s.execute(select(SubscriberList.slug, SubscriberList.id)).tuples().all())
            for key, value in _schedule_fields(form, lists).items():
                setattr(campaign, key, value)
            campaign.updated_at = ctx.clock.now()
    except CampaignError as exc:
        return campaign_page(request, slug, error=f"Timetable: {exc}", status=400)
    return done(f"/dashboard/campaigns/{slug}", "scheduled")


@router.post("/dashboard/campaigns/{slug}/test")
async def test_send(request: Request, slug: str) -> Response:
    """Send the series (or one email) through the configured relay to the addresses in the
    ``to`` field (commas, spaces or lines between them), or to the logged-in marketer."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    control, smtp = optional("delivery.control"), optional("delivery.smtp_transport")
    if control is None or smtp is None:
        return error_page(request, 503, "Not available yet", "Sending test emails is not available yet.")
    ctx = ctx_of(request)
    raw = str(form.get("position") or "").strip()
    if raw and not (raw.isdigit() and 1 <= int(raw) <= MAX_ROW_ID):
        return campaign_page(request, slug, error=f"Test not sent: there is no email {raw!r}.", status=400)
    position = int(raw) if raw else None
    addresses = [a for a in re.split(r"[\s,;]+", str(form.get("to") or "")) if a]
    if len(addresses) > TEST_RECIPIENTS_MAX:
        error = f"Test not sent: at most {TEST_RECIPIENTS_MAX} addresses at a time"
        return campaign_page(request, slug, error=error, status=400)
    try:
        transport = smtp.SmtpTransport.from_settings(ctx.settings)
        control.test_send(ctx, slug, addresses or [user.email], transport, position)
    except (control.CampaignError, *USER_ERRORS) as exc:
        return campaign_page(request, slug, error=f"Test not sent: {exc}", status=400)
    except Exception as exc:  # the relay refused or could not be reached: an operational failure
        message = (
            f"Test not sent: the mail relay {ctx.settings.smtp_host}:{ctx.settings.smtp_port} failed ({exc})."
        )
        return campaign_page(request, slug, error=message, status=502)
    return done(f"/dashboard/campaigns/{slug}", "tested")


ACTIONS = {"start": ("schedule_campaign", "started"), "pause": ("pause_campaign", "paused")}
ACTIONS["resume"] = ("resume_campaign", "resumed")


@router.post("/dashboard/campaigns/{slug}/{action}")
async def act(request: Request, slug: str, action: str) -> Response:
    """Start, pause or resume (done by ``delivery.control``)."""
    require(request, CAN_EDIT)
    await form_of(request)
    if action not in ACTIONS:
        return not_found(request, slug)
    control = optional("delivery.control")
    if control is None:
        return error_page(
            request, 503, "Not available yet", "Starting and pausing campaigns is not available yet."
        )
    function, code = ACTIONS[action]
    try:
        getattr(control, function)(ctx_of(request), slug)
    except (control.CampaignError, *USER_ERRORS) as exc:
        return campaign_page(request, slug, error=f"Cannot {action}: {exc}", status=400)
    return done(f"/dashboard/campaigns/{slug}", code)
