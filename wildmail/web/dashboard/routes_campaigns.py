"""Marketer pages: create a campaign from an article, edit and preview emails, timetable, start/pause/resume,
send a test. The domain work is done by ``delivery.lifecycle``."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from campaigns.models import Campaign, Email
from campaigns.preview import PreviewEmail
from delivery.lifecycle import (
    USER_ERRORS,
    CampaignError,
    CampaignOptions,
    available_templates,
    create_campaign_from_text,
    edit_email,
    email_preview,
    get_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    set_timetable,
)
from delivery.lifecycle import test_send as send_test
from delivery.smtp_transport import SmtpTransport
from subscribers.queries import list_choices
from wildmail.core.db import MAX_ROW_ID, write_transaction
from wildmail.runtime.users import User
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.dashboard.routes_stats import campaign_page, not_found
from wildmail.web.path_params import DbInt

router = APIRouter(route_class=DashboardRoute)
MAX_ARTICLE_BYTES = 2_000_000
TEST_RECIPIENTS_MAX = 10  # a test send is not a way to mail a list


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
        lists=list_choices(ctx_of(request)),
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


def _preview(request: Request, slug: str, position: int) -> tuple[Campaign, Email, PreviewEmail] | Response:
    try:
        ctx = ctx_of(request)
        return email_preview(ctx, ctx.settings, slug, position)
    except CampaignError as exc:
        return error_page(request, 404, "No such email", str(exc))


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


@router.post("/dashboard/campaigns/{slug}/schedule")
async def schedule(request: Request, slug: str) -> Response:
    """Save the timetable of a draft campaign."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    try:
        set_timetable(
            ctx_of(request),
            slug,
            weekday=str(form.get("weekday") or ""),
            hour=str(form.get("hour") or ""),
            timezone=str(form.get("timezone") or ""),
            mode=str(form.get("mode") or ""),
            start=str(form.get("start") or ""),
            list_slug=str(form.get("list") or ""),
        )
    except CampaignError as exc:
        return campaign_page(request, slug, error=f"Timetable: {exc}", status=400)
    return done(f"/dashboard/campaigns/{slug}", "scheduled")


@router.post("/dashboard/campaigns/{slug}/test")
async def test_send(request: Request, slug: str) -> Response:
    """Send the series (or one email) through the configured relay to the addresses in the
    ``to`` field (commas, spaces or lines between them), or to the logged-in marketer."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
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
        transport = SmtpTransport.from_settings(ctx.settings)
        send_test(ctx, ctx.sender(), slug, addresses or [user.email], transport, position)
    except USER_ERRORS as exc:
        return campaign_page(request, slug, error=f"Test not sent: {exc}", status=400)
    except Exception as exc:  # the relay refused or could not be reached: an operational failure
        message = (
            f"Test not sent: the mail relay {ctx.settings.smtp_host}:{ctx.settings.smtp_port} failed ({exc})."
        )
        return campaign_page(request, slug, error=message, status=502)
    return done(f"/dashboard/campaigns/{slug}", "tested")


@router.post("/dashboard/campaigns/{slug}/{action}")
async def act(request: Request, slug: str, action: str) -> Response:
    """Start, pause or resume the campaign."""
    require(request, CAN_EDIT)
    await form_of(request)
    ctx = ctx_of(request)
    try:
        if action == "start":
            schedule_campaign(ctx, slug)
            code = "started"
        elif action == "pause":
            pause_campaign(ctx, slug)
            code = "paused"
        elif action == "resume":
            resume_campaign(ctx, slug)
            code = "resumed"
        else:
            return not_found(request, slug)
    except USER_ERRORS as exc:
        return campaign_page(request, slug, error=f"Cannot {action}: {exc}", status=400)
    return done(f"/dashboard/campaigns/{slug}", code)
