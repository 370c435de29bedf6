"""``wildmail campaign``: split, create, preview, schedule (filled by the campaigns issue)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Campaigns: split an article, create, preview, test-send, schedule, pause, resume.",
    no_args_is_help=True,
)


def _register_delivery_commands() -> None:
    from wildmail.cli import campaign_send

    campaign_send.register(app)


_register_delivery_commands()
