"""The database handle the domain is given: an engine, its sessions and the clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from wildmail.core.clock import Clock, SystemClock
from wildmail.core.db import session_factory, write_transaction


@dataclass
class Store:
    """Where the domain reads and writes, and what time it is; configuration is passed separately."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    _sessions: sessionmaker[Session] | None = field(default=None, repr=False)

    def session(self) -> Session:
        """A new ORM session (use as a context manager)."""
        if self._sessions is None:
            self._sessions = session_factory(self.engine)
        return self._sessions()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction (:func:`write_transaction`): on SQLite it holds the
        writer lock from the start, so a read-then-write never fails with "database is locked"
        while another process writes."""
        with write_transaction(self.engine) as session:
            yield session

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()
