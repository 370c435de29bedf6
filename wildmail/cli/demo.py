"""``wildmail demo``: the whole mission end to end, in under a minute, with simulated readers."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from optimise.figures import subject_test_lines
from stats.figures import CampaignReport, Funnel
from wildmail.cli.common import console, fail
from wildmail.cli.stats import donation_line
from wildmail.cli.tables import Grid, print_grid


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


FIGURE_COLUMNS = (
    "delivered",
    "bounced",
    "soft",
    "complaints",
    "opens",
    "machine",
    "open %",
    "clickers",
    "CTR",
    "donate",
    "bots",
    "unsub",
)
"""The figure columns of the demo's table, after ``#`` and ``subject``."""


def _program() -> str:
    """How to call wildmail again from this shell: ``wildmail`` when that is on the PATH, else the
    path this run was started with (``make demo`` runs ``.venv/bin/wildmail``)."""
    invoked = sys.argv[0]
    if os.path.basename(invoked) != "wildmail":
        return "wildmail"
    found = shutil.which("wildmail")
    if found is not None and os.path.exists(invoked) and os.path.samefile(found, invoked):
        return "wildmail"
    return invoked


def figures_grid(report: CampaignReport) -> Grid:
    """Per-email figures of a campaign, the same numbers ``wildmail stats`` prints."""
    grid = Grid(
        f"{report.title}: per-email figures",
        ["#", "subject", *FIGURE_COLUMNS],
        key=2,
        right={0, *range(2, 2 + len(FIGURE_COLUMNS))},
        caption="opens: people who opened (human); machine: Apple privacy-proxy fetches; "
        "clickers: people who clicked; bots: scanner/prefetch clicks kept apart",
    )

    def row(f: Funnel, label: str, subject: str) -> list[str]:
        return [
            label,
            subject,
            str(f.delivered),
            str(f.bounced),
            str(f.soft_bounces),
            str(f.complaints),
            str(f.human_openers),
            str(f.machine_openers),
            _pct(f.open_rate),
            str(f.human_clickers),
            _pct(f.ctr),
            str(f.donation_clicks),
            str(f.clicks_raw - f.clicks_human),
            str(f.unsubscribes),
        ]

    for f in report.emails:
        grid.add(*row(f, str(f.position), f.subject))
    grid.total_from = len(grid.rows)
    grid.add(*row(report.total, "all", "total"))
    return grid


def donation_lines(report: CampaignReport) -> list[str]:
    """What the simulated donors gave, per email and in total (the same figures as ``wildmail stats``)."""
    if not report.total.donations:
        return ["donations: none attributed"]
    lines = [donation_line(f"email {f.position}", f) for f in report.emails if f.donations]
    return [*lines, donation_line("total", report.total)]


def demo(
    subscribers: Annotated[
        int, typer.Option(min=10, max=100_000, help="How many simulated subscribers.")
    ] = 500,
    weeks: Annotated[
        int | None, typer.Option(min=1, max=52, help="Simulated weeks (default: series + 1).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same figures.")] = 2026,
    out: Annotated[Path, typer.Option(help="Folder for the database, report and figures.")] = Path(
        "demo-output"
    ),
    serve: Annotated[bool, typer.Option("--serve", help="Keep the dashboard running afterwards.")] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """Simulate a whole campaign: subscribers, weekly sends over SMTP, real opens and clicks, figures."""
    from wildmail.demo.runner import DemoConfig, run_demo

    started = time.monotonic()
    console.print(
        "[bold]wildmail demo[/]: the sample campaign for "
        f"{subscribers} simulated subscribers in 8 time zones, on a simulated clock"
    )
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("simulating weeks", total=1.0)
        result = run_demo(
            DemoConfig(subscribers=subscribers, weeks=weeks, seed=seed, out=out),
            lambda done, note: bar.update(task, completed=done, description=f"simulating: {note}"),
        )
    print_grid(console, figures_grid(result.report))
    for test in result.tuning.tests:
        for line in subject_test_lines(test):
            console.print(line, highlight=False, soft_wrap=True)
    for line in donation_lines(result.report):
        console.print(line, highlight=False, soft_wrap=True)
    reqs = ", ".join(f"{v} {k}" for k, v in result.requests.items())
    console.print(
        f"{result.messages} messages through SMTP; simulated readers made {reqs} requests over HTTP"
    )
    console.print(f"HTML report with charts: [bold]{result.html_report.resolve()}[/]")
    console.print(f"figures as JSON:         {result.figures_json.resolve()}")
    console.print(
        f"the same figures:        WILDMAIL_DATABASE_URL={result.database_url}"
        f" {_program()} stats amur-leopard"
    )
    console.print(f"finished in {time.monotonic() - started:.1f} s")
    if serve:
        _serve(result.database_url, port)


def _serve(database_url: str, port: int) -> None:
    from wildmail.core.settings import Settings
    from wildmail.runtime.startup import open_context
    from wildmail.runtime.users import add_user
    from wildmail.web.app import create_app
    from wildmail.web.serving import ServerThread

    settings = Settings(
        database_url=database_url, base_url=f"http://127.0.0.1:{port}", secret_key=secrets.token_urlsafe(32)
    )
    ctx = open_context(settings)
    password = secrets.token_urlsafe(12)
    with ctx.session() as s:
        add_user(s, "admin@demo.example", "admin", password, ctx.clock.now())
        s.commit()
    try:
        server = ServerThread(create_app(ctx), port=port).start()
    except RuntimeError as exc:
        fail(f"{exc} (is the port in use? try --port)", 1)
    console.print(
        f"dashboard: [bold]{server.url}/dashboard[/]  login: admin@demo.example / {password}  (Ctrl-C stops)"
    )
    try:
        while server.thread.is_alive():
            server.thread.join(0.5)
    except KeyboardInterrupt:
        server.stop()
