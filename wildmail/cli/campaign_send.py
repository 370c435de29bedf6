"""Campaign commands that need delivery: schedule, pause, resume, status, test-send (delivery issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the delivery-backed campaign commands to ``wildmail campaign``."""
