"""Every terminal table fits 80 columns (one block per row when the full table would not) and
shows the full table at 160 when it fits; nothing is cut to an ellipsis in either layout."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from delivery.lifecycle import schedule_campaign
from stats.report import campaign_report
from tests.delivery.factories import add_subscribers, make_campaign
from tests.stats import scenario as sc
from wildmail.cli import app
from wildmail.cli.common import console
from wildmail.cli.demo import figures_grid
from wildmail.cli.stats import campaign_grid
from wildmail.cli.tables import full_table, natural_width

ARTICLE = (
    "---\ntitle: The Amur leopard and the forests it needs to survive\n---\n"
    "The rarest big cat lives in a narrow strip of forest between Russia and China. "
    * 3
    + "\n\n# Counting cats in the snow with camera traps and patience\n\n"
    + "Rangers walk transects every winter and read the tracks left overnight. " * 4
    + "\n\n# What a donation pays for along the border\n\n"
    + "Anti-poaching patrols, fire breaks and compensation for lost livestock. " * 4
    + "\n"
)


@pytest.fixture
def cli(settings, monkeypatch):
    for key, value in {
        "WILDMAIL_DATABASE_URL": settings.database_url,
        "WILDMAIL_SECRET_KEY": settings.secret_key,
        "WILDMAIL_CONFIG": "/dev/null",
    }.items():
        monkeypatch.setenv(key, value)
    saved = console.width

    def run(width: int, *args: str) -> str:
        console.width = width
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    yield run
    console.width = saved


def assert_fits(text: str, width: int, what: object = "") -> None:
    lines = text.splitlines()
    assert lines, "nothing printed"
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, f"{what}: {len(too_long)} lines wider than {width}: {too_long[:3]}"


COMMANDS = [
    ("stats",),
    ("stats", "leopard"),
    ("campaign", "list"),
    ("campaign", "show", "amur"),
    ("campaign", "status", "status-demo"),
    ("subscribers", "lists"),
]


@pytest.mark.parametrize("width", [80, 160])
def test_every_table_fits_the_terminal(cli, engine, ctx, tmp_path, width, monkeypatch) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    article = tmp_path / "amur.md"
    article.write_text(ARTICLE)
    assert cli(width, "campaign", "create", str(article), "--name", "amur")
    make_campaign(ctx, slug="status-demo", list_slug="main")
    add_subscribers(ctx, [(f"r{i}@example.org", "R", zone) for i, zone in enumerate(["Asia/Tokyo", None])])
    schedule_campaign(ctx, "status-demo")
    outputs = {args: cli(width, *args) for args in COMMANDS}
    monkeypatch.chdir(tmp_path)  # split names the file it read: a short relative path
    outputs[("campaign", "split")] = cli(width, "campaign", "split", "amur.md")
    for args, text in outputs.items():
        assert_fits(text, width, args)
    figures = outputs[("stats", "leopard")]
    for label in ("Human opens", "Machine opens", "Donation CTR", "All emails", "60.0%"):
        assert label in figures
    wide = natural_width(full_table(campaign_grid(campaign_report(engine, "leopard"))))
    if wide <= width:  # the full table: one header line holding every column
        assert any("Delivered" in line and "Unsubs" in line for line in figures.splitlines())
    else:  # one block per email, every figure labelled
        assert sum(line.strip().startswith("Sent") for line in figures.splitlines()) == 4
    for args in (("campaign", "split"), ("campaign", "show", "amur")):
        flat = " ".join(outputs[args].split())
        assert "Counting cats in the snow with camera traps and patience" in flat, args
    assert "next send 2026-01-05" in outputs[("campaign", "status", "status-demo")]


@pytest.mark.parametrize("width", [80, 160])
def test_the_demo_figures_table_fits(engine, width) -> None:
    from rich.console import Console

    with Session(engine) as s:
        sc.build_leopard(s)
    out = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    grid = figures_grid(campaign_report(engine, "leopard"))
    from wildmail.cli.tables import print_grid

    print_grid(out, grid)
    text = out.export_text()
    assert_fits(text, width)
    for label in ("delivered", "machine", "unsub", "total"):
        assert label in text
    if width == 160:
        assert natural_width(full_table(grid)) <= 160
        assert any("delivered" in line and "unsub" in line for line in text.splitlines())
