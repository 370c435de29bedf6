"""``wildmail users``: dashboard accounts (filled by the dashboard issue)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Dashboard accounts: add, list, remove.", no_args_is_help=True)
