"""Every SQLite connection gets wildmail's settings; the event writer a larger page cache."""

from __future__ import annotations

from sqlalchemy import text

from wildmail.core.db import SQLITE_WAL_CHECKPOINT_PAGES, make_engine, set_sqlite_cache


def test_connections_use_wal_with_a_larger_checkpoint_interval(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SQLITE_WAL_CHECKPOINT_PAGES
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        default_cache = conn.execute(text("PRAGMA cache_size")).scalar()
    engine.dispose()

    writer = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    set_sqlite_cache(writer, 64 * 1024)
    with writer.connect() as conn:
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -64 * 1024 != default_cache
    writer.dispose()
