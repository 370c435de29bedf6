"""Helpers shared by every CLI command: context loading, errors, exit codes.

Exit codes scripts can rely on: 0 success, 1 operational failure (e.g. SMTP down),
2 user error (bad input, bad setting, unknown name).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from wildmail.core.settings import SettingsError, load_settings
from wildmail.runtime.context import AppContext
from wildmail.runtime.startup import DatabaseUnavailable, SchemaOutOfDate, open_context

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def context(*, schema: bool = True, secret: bool = False) -> AppContext:
    """Load settings and open the database, turning setup errors into one-line messages.

    ``secret=True`` for commands that sign or check links: a missing or weak ``secret_key`` is
    refused before anything starts.
    """
    try:
        settings = load_settings()
        if secret:
            _ = settings.secret
        return open_context(settings, schema=schema)
    except SettingsError as exc:
        fail(str(exc))
    except (SchemaOutOfDate, DatabaseUnavailable) as exc:
        fail(str(exc), EXIT_FAILURE)
