"""``wildmail inbound``: read bounces, complaints and mailto unsubscribes (serve, poll, process)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import typer

from inbound import imap, queries
from inbound.intake import Decision, Intake, process
from inbound.listener import listener
from inbound.sources import SourceError, arrivals
from subscribers.lifecycle import suppressed_people
from wildmail.cli.common import EXIT_FAILURE, EXIT_USAGE, console, context, err_console, fail
from wildmail.cli.stopping import StopFlag, run_until_stopped

app = typer.Typer(help="Bounces, complaints and mailto unsubscribes coming back.", no_args_is_help=True)


def _line(label: str, d: Decision) -> str:
    where = f"delivery {d.delivery_id}" if d.delivery_id is not None else "no delivery"
    extra = f"; campaign paused: {d.paused}" if d.paused else ""
    return f"{label}: {d.kind} {d.action} ({where}): {d.reason}{extra}"


@app.command("process")
def process_files(
    files: list[str] = typer.Argument(..., help="Message files, mbox files, or - for standard input."),
) -> None:
    """Run messages through the same intake as the listener (one line each: kind, action, why)."""
    ctx = context(secret=True)
    intake = Intake.from_settings(ctx.settings)
    problems = 0
    for name in files:
        try:
            for label, arrival in arrivals(name, intake.max_bytes, sys.stdin.buffer):
                decision = process(ctx.engine, intake, arrival, ctx.clock.now())
                console.print(_line(label, decision), highlight=False, soft_wrap=True, markup=False)
        except SourceError as exc:
            problems += 1
            err_console.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
    if problems:
        raise typer.Exit(EXIT_USAGE)


def _waiter(stop: threading.Event) -> Callable[[], None]:
    def wait() -> None:
        stop.wait()

    return wait


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(2525, help="Port to listen on."),
    lmtp: bool = typer.Option(False, "--lmtp", help="Speak LMTP (for a local MTA) instead of SMTP."),
) -> None:
    """Listen for bounces and unsubscribe mails; addresses without a valid token are refused."""
    ctx = context(secret=True)
    intake = Intake.from_settings(ctx.settings)
    server = listener(ctx.engine, intake, ctx.clock.now, host=host, port=port, lmtp=lmtp)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        fail(f"cannot listen on {host}:{port}: {exc}", EXIT_FAILURE)
    console.print(f"listening for {'LMTP' if lmtp else 'SMTP'} on {host}:{port}", highlight=False)
    stop = threading.Event()
    try:
        run_until_stopped(
            StopFlag().install(), stop, _waiter(stop), lambda why: console.print(f"stopping ({why})")
        )
    finally:
        server.stop()


@app.command("poll")
def poll() -> None:
    """Read the IMAP mailbox once: handled messages move to imap_processed_folder, unknown ones to
    imap_unknown_folder; nothing is deleted."""
    ctx = context(secret=True)
    intake = Intake.from_settings(ctx.settings)
    try:
        mailbox = imap.MailboxSettings.from_settings(ctx.settings)
        results = imap.poll(ctx.engine, intake, mailbox, ctx.clock.now)
    except imap.ImapSetupError as exc:
        fail(str(exc))
    except imap.ImapError as exc:
        fail(str(exc), EXIT_FAILURE)
    for uid, decision in results:
        console.print(_line(f"uid {uid}", decision), highlight=False, soft_wrap=True, markup=False)
    console.print(f"{len(results)} message(s) read", highlight=False)


@app.command("recent")
def recent(
    limit: int = typer.Option(50, help="How many, newest first."),
    kind: str = typer.Option(
        "", help="Only this kind: hard, soft, block, delay, complaint, auto_reply, unknown."
    ),
) -> None:
    """The latest messages received, with what was decided and why."""
    ctx = context()
    for r in queries.recent(ctx, limit, kind):
        where = f"delivery {r.delivery_id}" if r.delivery_id is not None else "no delivery"
        line = f"{r.received_at:%Y-%m-%d %H:%M} {r.via}: {r.kind} {r.action} ({where}): {r.reason}"
        console.print(line, highlight=False, soft_wrap=True, markup=False)


@app.command("suppressed")
def suppressed(search: str = typer.Option("", help="Part of the address.")) -> None:
    """Suppressed subscribers with the reason (lift a bounce with 'wildmail subscribers unsuppress')."""
    ctx = context()
    with ctx.session() as session:
        people = suppressed_people(session, search)
    for p in people:
        typer.echo(f"{p.email}\t{p.status}\t{p.since:%Y-%m-%d}\t{p.detail}")  # tab-separated, for scripts
    if not people:
        console.print("nobody is suppressed" + (f" matching {search!r}" if search else ""), highlight=False)
