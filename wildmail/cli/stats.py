"""``wildmail stats [CAMPAIGN] [--json | --csv]``: the same figures as the dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from delivery.alerts import relay_alerts
from optimise.figures import campaign_tuning, resend_lines, subject_test_lines
from stats import rollup
from stats.engagement import summary_lines as engagement_summary
from stats.export import (
    amounts,
    overview_csv,
    overview_json,
    percent,
    position_label,
    report_csv,
    report_json,
)
from stats.figures import CampaignReport, CampaignSummary, Funnel
from stats.html_report import render_html_report
from stats.report import UnknownCampaign, campaign_report, overview
from stats.rollup import SETTLE
from wildmail.cli.common import console, context, err_console, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.runtime.context import AppContext

_COLUMNS = (
    ("Sent", "sent"), ("Delivered", "delivered"), ("Hard bounces", "bounced"),
    ("Soft bounces", "soft_bounces"), ("Blocked", "blocked"), ("Complaints", "complaints"),
    ("Unknown", "unknown"),
    ("Human opens", "human_openers"), ("Machine opens", "machine_openers"), ("Open rate", "open_rate"),
    ("CTR", "ctr"), ("CTO", "click_to_open"), ("Donors", "donors"), ("Donation CTR", "donation_ctr"),
    ("Unsubs", "unsubscribes"),
)  # fmt: skip


def _cells(f: Funnel) -> list[str]:
    out = []
    for _, name in _COLUMNS:
        value = getattr(f, name)
        out.append(percent(value) if name.endswith(("rate", "ctr", "open")) else f"{value:,}")
    return out


def campaign_grid(r: CampaignReport) -> Grid:
    """Per-email figures of one campaign, the total last."""
    labels = [label for label, _ in _COLUMNS]
    grid = Grid(f"{r.title} ({r.slug}, {r.status})", ["#", "Subject", *labels], key=2)
    grid.right = {0, *range(2, 2 + len(labels))}
    for f in r.emails:
        grid.add(position_label(f.position), f.subject, *_cells(f))
    grid.total_from = len(grid.rows)
    grid.add("", "All emails", *_cells(r.total))
    return grid


def overview_grid(rows: list[CampaignSummary]) -> Grid:
    """One line per campaign."""
    labels = [label for label, _ in _COLUMNS]
    grid = Grid("Campaigns", ["Campaign", "Status", "Emails", *labels], key=2)
    grid.right = set(range(2, 3 + len(labels)))
    for r in rows:
        grid.add(r.slug, r.status, str(r.email_count), *_cells(r.total))
    return grid


def donation_line(label: str, f: Funnel) -> str:
    """One line of donation figures (stats.definitions, "Donations")."""
    return (
        f"{label}: {f.donations:,} donation{'' if f.donations == 1 else 's'}, {amounts(f.raised)} raised,"
        f" {amounts(f.revenue_per_1000)} per 1,000 delivered;"
        f" {percent(f.donation_conversion)} of donation clickers gave ({f.converted:,} of {f.donors:,})"
    )


SETTLING = (
    f"Opens and clicks are counted once they are {int(SETTLE.total_seconds())} s old (the settling window:"
    " a link scanner's click is told apart from a reader's within it); newer ones appear on the next run."
)


def _alerts(ctx: AppContext, campaign_id: int | None = None) -> None:
    for alert in relay_alerts(ctx, campaign_id):
        console.print(f"[bold red]alert:[/] {alert}", highlight=False, soft_wrap=True)


def stats(
    campaign: Annotated[
        str | None, typer.Argument(help="Campaign slug or id; all campaigns when omitted.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Recompute the rollup tables from the whole event log first.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a standalone offline HTML report to this file.")
    ] = None,
) -> None:
    """Engagement figures per campaign and per email (same numbers as the dashboard)."""
    if as_json and as_csv:
        fail("choose one of --json and --csv")
    if html is not None and campaign is None:
        fail("--html needs a campaign name")
    ctx = context()
    try:
        if rebuild:
            folded = rollup.rebuild(ctx.engine, ctx.clock.now())
            err_console.print(f"folded {folded:,} events into the rollup tables")
        if campaign is None:
            rows = overview(ctx.engine, ctx.clock)
            if as_json:
                typer.echo(overview_json(rows))
            elif as_csv:
                typer.echo(overview_csv(rows), nl=False)
            elif not rows:
                console.print("No campaigns yet: create one with 'wildmail campaign create'.")
            else:
                _alerts(ctx)
                print_grid(console, overview_grid(rows))
                for row in rows:
                    if row.total.donations:
                        console.print(donation_line(row.slug, row.total), highlight=False, soft_wrap=True)
                console.print(SETTLING, style="dim", highlight=False)
            return
        try:
            report = campaign_report(ctx.engine, campaign, ctx.clock)
        except UnknownCampaign as exc:
            fail(str(exc))
        if html is not None:
            try:
                html.write_text(render_html_report(report), encoding="utf-8")
            except OSError as exc:
                fail(f"{html}: cannot write ({exc.strerror})", 1)
            err_console.print(f"wrote {html}")
        tuning = campaign_tuning(ctx, report.campaign_id)
        if as_json:
            typer.echo(json.dumps({**json.loads(report_json(report)), **tuning.as_dict()}, indent=2))
        elif as_csv:
            typer.echo(report_csv(report), nl=False)
        else:
            _alerts(ctx, report.campaign_id)
            print_grid(console, campaign_grid(report))
            for f in [*report.emails, report.total] if report.total.donations else []:
                label = f"Email {f.position}" if f.position else "All emails"
                console.print(donation_line(label, f), highlight=False, soft_wrap=True)
            if not report.has_events:
                console.print("No opens or clicks counted yet.", style="dim")
            console.print(SETTLING, style="dim", highlight=False)
            for step in report.dropoff[1:]:
                console.print(
                    f"Email {step.position}: received by {percent(step.received_share)} "
                    f"and opened by {percent(step.opened_share)} of email 1's recipients"
                )
            lines = [x for t in tuning.tests for x in subject_test_lines(t)]
            lines += [x for r in tuning.resends for x in resend_lines(r)]
            for line in lines + engagement_summary(ctx, report.campaign_id):
                console.print(line, highlight=False, soft_wrap=True)
    finally:
        ctx.close()
