"""``/api/v1/campaigns``: create from an article upload, read, edit emails, preview, schedule, pause,
resume, status. Every action is ``delivery.lifecycle``'s, as for the CLI and the dashboard."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email
from campaigns.queries import campaigns_page, list_slug
from delivery.lifecycle import (
    USER_ERRORS,
    CampaignError,
    CampaignNotFound,
    CampaignOptions,
    Start,
    campaign_status,
    create_campaign_from_bytes,
    edit_email,
    email_body,
    email_preview,
    get_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    schedule_preview,
)
from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import Principal
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.pagination import Page, PageQuery, after_id, paged
from wildmail.web.api.problems import ProblemError, documented
from wildmail.web.api.schemas import (
    CampaignDetail,
    CampaignOut,
    CampaignStatusOut,
    EmailOut,
    EmailPatch,
    NextSend,
    Position,
    PreviewOut,
    ScheduleIn,
    ScheduleOut,
    SlugPath,
)
from wildmail.web.api.security import ctx_of, needs

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"], route_class=ApiRoute)
Reader = Annotated[Principal, Depends(needs("campaigns", "read"))]
Writer = Annotated[Principal, Depends(needs("campaigns", "write"))]
MAX_ARTICLE_BYTES = 2_000_000


def campaign_out(c: Campaign, list_slug: str | None) -> CampaignOut:
    return CampaignOut(
        id=c.id, slug=c.slug, title=c.title, article_title=c.article_title, status=c.status, list=list_slug,
        mode=c.mode, send_weekday=c.send_weekday, send_hour=c.send_hour, timezone=c.timezone,
        start_date=c.start_date, donation_url=c.donation_url, template=c.template, email_count=len(c.emails),
        pause_reason=c.pause_reason, created_at=c.created_at, updated_at=c.updated_at,
    )  # fmt: skip


def email_out(c: Campaign, e: Email) -> EmailOut:
    return EmailOut(
        position=e.position, subject=e.subject, preheader=e.preheader, word_count=e.word_count,
        reading_minutes=e.reading_minutes, body=email_body(c, e),
    )  # fmt: skip


def detail_out(s: Session, c: Campaign) -> CampaignDetail:
    base = campaign_out(c, list_slug(s, c))
    emails = [email_out(c, e) for e in sorted(c.emails, key=lambda e: e.position)]
    return CampaignDetail(**base.model_dump(), emails=emails)


def _problem(exc: ValueError, *, state_change: bool = False) -> ProblemError:
    """A 404 for an unknown campaign; a 409 for a name taken, or when the campaign's state refuses
    the change (``state_change``: schedule, pause, resume); else a 422 naming the mistake."""
    if isinstance(exc, CampaignNotFound):
        return ProblemError(404, str(exc), kind="not-found")
    if isinstance(exc, CampaignError) and "already exists" in str(exc):
        return ProblemError(409, str(exc), kind="campaign-exists")
    if isinstance(exc, CampaignError) and state_change:
        return ProblemError(409, str(exc), kind="campaign-state")
    return ProblemError(422, str(exc), kind="invalid-campaign")


@router.get("", summary="Campaigns, by id")
def get_campaigns(request: Request, _: Reader, page: Annotated[PageQuery, Depends()]) -> Page[CampaignOut]:
    with ctx_of(request).session() as s:
        rows = campaigns_page(s, after_id(request, "campaigns", page), page.limit + 1)
        return paged(
            request, "campaigns", page, rows, lambda c: c.id, lambda c: campaign_out(c, list_slug(s, c))
        )


@router.post(
    "", status_code=201, summary="Create a draft campaign from an article", responses=documented(413)
)
async def create(
    request: Request,
    _: Writer,
    response: Response,
    article: Annotated[UploadFile, File(description="Markdown, plain text, an HTML page or a .docx")],
    name: Annotated[str, Form(min_length=1, max_length=300)],
    list_slug: Annotated[str | None, Form(alias="list", max_length=100)] = None,
    donation_url: Annotated[str | None, Form(max_length=2000)] = None,
    template: Annotated[str | None, Form(max_length=200)] = None,
    parts: Annotated[int | None, Form(ge=1, le=52)] = None,
    weekday: Annotated[str | None, Form(pattern="^(mon|tue|wed|thu|fri|sat|sun)$")] = None,
    hour: Annotated[int | None, Form(ge=0, le=23)] = None,
    timezone: Annotated[str | None, Form(max_length=64)] = None,
    locale: Annotated[str | None, Form(max_length=35)] = None,
) -> CampaignDetail:
    """The article is split into a weekly series and each email compiled, as ``wildmail campaign
    create`` does; the campaign is a draft until scheduled."""
    data = await article.read(MAX_ARTICLE_BYTES + 1)
    if len(data) > MAX_ARTICLE_BYTES:
        raise ProblemError(413, "the article file is larger than 2 MB", kind="article-too-large")
    options = CampaignOptions(
        name=name, list_slug=list_slug or None, donation_url=donation_url or None, template=template or None,
        parts=parts, weekday=weekday, hour=hour, timezone=timezone or None, locale=locale or None,
    )  # fmt: skip
    ctx = ctx_of(request)
    file_name = article.filename or "article.txt"

    def work() -> CampaignDetail:
        with write_transaction(ctx.engine) as s:
            campaign = create_campaign_from_bytes(s, ctx.settings, file_name, data, options, ctx.clock.now())
            return detail_out(s, campaign)

    try:
        out = await run_in_threadpool(work)
    except USER_ERRORS as exc:
        raise _problem(exc) from None
    response.headers["Location"] = f"/api/v1/campaigns/{out.slug}"
    return out


def _load(request: Request, slug: str) -> CampaignDetail:
    with ctx_of(request).session() as s:
        try:
            return detail_out(s, get_campaign(s, slug))
        except CampaignError as exc:
            raise _problem(exc) from None


@router.get("/{slug}", summary="One campaign with its emails")
def get_one(request: Request, _: Reader, slug: SlugPath) -> CampaignDetail:
    return _load(request, slug)


@router.patch("/{slug}/emails/{position}", summary="Edit an email's subject, preheader or body (Markdown)")
def patch_email(
    request: Request, _: Writer, slug: SlugPath, position: Position, body: EmailPatch
) -> EmailOut:
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            email = edit_email(
                s, ctx.settings, campaign, position, subject=body.subject, preheader=body.preheader,
                body=body.body, now=ctx.clock.now(),
            )  # fmt: skip
            return email_out(campaign, email)
    except USER_ERRORS as exc:
        raise _problem(exc) from None


@router.get("/{slug}/emails/{position}/preview", summary="An email as a sample subscriber reads it")
def preview(request: Request, _: Reader, slug: SlugPath, position: Position) -> PreviewOut:
    ctx = ctx_of(request)
    try:
        _c, _e, item = email_preview(ctx, ctx.settings, slug, position)
    except USER_ERRORS as exc:
        raise _problem(exc) from None
    return PreviewOut(
        position=item.position, subject=item.subject, preheader=item.preheader, html=item.html, text=item.text
    )


def _start(request: Request, text: str | None) -> Start:
    if text is None:
        return None
    if text == "now":
        return ctx_of(request).clock.now()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            422, f'start {text!r} is neither "now" nor a date YYYY-MM-DD', kind="invalid-start"
        ) from None


@router.post("/{slug}/schedule", summary="Schedule the campaign (or see who would get email 1)")
def schedule(request: Request, _: Writer, slug: SlugPath, body: ScheduleIn) -> ScheduleOut:
    ctx = ctx_of(request)
    start = _start(request, body.start)
    try:
        plan = schedule_preview(ctx, slug, start)
        enrolled = 0 if body.dry_run else schedule_campaign(ctx, slug, start)
    except USER_ERRORS as exc:
        raise _problem(exc, state_change=True) from None
    return ScheduleOut(
        slug=plan.slug, scheduled=not body.dry_run, enrolled=enrolled, recipients=plan.recipients,
        first_send=plan.first_send, last_first_send=plan.last_first_send,
    )  # fmt: skip


def _status(request: Request, slug: str) -> CampaignStatusOut:
    ctx = ctx_of(request)
    try:
        report = campaign_status(ctx, slug)
    except USER_ERRORS as exc:
        raise _problem(exc) from None
    return CampaignStatusOut(
        slug=report.slug, status=report.status, enrolments=report.enrolments,
        positions={str(k): v for k, v in report.positions.items()}, deliveries=report.deliveries,
        next_sends=[NextSend(at=at, people=n) for at, n in report.next_sends], held=report.held,
        alerts=report.alerts, pause_reason=report.pause_reason,
    )  # fmt: skip


@router.get("/{slug}/status", summary="Who is at which email, the next sends, relay alerts")
def status(request: Request, _: Reader, slug: SlugPath) -> CampaignStatusOut:
    return _status(request, slug)


@router.post("/{slug}/pause", summary="Pause: nothing more is queued until resumed")
def pause(request: Request, _: Writer, slug: SlugPath) -> CampaignStatusOut:
    try:
        pause_campaign(ctx_of(request), slug)
    except USER_ERRORS as exc:
        raise _problem(exc, state_change=True) from None
    return _status(request, slug)


@router.post("/{slug}/resume", summary="Resume where each subscriber was (no burst of missed sends)")
def resume(request: Request, _: Writer, slug: SlugPath) -> CampaignStatusOut:
    try:
        resume_campaign(ctx_of(request), slug)
    except USER_ERRORS as exc:
        raise _problem(exc, state_change=True) from None
    return _status(request, slug)
