"""`wildmail demo` end to end at a small size: its figures are exactly what `wildmail stats` computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wildmail.cli.demo import FIGURE_COLUMNS

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wildmail.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=240,
        check=False,
    )


def _without_time(figures: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in figures.items() if k != "generated_at"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "COLUMNS": "200"}  # the whole table on one line per email, to read it back
    proc = _run("demo", "--subscribers", "80", "--seed", "11", "--out", str(out), env=env, cwd=out)
    return out, proc


def test_demo_prints_table_and_report(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "per-email figures" in proc.stdout
    assert (out / "report.html").read_text().count("<svg") >= 2
    assert "Traceback" not in proc.stderr


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _expected_row(f: dict) -> list[str]:  # type: ignore[type-arg]
    """What the demo's table must print for one funnel of ``wildmail stats --json``."""
    return [
        str(f["delivered"]),
        str(f["bounced"]),
        str(f["soft_bounces"]),
        str(f["complaints"]),
        str(f["human_openers"]),
        str(f["machine_openers"]),
        _pct(f["open_rate"]),
        str(f["human_clickers"]),
        _pct(f["ctr"]),
        str(f["donation_clicks"]),
        str(f["clicks_raw"] - f["clicks_human"]),
        str(f["unsubscribes"]),
    ]


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """The demo's printed table, row label -> the figures (the last columns of the line)."""
    rows = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) > len(FIGURE_COLUMNS) and (words[0].isdigit() or words[0] == "all"):
            rows[words[0]] = words[-len(FIGURE_COLUMNS) :]
    return rows


def test_demo_table_equals_wildmail_stats_run_separately(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = {**os.environ, "WILDMAIL_DATABASE_URL": f"sqlite:///{out / 'wildmail-demo.db'}"}
    env.pop("WILDMAIL_CONFIG", None)
    stats = _run("stats", "amur-leopard", "--json", env=env, cwd=out)
    assert stats.returncode == 0, stats.stderr
    from_cli = json.loads(stats.stdout)
    expected = {str(f["position"]): _expected_row(f) for f in from_cli["emails"]}
    expected["all"] = _expected_row(from_cli["total"])
    printed = {label: row for label, row in _table_rows(proc.stdout).items() if label in expected}
    assert printed == expected
    assert _without_time(json.loads((out / "figures.json").read_text())) == _without_time(from_cli)


def test_demo_figures_look_like_a_real_campaign(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_run
    figures = json.loads((out / "figures.json").read_text())
    total = figures["total"]
    assert len(figures["emails"]) == 6  # the sample article is a six-email series
    assert total["bounced"] >= 2  # the SMTP server refuses a few addresses, DSNs close a few more
    assert total["soft_bounces"] >= 1  # mailboxes always full answer with late DSNs
    assert total["complaints"] >= 1  # a few readers press "report spam"
    assert total["machine_openers"] > 0  # Apple privacy-proxy fetches are counted apart
    assert total["clicks_raw"] > total["clicks_human"]  # scanner clicks are kept apart
    assert 0.1 <= total["open_rate"] <= 0.4
    assert total["human_clickers"] > 0


def test_same_seed_gives_same_figures(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_run
    again = _run("demo", "--subscribers", "80", "--seed", "11", "--out", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    first = json.loads((out / "figures.json").read_text())
    second = json.loads((tmp_path / "figures.json").read_text())
    # The honeypot's URL holds the web server's loopback port, which differs per run; figures must not.
    for figures in (first, second):
        for link in figures["top_links"]:
            link.pop("url")
    assert _without_time(first) == _without_time(second)


def test_demo_donors_give_and_the_amounts_are_printed(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, proc = demo_run
    total = json.loads((out / "figures.json").read_text())["total"]
    assert total["donations"] >= 1 and total["raised"]  # some donors gave, through the webhook over HTTP
    assert set(total["raised"]) <= {"GBP", "EUR"} and 0 < total["donation_conversion"] <= 1
    raised = ", ".join(f"{amount / 100:.2f} {code}" for code, amount in sorted(total["raised"].items()))
    assert f"total: {total['donations']} donation" in proc.stdout and f"{raised} raised" in proc.stdout
    assert f"{total['donations']} donation requests over HTTP" in " ".join(proc.stdout.split())
