"""``wildmail subscribers``: lists, import/export, consent (filled by the subscribers issue)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Subscribers: add, import, export, show, forget.", no_args_is_help=True)
