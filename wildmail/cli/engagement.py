"""``wildmail engagement``: send-time optimisation per campaign, sunset policy per list, figures."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stats.engagement import UnknownCampaign, campaign_engagement, sunset_policy
from tracking import sendtime, sunset
from wildmail.cli.common import console, context, fail
from wildmail.cli.tables import Grid, print_grid

app = typer.Typer(help="Send-time optimisation and sunset of silent readers.", no_args_is_help=True)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


@app.command("send-time")
def send_time_switch(
    campaign: str,
    on: Annotated[bool, typer.Option("--on/--off", help="Switch send-time optimisation on or off.")],
    window: Annotated[
        str, typer.Option(help="Local hours a slot may move within, START-END (default 7-20).")
    ] = "",
) -> None:
    """Move each reader's weekly slot to the hour they read at, for a random half (A/B)."""
    ctx = context()
    try:
        c = sendtime.switch(ctx, campaign, enabled=on, window=window or None)
    except sendtime.StoError as exc:
        fail(str(exc))
    state = "on for half of the readers" if c.sto_enabled else "off"
    window_text = f"{c.sto_window_start:02d}:00-{c.sto_window_end:02d}:00"
    console.print(
        f"send-time optimisation {state} for {c.slug} (window {window_text})", highlight=False, soft_wrap=True
    )


@app.command("sunset")
def sunset_policy_cmd(
    list_slug: Annotated[str, typer.Argument(metavar="LIST")],
    after: Annotated[
        int | None, typer.Option(help="Silent emails in a row before asking (default 8; 0 switches it off).")
    ] = None,
    wait_days: Annotated[int | None, typer.Option(help="Days to answer before going inactive.")] = None,
    unknown: Annotated[
        bool | None,
        typer.Option("--unknown/--no-unknown", help="Also sunset readers seen only by machine opens."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Switch the policy off.")] = False,
) -> None:
    """Set a list's sunset policy (shown by ``wildmail subscribers lists``)."""
    ctx = context()
    if off:
        after = 0
    elif after is None and wait_days is None and unknown is None:
        after = 8
    try:
        lst = sunset.configure_list(ctx, list_slug, after=after, wait_days=wait_days, unknown=unknown)
    except sunset.PolicyError as exc:
        fail(str(exc))
    console.print(f"sunset for {lst.slug}: {sunset_policy(lst)}", highlight=False, soft_wrap=True)


@app.command("report")
def report(
    campaign: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A campaign's send-time halves (human open and click rates) and its sunset figures."""
    ctx = context()
    try:
        found = campaign_engagement(ctx, campaign)
    except UnknownCampaign as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(found.as_dict(), indent=2))
        return
    figures, sunsets = found.send_time, found.sunset
    grid = Grid(
        f"send-time optimisation: {'on' if figures.enabled else 'off'}",
        ["half", "people", "hour learnt", "delivered", "human opens", "open rate", "human clicks", "CTR"],
        right={1, 2, 3, 4, 5, 6, 7},
    )
    for h in figures.halves:
        grid.add(
            h.arm, str(h.people), str(h.moved), str(h.delivered), str(h.human_openers),
            _pct(h.open_rate), str(h.human_clickers), _pct(h.ctr),
        )  # fmt: skip
    print_grid(console, grid)
    sun = Grid("sunset (counted against this campaign)", list(sunsets), right=set(range(len(sunsets))))
    sun.add(*(str(n) for n in sunsets.values()))
    print_grid(console, sun)
    console.print(
        f"list {found.list_slug or '(none)'}: sunset {found.policy}; {found.inactive} inactive",
        highlight=False,
        soft_wrap=True,
    )
