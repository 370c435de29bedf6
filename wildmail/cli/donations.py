"""``wildmail donations import FILE``: donations from a CSV export, matched to the emails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from donations.csv_import import COLUMNS, ImportFileError, import_donations
from donations.intake import Attribution
from wildmail.cli.common import EXIT_USAGE, console, context, err_console, fail

app = typer.Typer(help="Donations attributed to the emails that led to them.", no_args_is_help=True)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help=f"CSV with the columns {', '.join(COLUMNS)}.")],
    source: Annotated[
        str, typer.Option(help="Name of the platform the file comes from (ids are unique per source).")
    ] = "csv",
    encoding: Annotated[str, typer.Option(help="Text encoding of the file.")] = "utf-8",
) -> None:
    """Store the donations of FILE (each once: a rerun changes nothing) and match them to emails.

    Bad rows are reported by line and column and skipped; the exit code is then 2."""
    ctx = context(secret=True)
    try:
        result = import_donations(
            ctx.engine,
            file,
            Attribution.from_settings(ctx.settings),
            ctx.clock.now(),
            source=source.strip().lower(),
            encoding=encoding,
        )
    except ImportFileError as exc:
        fail(str(exc))
    except LookupError:
        fail(f"unknown encoding {encoding!r}")
    finally:
        ctx.close()
    for error in result.errors:
        err_console.print(f"{file}: {error}", highlight=False, soft_wrap=True, markup=False)
    unmatched = result.matches.pop("unmatched", 0)
    how = [f"{n} matched by {method}" for method, n in sorted(result.matches.items())]
    how += [f"{unmatched} unmatched"] if unmatched else []
    detail = f" ({', '.join(how)})" if how else ""
    console.print(
        f"{result.rows} rows: {result.created} donations stored{detail},"
        f" {result.existing} already known, {len(result.errors)} refused",
        highlight=False,
        soft_wrap=True,
    )
    if result.errors:
        raise typer.Exit(EXIT_USAGE)
