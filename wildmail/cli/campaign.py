"""``wildmail campaign``: split, create, preview, schedule (filled by the campaigns issue)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Campaigns: split an article, create, preview, test-send, schedule, pause, resume.",
    no_args_is_help=True,
)
