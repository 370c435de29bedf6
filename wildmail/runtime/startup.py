"""Opening an application context: settings loaded, engine made, schema checked, hooks wired.

This is the composition root of every process (CLI commands, the web server, workers): the one
place where packages that must not import each other are connected.
"""

from __future__ import annotations

from sqlalchemy import Engine

from campaigns.enrolment import enrol_on_activation
from subscribers import events
from wildmail.core.clock import Clock, SystemClock
from wildmail.core.db import is_sqlite, make_engine
from wildmail.core.settings import Settings, load_settings
from wildmail.runtime import migrate
from wildmail.runtime.context import AppContext


class SchemaOutOfDate(RuntimeError):
    """The database needs ``wildmail db upgrade`` first."""


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
    and scheduled campaigns at once (idempotent)."""
    events.on_activated(enrol_on_activation)


def open_context(
    settings: Settings | None = None, clock: Clock | None = None, *, schema: bool = True
) -> AppContext:
    """Build a context from settings (loaded from file/env when not given), with the hooks wired."""
    wire_hooks()
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    if schema:
        ensure_schema(engine)
    return AppContext(settings=settings, engine=engine, clock=clock or SystemClock())
