"""The sending commands of ``wildmail campaign``: schedule, pause, resume, status, test-send.

:mod:`wildmail.cli.campaign` adds them to its group.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import TypeVar

import typer

from delivery.lifecycle import (
    CampaignError,
    CampaignStatusReport,
    SchedulePreview,
    Start,
    campaign_status,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    schedule_preview,
)
from delivery.lifecycle import test_send as send_test
from delivery.smtp_transport import SmtpTransport
from delivery.transport import SendFailure
from inbound.queries import campaign_alerts
from wildmail.cli.common import EXIT_FAILURE, console, context, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.core.settings import SettingsError
from wildmail.runtime.context import AppContext

T = TypeVar("T")


def _on_campaign(action: Callable[[AppContext, str], T], name: str) -> T:
    """Run one lifecycle step on ``name``; a :class:`CampaignError` becomes one line and exit 2."""
    ctx = context()
    try:
        return action(ctx, name)
    except CampaignError as exc:
        fail(str(exc))
    finally:
        ctx.close()


WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _describe(preview: SchedulePreview) -> str:
    """When email 1 goes out and the rhythm after it."""
    if not preview.recipients or preview.first_send is None:
        first = "nobody to send email 1 to yet (members who join later are enrolled by the scheduler)"
    elif preview.at_once:
        first = f"email 1 is due now ({preview.first_send:%Y-%m-%d %H:%M} UTC)"
    elif preview.first_send == preview.last_first_send:
        first = f"email 1 at {preview.first_send:%Y-%m-%d %H:%M} UTC"
    else:
        first = (
            f"email 1 between {preview.first_send:%Y-%m-%d %H:%M} and "
            f"{preview.last_first_send:%Y-%m-%d %H:%M} UTC (each subscriber's own time zone)"
        )
    later = f"later emails weekly on {WEEKDAY_NAMES[preview.weekday]} at {preview.hour:02d}:00 local time"
    return f"{first}; {later}"


def schedule(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    now: bool = typer.Option(False, "--now", help="Email 1 at once; later emails weekly from it."),
    start: str | None = typer.Option(None, "--start", help="First slot on or after this day (YYYY-MM-DD)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say who gets email 1 and when; change nothing."),
) -> None:
    """Schedule a campaign: enrol its list's active members; the scheduler queues each email at its
    slot and the worker sends it."""
    if now and start:
        fail("--now and --start are alternatives; give one")
    try:
        when = date.fromisoformat(start) if start else None
    except ValueError:
        fail(f"--start: {start!r} is not a date (YYYY-MM-DD)")
    ctx = context()
    try:
        begin: Start = ctx.clock.now() if now else when
        preview = schedule_preview(ctx, name, begin)
        if not dry_run:
            preview = replace(preview, recipients=schedule_campaign(ctx, name, begin))
    except CampaignError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    verb = "would schedule" if dry_run else "scheduled"
    enrolled = "would be enrolled" if dry_run else "enrolled"
    console.print(
        f"{verb} {preview.slug}: {preview.recipients} subscribers {enrolled}; {_describe(preview)}",
        highlight=False,
        soft_wrap=True,
    )
    if now and not dry_run and preview.recipients:
        console.print(
            "the scheduler queues it at its next tick and the worker sends it "
            "('wildmail run', or 'wildmail scheduler --once' then 'wildmail worker --until-idle')",
            highlight=False,
            soft_wrap=True,
        )


def pause(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """Stop new deliveries (queued ones wait until resume)."""
    _on_campaign(pause_campaign, name)
    console.print(f"paused {name}", highlight=False)


def resume(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """Continue where each subscriber was, at their next slot (no burst)."""
    moved = _on_campaign(resume_campaign, name)
    console.print(f"resumed {name}: {moved} missed sends moved to the next slot", highlight=False)


def status(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    show_all: bool = typer.Option(False, "--all", help="Every upcoming send time, not the first 5."),
) -> None:
    """How many are enrolled, at which position, deliveries by state, next sends, relay alerts."""

    def read(ctx: AppContext, slug: str) -> CampaignStatusReport:
        found = campaign_status(ctx, slug, None if show_all else 5)
        found.alerts += campaign_alerts(ctx, found.slug)  # refusals read later from bounces (inbound)
        return found

    report = _on_campaign(read, name)
    if as_json:
        data = dict(report.__dict__)
        data["next_sends"] = [[when.isoformat(), n] for when, n in report.next_sends]
        typer.echo(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{report.slug}[/]: {report.status}", highlight=False)
    if report.pause_reason:
        console.print(f"paused itself: {report.pause_reason}", highlight=False, soft_wrap=True, markup=False)
    for alert in report.alerts:
        console.print(f"[bold red]alert:[/] {alert}", highlight=False, soft_wrap=True)
    grid = Grid("", ["what", "value"], right={1})
    for state, n in sorted(report.enrolments.items()):
        grid.add(f"enrolments {state}", str(n))
    for pos, n in sorted(report.positions.items()):
        grid.add(f"next email {pos}", str(n))
    for state, n in sorted(report.deliveries.items()):
        grid.add(f"deliveries {state}", str(n))
    for when, n in report.next_sends:
        grid.add(f"next send {when:%Y-%m-%d %H:%M} UTC", str(n))
    print_grid(console, grid)
    if report.held:
        console.print(
            f"{report.held} subscribers wait for a free slot: another series mailed them within their"
            f" list's frequency cap ({report.cap_days} days); they get this series' next email at its"
            " first slot after that",
            highlight=False,
        )
    if report.more_sends:
        console.print(
            f"... and {report.more_sends} later send times for {report.more_people} subscribers"
            " (--all lists them)",
            highlight=False,
        )


def test_send(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    to: list[str] = typer.Option(..., "--to", help="Address to send the test to (repeat for more)."),
    position: int | None = typer.Option(None, "--position", min=1, help="Only this email."),
) -> None:
    """Send the campaign's emails to one or more addresses through the configured relay
    (DKIM-signed when a key is configured; links work, nothing is recorded)."""
    ctx = context(secret=True)
    try:
        sent = send_test(ctx, ctx.sender(), name, to, SmtpTransport.from_settings(ctx.settings), position)
    except (CampaignError, SettingsError) as exc:
        fail(str(exc))
    except ValueError as exc:  # bad address (header check)
        fail(f"--to: {exc}")
    except SendFailure as exc:
        fail(f"test send failed: {exc}", EXIT_FAILURE)
    finally:
        ctx.close()
    console.print(f"sent {sent} test message(s) to {', '.join(to)}", highlight=False)
