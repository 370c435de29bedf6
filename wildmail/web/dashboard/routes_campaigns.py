"""Marketer pages: create a campaign from an article, edit and preview emails, timetable, schedule (with a
confirmation step), pause/resume, duplicate, delete, send a test. The domain work is done by
``delivery.lifecycle``; creating and scheduling run as background jobs (:mod:`wildmail.web.jobs`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from campaigns.models import Campaign, Email
from campaigns.preview import PreviewEmail
from delivery.lifecycle import (
    USER_ERRORS,
    CampaignError,
    CampaignNotFound,
    CampaignOptions,
    available_templates,
    create_campaign_from_bytes,
    create_campaign_from_text,
    delete_campaign,
    duplicate_campaign,
    edit_email,
    email_body,
    email_preview,
    get_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    schedule_preview,
    set_timetable,
)
from delivery.lifecycle import test_send as send_test
from delivery.smtp_transport import SmtpTransport
from subscribers.queries import list_choices
from wildmail.core.db import MAX_ROW_ID, write_transaction
from wildmail.runtime.users import User
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.dashboard.routes_jobs import jobs_of, started
from wildmail.web.dashboard.routes_stats import campaign_page, not_found
from wildmail.web.jobs import Job, UserMistake
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


async def _article(form: dict[str, Any]) -> tuple[bytes | None, str, str]:
    """``(file bytes, "", file name)`` for an upload (any format the readers know: Markdown, text,
    HTML, .docx), ``(None, text, "pasted article")`` for pasted text."""
    upload = form.get("article")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_ARTICLE_BYTES + 1)
        if len(data) > MAX_ARTICLE_BYTES:
            raise CampaignError("the article file is larger than 2 MB")
        return data, "", upload.filename
    text = str(form.get("text") or "")
    if not text.strip():
        raise CampaignError("choose an article file or paste the article text")
    return None, text, "pasted article"


@router.post("/dashboard/campaigns/new")
async def create(request: Request) -> Response:
    """Split the uploaded article into a draft campaign in a background job, then show the split.

    Mistakes found before the job starts (no article, a bad number) show the form again as typed;
    mistakes in the article fail the job, whose page shows the form again with the message.
    """
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        data, text, source = await _article(form)
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
    except USER_ERRORS as exc:
        return _new_page(request, user, fields, 400, error=str(exc))

    def work(job: Job) -> str:
        job.phase = "splitting and compiling"
        try:
            with write_transaction(ctx.engine) as s:
                if data is not None:
                    campaign = create_campaign_from_bytes(
                        s, ctx.settings, source, data, options, ctx.clock.now()
                    )
                else:
                    campaign = create_campaign_from_text(
                        s, ctx.settings, text, options, ctx.clock.now(), source
                    )
                slug = campaign.slug
        except USER_ERRORS as exc:
            raise UserMistake(str(exc)) from None
        return f"/dashboard/campaigns/{slug}?done=created"

    title = f"Create campaign {' '.join(options.name.split())}"
    job = jobs_of(request).start("create", title, user.id, work, form=fields, on_failure=_failed_create)
    return await started(request, job)


def _failed_create(request: Request, job: Job) -> Response:
    """A create job that failed: the form again, as typed, with the message."""
    user = require(request, CAN_EDIT)
    return _new_page(request, user, job.form, 400, error=job.message)


def _editor(
    request: Request, slug: str, position: int, typed: dict[str, str] | None = None, error: str = ""
) -> Response:
    """The editor of one email: subject, preheader, Markdown body, and its preview at two widths."""
    user = require(request, CAN_EDIT)
    found = _preview(request, slug, position)
    if isinstance(found, Response):
        return found
    campaign, email, item = found
    values = typed or {
        "subject": email.subject,
        "preheader": email.preheader,
        "body": email_body(campaign, email),
    }
    return render(
        request,
        "email_edit.html",
        400 if error else 200,
        user=user,
        campaign=campaign,
        email=email,
        values=values,
        error=error or None,
        text=item.text,
        src=f"/dashboard/campaigns/{slug}/emails/{position}/preview.html",
    )


@router.get("/dashboard/campaigns/{slug}/emails/{position}")
def edit_page(request: Request, slug: str, position: DbInt) -> Response:
    return _editor(request, slug, position)


@router.post("/dashboard/campaigns/{slug}/emails/{position}")
async def edit(request: Request, slug: str, position: DbInt) -> Response:
    """Save an email's subject, preheader and body (recompiled at once); a mistake shows the editor
    again with what was typed."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    typed = {k: form[k] for k in ("subject", "preheader", "body") if isinstance(form.get(k), str)}
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            edit_email(
                s,
                ctx.settings,
                campaign,
                position,
                subject=typed.get("subject"),
                preheader=typed.get("preheader"),
                body=typed.get("body"),
                now=ctx.clock.now(),
            )
    except CampaignNotFound:
        return not_found(request, slug)
    except USER_ERRORS as exc:
        if "body" not in typed:  # the short form on the campaign page
            return campaign_page(request, slug, error=f"Email {position}: {exc}", status=400)
        return _editor(request, slug, position, typed, error=f"Not saved: {exc}")
    if "body" not in typed:
        return done(f"/dashboard/campaigns/{slug}", "edited")
    return done(f"/dashboard/campaigns/{slug}/emails/{position}", "edited")


