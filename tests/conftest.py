"""Shared fixtures: real SQLite file per test, real PostgreSQL per run, real SMTP server, web client, clock.

Tests marked ``@pytest.mark.postgres`` run once per backend: SQLite always, PostgreSQL when
``WILDMAIL_TEST_POSTGRES_URL`` is set. ``@pytest.mark.postgres_only`` tests check a PostgreSQL
property and run only there.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from wildmail.core.clock import FakeClock
from wildmail.core.db import make_engine
from wildmail.core.settings import Settings
from wildmail.runtime import migrate
from wildmail.runtime.context import AppContext
from wildmail.runtime.models import Base
from wildmail.runtime.smtp_sink import RecordingSMTPServer
from wildmail.runtime.startup import wire_hooks

PG_URL = os.environ.get("WILDMAIL_TEST_POSTGRES_URL", "")
REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "tests" / "corpus" / "amur-leopard.txt"  # plain text, written for the tests


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres_only"):
            backends = ["postgres"]  # without PG_URL, pg_database skips naming the variable
        elif metafunc.definition.get_closest_marker("postgres") and PG_URL:
            backends.append("postgres")
        metafunc.parametrize("backend", backends)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database created for this test run (per xdist worker), dropped at the end."""
    if not PG_URL:
        pytest.skip("WILDMAIL_TEST_POSTGRES_URL not set")
    name = f"wm_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT", no_pool=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, no_pool=True)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def backend() -> str:
    """Overridden by parametrisation; plain tests use SQLite."""
    return "sqlite"


@pytest.fixture
def db_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated database for this test."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_database")
        engine = make_engine(url, no_pool=True)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield url
        return
    target = tmp_path / "wildmail.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
    yield f"sqlite:///{target}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run (per xdist worker); each test gets a copy.

    Running the migrations for every test cost about 0.2 s each; tests/wildmail/test_schema.py
    still runs them from an empty database."""
    path = tmp_path_factory.mktemp("template") / "wildmail.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    assert (
        not path.with_name(path.name + "-wal").exists()
        or path.with_name(path.name + "-wal").stat().st_size == 0
    )
    return path


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that starts on Monday 2026-01-05 08:00 UTC and moves only when told."""
    return FakeClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        base_url="http://testserver",
        secret_key="test-secret-key-not-for-production",
        sender_address="news@wildmail.test",
        sender_name="Wildlife Fund",
        postal_address="1 Test Lane, 00000 Testville",
    )


@pytest.fixture
def ctx(settings: Settings, engine: Engine, clock: FakeClock) -> AppContext:
    """An application context on the per-test database with the fake clock, wired as
    :func:`wildmail.runtime.startup.open_context` wires every process."""
    wire_hooks()
    return AppContext(settings=settings, engine=engine, clock=clock)


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """A real SMTP server on a free loopback port; inject faults with fail/delay/drop."""
    server = RecordingSMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    """Real HTTP through the ASGI app (startup and shutdown hooks run)."""
    from wildmail.web.app import create_app

    with TestClient(create_app(ctx), base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="session")
def seed_article() -> Path:
    """A plain-text article shaped like the charity's seed (short heading lines, one with a
    leading space, no title line), kept in the repository so nothing skips in a bare clone."""
    return SEED


@pytest.fixture
def listening(engine: Engine, clock: FakeClock) -> int:
    """An enabled endpoint that wants every event type, so the outbox stores every event (an event
    no endpoint wants is not stored); for tests that read the stored events themselves."""
    from webhooks.endpoints import add_endpoint
    from wildmail.core.db import write_transaction

    with write_transaction(engine) as s:
        return add_endpoint(s, "http://127.0.0.1:9/events", "*", clock.now(), allow_private=True).id
