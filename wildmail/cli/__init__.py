"""The ``wildmail`` command line."""

from __future__ import annotations

import typer

from wildmail.cli import (
    api_tokens,
    campaign,
    db,
    demo,
    dev_smtp,
    dkim,
    donations,
    engagement,
    inbound,
    init,
    relay,
    roles,
    stats,
    subscribers,
    users,
    webhooks,
)
from wildmail.cli.common import err_console
from wildmail.runtime.startup import startup_problem

app = typer.Typer(
    help="wildmail: turn conservation articles into weekly email series, send them, measure them honestly.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(campaign.app, name="campaign")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(users.app, name="users")
app.add_typer(relay.app, name="relay")
app.add_typer(dkim.app, name="dkim")
app.add_typer(inbound.app, name="inbound")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(engagement.app, name="engagement")
app.add_typer(api_tokens.app, name="api-tokens")
app.add_typer(donations.app, name="donations")
app.command(name="stats")(stats.stats)
roles.register(app)
app.command(name="demo")(demo.demo)
app.command(name="init")(init.init)
app.command(name="dev-smtp")(dev_smtp.dev_smtp)


def main() -> None:
    """Console-script entry point: a setting or database problem that surfaces after start-up
    (a command that opens the database late) is still one line, never a traceback."""
    try:
        app()
    except Exception as exc:
        problem = startup_problem(exc)
        if problem is None:
            raise
        message, code = problem
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise SystemExit(code) from None
