"""``wildmail db``: schema migrations."""

from __future__ import annotations

import typer

from wildmail.cli.common import console, context
from wildmail.runtime import migrate

app = typer.Typer(help="Database schema: upgrade, downgrade, current revision.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: newest)."""
    ctx = context(schema=False)
    migrate.upgrade(ctx.engine, revision)
    console.print(f"database at revision {migrate.current_revision(ctx.engine)}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, or 'base' to drop everything."),
) -> None:
    """Revert migrations down to REVISION."""
    ctx = context(schema=False)
    migrate.downgrade(ctx.engine, revision)
    console.print(f"database at revision {migrate.current_revision(ctx.engine) or 'base'}")


@app.command()
def current() -> None:
    """Show the database's revision and the newest one available."""
    ctx = context(schema=False)
    current_rev = migrate.current_revision(ctx.engine) or "base"
    console.print(f"current: {current_rev}  head: {migrate.head_revision(ctx.engine)}")
