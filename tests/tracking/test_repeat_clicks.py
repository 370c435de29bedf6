"""Replayed clicks: one person clicking one link again and again within a short window counts once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from stats.definitions import REPEAT_WINDOW
from tests.tracking.conftest import BROWSER_UA, flush
from wildmail.cli import app

UA = {"User-Agent": BROWSER_UA}
FIGURES = ("human_clickers", "donors", "donation_clicks", "clicks_human", "clicks_raw", "donation_clicks_raw")


def _stats(*extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["stats", "leopards", "--json", *extra])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _figures(report: dict[str, Any]) -> dict[str, int]:
    [link] = [x for x in report["top_links"] if x["kind"] == "donation"]
    clicks = sum(b["clicks"] for b in report["hourly"])
    donations = sum(b["donations"] for b in report["hourly"])
    return {
        **{name: report["total"][name] for name in FIGURES},
        "link_human": link["human_clicks"],
        "link_all": link["all_clicks"],
        "timeline_clicks": clicks,
        "timeline_donations": donations,
    }


def _counted(n: int) -> dict[str, int]:
    """What ``n`` counted donation clicks by one person show in every figure."""
    return {
        "human_clickers": 1,
        "donors": 1,
        **{k: n for k in ("donation_clicks", "clicks_human", "clicks_raw", "donation_clicks_raw")},
        **{k: n for k in ("link_human", "link_all", "timeline_clicks", "timeline_donations")},
    }


@pytest.mark.postgres
def test_a_replayed_click_counts_once_until_the_window_has_passed(
    client, world, clock, db_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    path = world.click_path("donation")
    for _ in range(1000):
        assert client.get(path, headers=UA, follow_redirects=False).status_code == 302
        clock.advance(seconds=0.1)
    flush(client)
    assert len(world.events(kind="click")) == 1000  # the log keeps every hit; the figures fold repeats
    assert _figures(_stats()) == _counted(1)

    clock.advance(seconds=REPEAT_WINDOW.total_seconds() / 2)  # within the window of the last replay
    client.get(path, headers=UA, follow_redirects=False)
    flush(client)
    assert _figures(_stats()) == _counted(1)

    clock.advance(seconds=REPEAT_WINDOW.total_seconds() + 1)  # the window has passed: a new click
    client.get(path, headers=UA, follow_redirects=False)
    client.get(world.click_path("donation", 1), headers=UA, follow_redirects=False)  # another person
    flush(client)
    figures = _figures(_stats())
    assert figures == {**_counted(3), "human_clickers": 2, "donors": 2}
    assert _figures(_stats("--rebuild")) == figures  # folding from scratch gives the same figures
