"""``wildmail webhooks``: endpoints (add, list, remove, enable, disable), their delivery log, resend,
a test ping, and ``deliver`` for cron and scripts (the worker delivers on its own)."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from webhooks.addresses import WebhookError
from webhooks.dispatch import DispatchConfig, Dispatcher, waiting
from webhooks.endpoints import (
    add_endpoint,
    delivery_log,
    list_endpoints,
    remove_endpoint,
    resend,
    send_test,
    set_enabled,
)
from webhooks.models import DeliveryStatus
from wildmail.cli.common import EXIT_FAILURE, console, context, fail
from wildmail.cli.logs import LOG_FORMAT, LogFormat, setup_logging
from wildmail.cli.stopping import POLL, StopFlag
from wildmail.cli.tables import Grid, print_grid
from wildmail.core.db import write_transaction
from wildmail.runtime.context import AppContext

log = logging.getLogger("wildmail.webhooks")

app = typer.Typer(
    help="Outbound webhooks: add, list, remove, enable, disable, log, resend, test, deliver.",
    no_args_is_help=True,
)

EndpointArg = Annotated[int, typer.Argument(help="The endpoint's id (see 'wildmail webhooks list').")]


def start_dispatcher(ctx: AppContext, stop: threading.Event) -> threading.Thread:
    """The worker's webhook thread: fans out outbox events and delivers them until ``stop``."""
    dispatcher = Dispatcher(ctx, DispatchConfig.from_settings(ctx.settings))

    def run() -> None:
        try:
            dispatcher.run(stop)
        finally:
            dispatcher.close()

    thread = threading.Thread(target=run, name="wm-webhooks", daemon=True)
    thread.start()
    return thread


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST the events (http or https).")],
    events: Annotated[
        str, typer.Option("--events", help="Comma-separated event types (subscriber.created,bounce) or '*'.")
    ],
    description: Annotated[str, typer.Option("--description", help="What this endpoint is for.")] = "",
) -> None:
    """Register an endpoint; its signing secret is printed once, here, and never again."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            endpoint = add_endpoint(
                s, url, events, ctx.clock.now(), description=description,
                allow_private=ctx.settings.webhooks_allow_private,
            )  # fmt: skip
            endpoint_id, secret, types = endpoint.id, endpoint.secret, endpoint.event_types
    except WebhookError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    console.print(f"added endpoint {endpoint_id}: {url} ({', '.join(types)})", highlight=False)
    console.print("signing secret (shown once; store it with the receiver):", highlight=False)
    console.print(secret, highlight=False, soft_wrap=True)


@app.command("list")
def list_() -> None:
    """Every endpoint with its events and deliveries by status (never the secret)."""
    ctx = context()
    try:
        with ctx.session() as s:
            endpoints = list_endpoints(s)
    finally:
        ctx.close()
    if not endpoints:
        console.print("No webhook endpoints yet: add one with 'wildmail webhooks add URL --events ...'.")
        return
    grid = Grid("Webhook endpoints", ["Id", "URL", "Events", "State", "Delivered", "Pending", "Failed"])
    grid.right = {4, 5, 6}
    for e in endpoints:
        state = "enabled" if e.enabled else f"disabled {e.disabled_reason}".strip()
        c = e.counts
        grid.add(
            str(e.id), e.url, ",".join(e.event_types), state,
            str(c["delivered"]), str(c["pending"]), str(c["failed"]),
        )  # fmt: skip
    print_grid(console, grid)


@app.command("remove")
def remove(endpoint: EndpointArg) -> None:
    """Delete an endpoint and its delivery log."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            url = remove_endpoint(s, endpoint).url
    except WebhookError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    console.print(f"removed endpoint {endpoint} ({url})", highlight=False)


def _switch(endpoint: int, enabled: bool) -> None:
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            set_enabled(s, endpoint, enabled, reason="" if enabled else "disabled by hand")
    except WebhookError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    console.print(f"endpoint {endpoint} {'enabled' if enabled else 'disabled'}", highlight=False)


@app.command("enable")
def enable(endpoint: EndpointArg) -> None:
    """Deliver to the endpoint again (deliveries that waited go out)."""
    _switch(endpoint, True)


@app.command("disable")
def disable(endpoint: EndpointArg) -> None:
    """Stop delivering to the endpoint; new events still queue for it."""
    _switch(endpoint, False)


