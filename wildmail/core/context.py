"""The application context: settings, engine and clock, built once per process by the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from wildmail.core.clock import Clock, SystemClock
from wildmail.core.db import session_factory
from wildmail.core.settings import Settings


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
