"""`wildmail demo` end to end at a small size: its figures are exactly what `wildmail stats` computes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    proc = _run("demo", "--subscribers", "80", "--seed", "11", "--out", str(out), cwd=out)
    return out, proc


def test_demo_prints_table_and_report(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "per-email figures" in proc.stdout
    assert (out / "report.html").read_text().count("<svg") >= 2
    assert "Traceback" not in proc.stderr


def test_demo_figures_equal_wildmail_stats(demo_run) -> None:  # type: ignore[no-untyped-def]
    import os

    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = {
        **os.environ,
        "WILDMAIL_DATABASE_URL": f"sqlite:///{out / 'wildmail-demo.db'}",
        "WILDMAIL_CONFIG": "/dev/null",
    }
    stats = _run("stats", "amur-leopard", "--json", env=env, cwd=out)
    assert stats.returncode == 0, stats.stderr
    from_cli = json.loads(stats.stdout)
    from_demo = json.loads((out / "figures.json").read_text())
    assert _without_time(from_cli) == _without_time(from_demo)


def test_demo_figures_look_like_a_real_campaign(demo_run) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_run
    figures = json.loads((out / "figures.json").read_text())
    total = figures["total"]
    assert len(figures["emails"]) == 6  # the sample article is a six-email series
    assert total["bounced"] >= 1  # the SMTP server refuses a few addresses
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