@app.command("log")
def log_(
    endpoint: EndpointArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Latest deliveries shown.")] = 50,
) -> None:
    """The endpoint's delivery log, newest first: status, attempts, last answer, next retry."""
    ctx = context()
    try:
        with ctx.session() as s:
            rows = delivery_log(s, endpoint, limit)
    except WebhookError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    if not rows:
        console.print(f"endpoint {endpoint} has no deliveries yet", highlight=False)
        return
    grid = Grid(
        f"Deliveries to endpoint {endpoint}",
        ["Id", "Event", "Status", "Attempts", "Last answer", "Time (ms)", "Last attempt", "Next attempt"],
    )
    grid.right = {3, 5}
    for d in rows:
        answer = str(d.last_status_code) if d.last_status_code is not None else (d.last_error or "-")
        if d.last_status_code is not None and d.last_error and not d.last_error.startswith("HTTP"):
            answer += f" {d.last_error}"
        grid.add(
            str(d.id), d.event_type, d.status, str(d.attempts), answer,
            "-" if d.response_ms is None else str(d.response_ms),
            f"{d.last_attempt_at:%Y-%m-%d %H:%M:%S}" if d.last_attempt_at else "-",
            f"{d.next_attempt_at:%Y-%m-%d %H:%M:%S}" if d.next_attempt_at and d.status == "pending" else "-",
        )  # fmt: skip
    print_grid(console, grid)


@app.command("resend")
def resend_(
    delivery: Annotated[int, typer.Argument(help="A delivery id from 'wildmail webhooks log'.")],
) -> None:
    """Send a delivery's event to its endpoint again (a new delivery, due now)."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            fresh = resend(s, delivery, ctx.clock.now())
            fresh_id = fresh.id
    except WebhookError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    console.print(
        f"queued delivery {fresh_id} (a resend of {delivery}); the worker or"
        " 'wildmail webhooks deliver --until-idle' sends it",
        highlight=False,
    )


@app.command("test")
def test(endpoint: EndpointArg) -> None:
    """Send a signed ``webhook.ping`` to the endpoint now and say what it answered (exit 1 unless 2xx)."""
    ctx = context()
    dispatcher = Dispatcher(ctx, DispatchConfig.from_settings(ctx.settings))
    try:
        with write_transaction(ctx.engine) as s:
            delivery_id = send_test(s, endpoint, ctx.clock.now()).id
        dispatcher.deliver(only=delivery_id)
        with ctx.session() as s:
            row = delivery_log(s, endpoint, 1)[0]
    except WebhookError as exc:
        fail(str(exc))
    finally:
        dispatcher.close()
        ctx.close()
    answer = f"HTTP {row.last_status_code}" if row.last_status_code is not None else row.last_error
    if row.status != DeliveryStatus.DELIVERED.value:
        fail(f"ping {delivery_id} not delivered: {answer}; it is retried like any delivery", EXIT_FAILURE)
    console.print(f"ping {delivery_id} delivered: {answer} in {row.response_ms} ms", highlight=False)


test.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@app.command("deliver")
def deliver(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Send what is due now, then exit (cron, scripts).")
    ] = False,
    log_format: LogFormat = LOG_FORMAT,
) -> None:
    """Fan out new events and deliver them; runs until stopped, or with --until-idle until nothing
    is due. ``wildmail worker`` does this on its own; this is for cron and scripts."""
    setup_logging(log_format)
    ctx = context()
    dispatcher = Dispatcher(ctx, DispatchConfig.from_settings(ctx.settings))
    try:
        if until_idle:
            dispatcher.prune_if_due()
            totals = dispatcher.until_idle()
            pending, next_at = waiting(ctx)
            line = ", ".join(f"{n} {status}" for status, n in sorted(totals.items())) or "nothing due"
            if pending:
                when = f"{next_at:%Y-%m-%d %H:%M:%S} UTC" if next_at else "later"
                line += f"; {pending} waiting for a retry, the next at {when}"
            console.print(f"webhooks: {line}", highlight=False)
            return
        flag = StopFlag().install()
        stop = threading.Event()
        thread = threading.Thread(target=dispatcher.run, args=(stop,), name="wm-webhooks", daemon=True)
        thread.start()
        console.print("delivering webhooks until stopped", highlight=False)
        while flag.reason() is None:
            thread.join(POLL)
        stop.set()
        thread.join()
    finally:
        dispatcher.close()
        ctx.close()
