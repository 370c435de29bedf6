"""Opening an application context: settings loaded, engine made, schema checked."""

from __future__ import annotations

from sqlalchemy import Engine

from wildmail.core.clock import Clock, SystemClock
from wildmail.core.context import AppContext
from wildmail.core.db import is_sqlite, make_engine
from wildmail.core.settings import Settings, load_settings
from wildmail.runtime import migrate


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


def open_context(
    settings: Settings | None = None, clock: Clock | None = None, *, schema: bool = True
) -> AppContext:
    """Build a context from settings (loaded from file/env when not given)."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    if schema:
        ensure_schema(engine)
    return AppContext(settings=settings, engine=engine, clock=clock or SystemClock())
