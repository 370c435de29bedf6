"""``/api/v1/stats`` and ``/api/v1/campaigns/{slug}/stats``: the figures of ``wildmail stats``, from
the same report (``stats.report``) and definitions (``stats.definitions``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from stats.figures import CampaignReport, CampaignSummary, Funnel
from stats.report import UnknownCampaign, campaign_report, overview
from wildmail.runtime.api_tokens import Principal
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.pagination import Page, PageQuery, after_id, paged
from wildmail.web.api.problems import ProblemError
from wildmail.web.api.schemas import (
    CampaignStatsOut,
    CampaignSummaryOut,
    DropOffOut,
    FunnelOut,
    Position,
    SlugPath,
)
from wildmail.web.api.security import ctx_of, needs

router = APIRouter(tags=["stats"], route_class=ApiRoute)
Reader = Annotated[Principal, Depends(needs("stats", "read"))]


def funnel_out(f: Funnel) -> FunnelOut:
    return FunnelOut(**f.as_dict())


async def _report(request: Request, slug: str) -> CampaignReport:
    ctx = ctx_of(request)
    try:
        return await run_in_threadpool(campaign_report, ctx.engine, slug, ctx.clock)
    except UnknownCampaign as exc:
        raise ProblemError(404, str(exc), kind="not-found") from None


@router.get("/api/v1/stats", summary="Every campaign's total figures, by campaign id")
async def get_overview(
    request: Request, _: Reader, page: Annotated[PageQuery, Depends()]
) -> Page[CampaignSummaryOut]:
    """The rows of ``wildmail stats``. All campaigns are summed at once (their totals are rollups),
    then paged by campaign id."""
    ctx = ctx_of(request)
    start = after_id(request, "stats", page)
    rows = await run_in_threadpool(overview, ctx.engine, ctx.clock)
    wanted = sorted((r for r in rows if r.campaign_id > start), key=lambda r: r.campaign_id)[: page.limit + 1]

    def out(r: CampaignSummary) -> CampaignSummaryOut:
        return CampaignSummaryOut(
            campaign_id=r.campaign_id, campaign=r.slug, title=r.title, status=r.status,
            email_count=r.email_count, total=funnel_out(r.total),
        )  # fmt: skip

    return paged(request, "stats", page, wanted, lambda r: r.campaign_id, out)


@router.get("/api/v1/campaigns/{slug}/stats", summary="A campaign's figures per email and in total")
async def get_campaign_stats(request: Request, _: Reader, slug: SlugPath) -> CampaignStatsOut:
    """Opens and clicks count once they are 30 s old (the settling window of ``wildmail stats``)."""
    r = await _report(request, slug)
    return CampaignStatsOut(
        campaign=r.slug, title=r.title, status=r.status, generated_at=r.generated_at,
        total=funnel_out(r.total),
        emails=[funnel_out(f) for f in r.emails], dropoff=[DropOffOut(**asdict(d)) for d in r.dropoff],
    )  # fmt: skip


@router.get("/api/v1/campaigns/{slug}/emails/{position}/stats", summary="One email's figures")
async def get_email_stats(request: Request, _: Reader, slug: SlugPath, position: Position) -> FunnelOut:
    r = await _report(request, slug)
    for f in r.emails:
        if f.position == position:
            return funnel_out(f)
    raise ProblemError(404, f"campaign {slug!r} has no email {position}", kind="not-found")
