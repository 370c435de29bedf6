"""The application context: settings, engine and clock, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from wildmail import migrate
from wildmail.clock import Clock, SystemClock
from wildmail.db import is_sqlite, make_engine, session_factory
from wildmail.settings import Settings, load_settings


class SchemaOutOfDate(RuntimeError):
    """The database needs ``wildmail db upgrade`` first."""


@dataclass
class AppContext:
    """What every command, worker and web request needs."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    _sessions: sessionmaker[Session] | None = None

    def session(self) -> Session:
        """A new ORM session (use as a context manager)."""
        if self._sessions is None:
            self._sessions = session_factory(self.engine)
        return self._sessions()

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()


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
