"""``wildmail demo``: for now, initialise a database and show the split of the sample article."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.table import Table

from wildmail import migrate
from wildmail.cli.common import console
from wildmail.db import make_engine


def demo() -> None:
    """Run the end-to-end demonstration."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        migrate.upgrade(engine)
        console.print(f"database initialised at revision {migrate.current_revision(engine)}")
        engine.dispose()
    table = Table(title="wildmail demo (foundation only)")
    table.add_column("step")
    table.add_column("state")
    table.add_row("database + migrations", "ok")
    console.print(table)