def _preview(request: Request, slug: str, position: int) -> tuple[Campaign, Email, PreviewEmail] | Response:
    try:
        ctx = ctx_of(request)
        return email_preview(ctx, ctx.settings, slug, position)
    except CampaignError as exc:
        return error_page(request, 404, "No such email", str(exc))


@router.get("/dashboard/campaigns/{slug}/emails/{position}/preview")
def preview_page(request: Request, slug: str, position: DbInt) -> Response:
    """The email at desktop and phone widths, as a subscriber would see it (every role may look)."""
    user = require(request)
    found = _preview(request, slug, position)
    if isinstance(found, Response):
        return found
    campaign, email, item = found
    src = f"/dashboard/campaigns/{slug}/emails/{position}/preview.html"
    return render(request, "preview.html", user=user, campaign=campaign, email=email, text=item.text, src=src)


@router.get("/dashboard/campaigns/{slug}/emails/{position}/preview.html")
def preview_html(request: Request, slug: str, position: DbInt) -> Response:
    """The personalised HTML itself (shown in a sandboxed iframe, no scripts allowed)."""
    require(request)
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


def _start(form: dict[str, Any], now: datetime) -> datetime | date | None:
    """The form's choice as a ``lifecycle.Start``: now (an instant), a day (the first slot on or
    after it), or the timetable's own start. Raises :class:`CampaignError` for a bad day."""
    when = str(form.get("when") or "")
    if when == "now":
        return now
    if when == "date":
        raw = str(form.get("start_date") or "").strip()
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise CampaignError(f"choose the day email 1 goes out (YYYY-MM-DD), not {raw!r}") from None
    return None


@router.post("/dashboard/campaigns/{slug}/review")
async def review(request: Request, slug: str) -> Response:
    """The confirmation step: how many people get email 1, and when; nothing is changed yet."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    try:
        ctx = ctx_of(request)
        start = _start(form, ctx.clock.now())
        preview = schedule_preview(ctx, slug, start)
    except CampaignNotFound:
        return not_found(request, slug)
    except CampaignError as exc:
        return campaign_page(request, slug, error=f"Cannot schedule: {exc}", status=400)
    zone = ZoneInfo(preview.timezone)

    def at(when: datetime) -> str:
        return f"{when.astimezone(zone):%a %d %b %Y, %H:%M} {preview.timezone}"

    day = start.isoformat() if isinstance(start, date) and not isinstance(start, datetime) else ""
    return render(request, "confirm_schedule.html", user=user, p=preview, at=at, day=day)


@router.post("/dashboard/campaigns/{slug}/start")
async def start(request: Request, slug: str) -> Response:
    """Schedule the campaign (enrol its list) in a background job, then show the campaign."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)

    def work(job: Job) -> str:
        job.phase = "enrolling the list"
        try:
            job.rows = schedule_campaign(ctx, slug, _start(form, ctx.clock.now()))
        except USER_ERRORS as exc:
            raise UserMistake(f"Cannot schedule: {exc}") from None
        return f"/dashboard/campaigns/{slug}?done=started"

    job = jobs_of(request).start("schedule", f"Schedule {slug}", user.id, work)
    return await started(request, job)


@router.post("/dashboard/campaigns/{slug}/duplicate")
async def duplicate(request: Request, slug: str) -> Response:
    """A draft copy of the campaign (its emails as edited), named by the form or "<title> (copy)"."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            name = str(form.get("name") or "").strip() or f"{campaign.title} (copy)"
            copy = duplicate_campaign(s, ctx.settings, campaign, name, ctx.clock.now())
            new_slug = copy.slug
    except CampaignNotFound:
        return not_found(request, slug)
    except USER_ERRORS as exc:
        return campaign_page(request, slug, error=f"Not duplicated: {exc}", status=400)
    return done(f"/dashboard/campaigns/{new_slug}", "duplicated")


@router.post("/dashboard/campaigns/{slug}/delete")
async def delete(request: Request, slug: str) -> Response:
    """Delete a campaign that has sent nothing (refused once anything was queued or sent)."""
    require(request, CAN_EDIT)
    await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            delete_campaign(s, get_campaign(s, slug))
    except CampaignNotFound:
        return not_found(request, slug)
    except CampaignError as exc:
        return campaign_page(request, slug, error=f"Not deleted: {exc}", status=400)
    return done("/dashboard", "deleted")


@router.post("/dashboard/campaigns/{slug}/{action}")
async def act(request: Request, slug: str, action: str) -> Response:
    """Pause or resume the campaign."""
    require(request, CAN_EDIT)
    await form_of(request)
    ctx = ctx_of(request)
    try:
        if action == "pause":
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
