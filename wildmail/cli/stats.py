"""``wildmail stats`` (filled by the stats issue)."""

from __future__ import annotations

from wildmail.cli.common import fail


def stats() -> None:
    """Engagement figures per campaign and email (not built yet: see the stats issue)."""
    fail("stats are not built yet (stats issue)", 1)
