"""What several benchmarks share: run a measurement on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from wildmail.core.db import make_engine

Measure = Callable[[str, str], dict[str, object]]


def on_every_database(measure: Measure, name: str, small: bool, results: Path) -> None:
    """``measure(kind, url)`` on a temporary SQLite file and, when ``WILDMAIL_TEST_POSTGRES_URL`` is
    set, on a fresh PostgreSQL database (dropped afterwards); the figures go to ``results``."""
    out: dict[str, object] = {"small": small}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure("sqlite", f"sqlite:///{tmp}/bench.db")
    pg_url = os.environ.get("WILDMAIL_TEST_POSTGRES_URL", "")
    if pg_url:
        admin = make_engine(pg_url, isolation_level="AUTOCOMMIT", no_pool=True)
        db = f"wm_bench_{name}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{db}"'))
        try:
            out["postgresql"] = measure(
                "postgresql", make_url(pg_url).set(database=db).render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            admin.dispose()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(out, indent=2) + "\n")
