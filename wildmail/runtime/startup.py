"""Opening an application context: settings loaded, engine made, schema checked, hooks wired.

This is the composition root of every process (CLI commands, the web server, workers): the one
place where packages that must not import each other are connected.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError

from campaigns.enrolment import enrol_on_activation
from subscribers import events
from webhooks import endpoints
from wildmail.core import outbox
from wildmail.core.clock import Clock, SystemClock
from wildmail.core.db import is_sqlite, make_engine
from wildmail.core.redaction import mask_url
from wildmail.core.settings import Settings, SettingsError, load_settings, setting_source
from wildmail.runtime import migrate
from wildmail.runtime.context import AppContext


class SchemaOutOfDate(RuntimeError):
    """The database needs ``wildmail db upgrade`` first."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened (an operational failure; the message is one line)."""


def database_problem(url: str, exc: BaseException) -> str:
    """One line for a database that cannot be opened: the setting, the masked URL, the driver's reason."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    first = lines[0] if lines else type(reason).__name__
    hint = (
        "check that its folder exists and is writable"
        if url.startswith("sqlite")
        else "is the server running and the database created?"
    )
    return f"cannot open the database {mask_url(url)} ({setting_source('database_url')}): {first}; {hint}"


def startup_problem(exc: BaseException) -> tuple[str, int] | None:
    """One line and an exit code for a setting or database problem, wherever a command met it
    (2: a mistake in the settings; 1: the database is unreachable or out of date); None otherwise."""
    if isinstance(exc, SettingsError):
        return str(exc), 2
    if isinstance(exc, (DatabaseUnavailable, SchemaOutOfDate)):
        return str(exc), 1
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_problem(load_settings().database_url, exc), 1
    return None


def _engine(settings: Settings) -> Engine:
    """The engine for ``database_url``; a URL SQLAlchemy cannot use is a one-line SettingsError."""
    try:
        return make_engine(settings.database_url)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        shown = mask_url(settings.database_url)
        raise SettingsError(
            f"{setting_source('database_url')}: cannot use {shown!r} ({str(exc).splitlines()[0]});"
            " expected sqlite:///path.db or postgresql+psycopg://user@host/db"
        ) from None


def ensure_schema(engine: Engine) -> None:
    """Upgrade a SQLite database automatically; ask for ``db upgrade`` on PostgreSQL."""
    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    if current == head:
        return
    if is_sqlite(engine):
        migrate.upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"database schema is at {current or 'nothing'}, expected {head}: run 'wildmail db upgrade'"
    )


def wire_hooks() -> None:
    """Connect the packages: a subscriber who becomes active is enrolled in their list's running
    and scheduled campaigns at once; the outbox stores only the events a webhook endpoint wants
    (idempotent)."""
    events.on_activated(enrol_on_activation)
    outbox.on_wanted(endpoints.wanted)


def open_context(
    settings: Settings | None = None, clock: Clock | None = None, *, schema: bool = True
) -> AppContext:
    """Build a context from settings (loaded from file/env when not given), with the hooks wired."""
    wire_hooks()
    settings = settings or load_settings()
    engine = _engine(settings)
    try:
        with engine.connect():
            pass
        if schema:
            ensure_schema(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailable(database_problem(settings.database_url, exc)) from None
    return AppContext(settings=settings, engine=engine, clock=clock or SystemClock())
