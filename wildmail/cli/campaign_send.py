"""The sending commands of ``wildmail campaign``: schedule, pause, resume, status, test-send.

:mod:`wildmail.cli.campaign` adds them to its group.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.table import Table

from delivery.lifecycle import (
    CampaignError,
    campaign_status,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
)
from delivery.lifecycle import test_send as send_test
from delivery.smtp_transport import SmtpTransport
from delivery.transport import SendFailure
from wildmail.cli.common import EXIT_FAILURE, console, context, fail
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


def schedule(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """Schedule a campaign: enrol its list's active members; the tick sends at each slot."""
    enrolled = _on_campaign(schedule_campaign, name)
    console.print(f"scheduled {name}: {enrolled} subscribers enrolled", highlight=False)


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
) -> None:
    """How many are enrolled, at which position, deliveries by state, next sends."""
    report = _on_campaign(campaign_status, name)
    if as_json:
        data = dict(report.__dict__)
        data["next_sends"] = [[when.isoformat(), n] for when, n in report.next_sends]
        typer.echo(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{report.slug}[/]: {report.status}", highlight=False)
    if report.pause_reason:
        console.print(f"paused itself: {report.pause_reason}", highlight=False, soft_wrap=True, markup=False)
    table = Table("what", "value")
    for state, n in sorted(report.enrolments.items()):
        table.add_row(f"enrolments {state}", str(n))
    for pos, n in sorted(report.positions.items()):
        table.add_row(f"next email {pos}", str(n))
    for state, n in sorted(report.deliveries.items()):
        table.add_row(f"deliveries {state}", str(n))
    for when, n in report.next_sends:
        table.add_row(f"next send {when:%Y-%m-%d %H:%M} UTC", str(n))
    console.print(table)


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
