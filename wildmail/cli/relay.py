"""``wildmail relay``: see why a relay is paused, and lift the pause."""

from __future__ import annotations

from datetime import datetime

import typer

from delivery import ratelimit
from wildmail.cli.common import console, context, fail

app = typer.Typer(help="SMTP relays: pauses and alerts.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@app.command("status")
def status() -> None:
    """Every relay the workers used: paused or sending, the alert, since when, until when."""
    ctx = context()
    now = ctx.clock.now()
    relays = ratelimit.relay_statuses(ctx)
    if not relays:
        console.print("no relay used yet")
        return
    for r in relays:
        paused = r.paused(now)
        line = f"{r.name}: paused until {_when(r.backoff_until)}" if paused else f"{r.name}: sending"
        if r.alert_since is not None:
            line += f" (alert since {_when(r.alert_since)})"
        console.print(line, highlight=False, soft_wrap=True)
        reason = r.alert or (r.last_reply if paused else "")
        if reason:
            console.print(f"  reason: {reason}", highlight=False, soft_wrap=True)


@app.command("resume")
def resume(name: str) -> None:
    """Lift the relay's pause and alert now (after fixing the cause)."""
    ctx = context()
    try:
        ratelimit.resume(ctx, name)
    except ratelimit.UnknownRelay as exc:
        fail(str(exc))
    console.print(f"{name}: resumed; workers use it again at their next step", highlight=False)
