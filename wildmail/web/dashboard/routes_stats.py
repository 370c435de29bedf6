"""Pages every role can read: campaign overview cards, a campaign's figures, CSV and HTML exports."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from delivery.alerts import relay_alerts
from stats.charts import dropoff_svg, last_window, timeline_svg
from stats.export import amounts, overview_csv, percent, report_csv
from stats.figures import CampaignReport
from stats.html_report import headline_cards, render_html_report
from stats.queries import campaign_details
from stats.report import UnknownCampaign, campaign_report, overview
from wildmail.runtime.users import Role
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, error_page, render

router = APIRouter(route_class=DashboardRoute)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HOURLY_BUCKETS = 72


def _csv(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def not_found(request: Request, slug: str) -> Response:
    return error_page(request, 404, "No such campaign", f"There is no campaign named “{slug}”.")


def _actions(status: str) -> list[tuple[str, str]]:
    return {
        "scheduled": [("pause", "Pause")],
        "running": [("pause", "Pause")],
        "paused": [("resume", "Resume")],
    }.get(status, [])


def _sent_any(report: CampaignReport) -> bool:
    """Whether anything was queued or sent (a campaign cannot be deleted then)."""
    t = report.total
    return any((t.sent, t.queued, t.suppressed, t.bounced, t.unknown))


@router.get("/dashboard")
def overview_page(request: Request) -> Response:
    """Cards with each campaign's headline figures."""
    user = require(request)
    rows = overview(ctx_of(request).engine, ctx_of(request).clock)
    return render(
        request,
        "overview.html",
        user=user,
        rows=rows,
        pct=percent,
        money=amounts,
        can_edit=Role(user.role) in CAN_EDIT,
    )


@router.get("/dashboard/export.csv")
def overview_export(request: Request) -> Response:
    require(request)
    return _csv(overview_csv(overview(ctx_of(request).engine, ctx_of(request).clock)), "campaigns.csv")


def campaign_page(request: Request, slug: str, error: str | None = None, status: int = 200) -> Response:
    """The campaign's figures, charts and (for marketers) its emails and controls."""
    user = require(request)
    ctx = ctx_of(request)
    try:
        report = campaign_report(ctx.engine, slug, ctx.clock)
    except UnknownCampaign:
        return not_found(request, slug)
    with ctx.session() as s:
        details = campaign_details(s, report.campaign_id)
    if details is None:  # deleted between the report and this read
        return not_found(request, slug)
    campaign = details.campaign
    start = campaign.start_date.isoformat() if campaign.start_date else "first slot after start"
    day = WEEKDAYS[campaign.send_weekday % 7]
    timetable = f"{day}s at {campaign.send_hour:02d}:00 {campaign.timezone}, from {start}"
    return render(
        request,
        "campaign.html",
        status,
        user=user,
        r=report,
        campaign=campaign,
        emails=details.emails,
        lists=details.lists,
        list_name=details.list_name,
        timetable=timetable,
        alerts=relay_alerts(ctx, report.campaign_id),
        rows=[*report.emails, report.total],
        cards=headline_cards(report),
        pct=percent,
        money=amounts,
        error=error,
        can_edit=Role(user.role) in CAN_EDIT,
        actions=_actions(campaign.status),
        sent_any=_sent_any(report),
        weekdays=WEEKDAYS,
        daily_chart=Markup(timeline_svg(report.daily, "Human activity per day")),  # noqa: S704 - escaped SVG
        hourly_chart=Markup(  # noqa: S704
            timeline_svg(
                last_window(report.hourly, timedelta(hours=1), HOURLY_BUCKETS),
                "Human activity per hour (the campaign's last 72 hours)",
                hourly=True,
            )
        ),
        dropoff_chart=Markup(dropoff_svg(report.dropoff)),  # noqa: S704
    )


@router.get("/dashboard/campaigns/{slug}")
def campaign_view(request: Request, slug: str) -> Response:
    return campaign_page(request, slug)


def _report(request: Request, slug: str) -> CampaignReport | Response:
    """The campaign's report for a signed-in reader, or the not-found page."""
    require(request)
    ctx = ctx_of(request)
    try:
        return campaign_report(ctx.engine, slug, ctx.clock)
    except UnknownCampaign:
        return not_found(request, slug)


@router.get("/dashboard/campaigns/{slug}/export.csv")
def campaign_export(request: Request, slug: str) -> Response:
    """The per-email figures as CSV (same columns as ``wildmail stats --csv``)."""
    report = _report(request, slug)
    if isinstance(report, Response):
        return report
    return _csv(report_csv(report), f"{report.slug}-stats.csv")


@router.get("/dashboard/campaigns/{slug}/report.html")
def campaign_standalone(request: Request, slug: str) -> Response:
    """The standalone offline HTML report (what the demo writes to a file)."""
    report = _report(request, slug)
    if isinstance(report, Response):
        return report
    return Response(render_html_report(report), media_type="text/html; charset=utf-8")
