"""Process roles: ``serve`` (web), ``scheduler`` (the tick), ``worker`` (sending), ``run`` (all three)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from wildmail.cli.common import EXIT_USAGE, console, context, fail
from wildmail.cli.logs import LOG_FORMAT, LogFormat, banner, setup_logging
from wildmail.cli.stopping import POLL, StopFlag, run_until_stopped


def _announce_stop(reason: str) -> None:
    console.print(f"{reason}: finishing in-flight messages, releasing the rest", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach the role commands to the main app."""

    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000, log_format: LogFormat = LOG_FORMAT) -> None:
        """Serve the tracking endpoints and the dashboard over HTTP."""
        from wildmail.web.app import create_app
        from wildmail.web.serving import run_server

        setup_logging(log_format)
        ctx = context(secret=True)
        web = create_app(ctx)
        banner(["web"], ctx, web=f"http://{host}:{port}")
        run_server(web, host, port)

    @app.command()
    def scheduler(
        interval: float = typer.Option(30.0, "--interval", min=1.0, help="Seconds between ticks."),
        once: bool = typer.Option(False, "--once", help="One tick, print what it queued, exit (cron)."),
        log_format: LogFormat = LOG_FORMAT,
    ) -> None:
        """Run the timetable tick every ``--interval`` seconds (only the leader ticks)."""
        import scheduler as wiring

        if once:
            _tick_once(log_format)
            return
        flag = StopFlag().install()
        setup_logging(log_format)
        ctx = context(secret=True)
        sched = wiring.build_scheduler(ctx, interval=interval)
        banner(["scheduler"], ctx)
        console.print(f"scheduler ticking every {interval:g}s", highlight=False)
        sched.start()
        while flag.reason() is None:
            time.sleep(POLL)
        sched.shutdown(wait=True)  # a tick under way finishes
        ctx.close()

    @app.command()
    def worker(
        concurrency: int = typer.Option(
            1,
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Sending sessions, one process each (see --threads).",
        ),
        threads: bool = typer.Option(
            False, "--threads", help="Run the sessions as threads of this process instead of processes."
        ),
        batch: int = typer.Option(50, "--batch", min=1, max=1000, help="Deliveries claimed at a time."),
        lease_seconds: float = typer.Option(300.0, "--lease-seconds", min=1.0, help="Lease per claim."),
        out: Path | None = typer.Option(
            None, "--out", help="Dry run: write .eml files here instead of SMTP."
        ),
        resend_unknown: bool = typer.Option(False, "--resend-unknown", help="Requeue rows cut off in DATA."),
        mark_window: int | None = typer.Option(
            None,
            "--mark-window",
            min=1,
            max=1000,
            help="Messages marked 'data' per commit; a crash leaves at most this many 'unknown'. "
            "Default: 16 on PostgreSQL (one disk sync per group), 1 on SQLite or with --fast-marks.",
        ),
        fast_marks: bool = typer.Option(
            False,
            "--fast-marks",
            help="PostgreSQL: asynchronous commit for 'data' marks. Faster, but a database server "
            "crash can send messages twice.",
        ),
        durable_marks: bool = typer.Option(
            False, "--durable-marks", hidden=True, help="The default now; accepted for old unit files."
        ),
        parent_pid: int | None = typer.Option(None, "--parent-pid", hidden=True),
        until_idle: bool = typer.Option(
            False,
            "--until-idle",
            help="Send what is due with one session, then exit: 0 when idle, 1 when the relay failed "
            "throughout (cron, scripts).",
        ),
        webhooks: bool = typer.Option(
            True,
            "--webhooks/--no-webhooks",
            help="Also deliver outbound webhooks, on a thread of this process (not with --until-idle "
            "or --out: use 'wildmail webhooks deliver --until-idle').",
        ),
        log_format: LogFormat = LOG_FORMAT,
    ) -> None:
        """Send queued deliveries (run any number of workers against one PostgreSQL database)."""
        from delivery.ledger import default_mark_window
        from delivery.worker import WorkerConfig, run_workers

        if fast_marks and durable_marks:
            fail("--fast-marks and --durable-marks contradict each other; give one", EXIT_USAGE)
        flag = StopFlag(parent_pid).install()
        setup_logging(log_format)
        webhooks = webhooks and out is None  # a dry run calls nobody
        if concurrency > 1 and not threads and not until_idle:
            from wildmail.cli.worker_processes import supervise

            context(secret=True).close()  # a settings error is reported once, here, not by every child
            options = ["--batch", str(batch), "--lease-seconds", str(lease_seconds)]
            options += ["--mark-window", str(mark_window)] if mark_window is not None else []
            options += ["--out", str(out)] if out is not None else []
            options += ["--resend-unknown"] if resend_unknown else []
            options += ["--fast-marks"] if fast_marks else []
            options += ["--log-format", log_format.value, "--no-webhooks"]  # the parent delivers them
            if not webhooks:
                raise typer.Exit(supervise(concurrency, options, flag))
            from wildmail.cli.webhooks import start_dispatcher

            hooks_ctx, hooks_stop = context(secret=True), threading.Event()
            parent_hooks = start_dispatcher(hooks_ctx, hooks_stop)
            try:
                code = supervise(concurrency, options, flag)
            finally:
                hooks_stop.set()
                parent_hooks.join()
                hooks_ctx.close()
            raise typer.Exit(code)
        ctx = context(secret=True)
        config = WorkerConfig(
            batch=batch,
            lease=timedelta(seconds=lease_seconds),
            rate_per_second=ctx.settings.smtp_rate_per_second,
            resend_unknown=resend_unknown,
            mark_window=mark_window or default_mark_window(ctx.engine, not fast_marks),
            durable_marks=not fast_marks,
        )
        factory = _transport_factory(ctx, out)
        if until_idle:
            from wildmail.cli.until_idle import drain

            banner(["worker"], ctx, sessions=1)
            code = drain(ctx, factory, config, flag)
            ctx.close()
            raise typer.Exit(code)
        stop = threading.Event()
        banner(["worker"], ctx, sessions=concurrency)
        hooks: threading.Thread | None = None
        if webhooks:
            from wildmail.cli.webhooks import start_dispatcher

            hooks = start_dispatcher(ctx, stop)
        run_until_stopped(
            flag,
            stop,
            lambda: run_workers(ctx, factory, ctx.sender(), concurrency, stop, config),
            _announce_stop,
        )
        if hooks is not None:
            hooks.join()
        ctx.close()

    @app.command()
    def run(
        host: str = "127.0.0.1",
        port: int = 8000,
        concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, max=64),
        interval: float = typer.Option(30.0, "--interval", min=1.0),
        log_format: LogFormat = LOG_FORMAT,
    ) -> None:
        """Scheduler + worker + web in one process (small installs)."""
        import scheduler as wiring
        from delivery.ledger import default_mark_window
        from delivery.worker import WorkerConfig, run_workers
        from wildmail.web.app import create_app
        from wildmail.web.serving import run_server

        # uvicorn handles SIGTERM/SIGINT while it serves, then restores the handler it found and
        # raises the signal again: that handler must only record it, so the workers below still
        # finish their in-flight messages and release the rest.
        StopFlag().install()
        setup_logging(log_format)
        ctx = context(secret=True)
        web = create_app(ctx)
        stop = threading.Event()
        sched = wiring.build_scheduler(ctx, interval=interval)
        sched.start()
        config = WorkerConfig(
            rate_per_second=ctx.settings.smtp_rate_per_second, mark_window=default_mark_window(ctx.engine)
        )
        workers = threading.Thread(
            target=run_workers,
            args=(ctx, _transport_factory(ctx, None), ctx.sender(), concurrency, stop, config),
            daemon=True,
        )
        workers.start()
        from wildmail.cli.webhooks import start_dispatcher

        hooks = start_dispatcher(ctx, stop)
        banner(["scheduler", "worker", "web"], ctx, sessions=concurrency, web=f"http://{host}:{port}")
        try:
            run_server(web, host, port)
        finally:
            stop.set()
            sched.shutdown(wait=False)
            workers.join(timeout=60)
            hooks.join(timeout=60)
            ctx.close()


def _tick_once(log_format: LogFormat) -> None:
    """``scheduler --once``: one tick as the leader, its report printed; exit 0 (nothing to do is
    not a failure), or 0 with a note when another scheduler leads."""
    from delivery.enqueue import tick
    from delivery.leader import LeaderLock
    from scheduler import run_engagement

    setup_logging(log_format)
    ctx = context(secret=True)
    lock = LeaderLock(ctx.engine)
    try:
        if not lock.acquire():
            console.print("another scheduler is running and ticks for this database; nothing done")
            return
        report = tick(ctx, ctx.message_ids)
        run_engagement(ctx)  # send-time optimisation and sunset, as the scheduler does after each tick
    finally:
        lock.release()
        ctx.close()
    console.print(describe_tick(report), highlight=False, soft_wrap=True)


def describe_tick(report: Any) -> str:
    """One line for a tick: what it queued and everything else it changed."""
    parts = [f"queued {report.queued} email(s)"]
    for label, n in (
        ("enrolled", report.enrolled),
        ("left (unsubscribed, bounced)", report.exited),
        ("moved to a later slot", report.rescheduled),
        ("held for a free slot (frequency cap)", report.held),
        ("finished their series", report.finished),
    ):
        if n:
            parts.append(f"{n} {label}")
    reaped = {state: n for state, n in report.reaped.items() if n}
    if reaped:
        parts.append("expired leases: " + ", ".join(f"{n} {state}" for state, n in sorted(reaped.items())))
    return "tick: " + "; ".join(parts)


def _transport_factory(ctx: Any, out: Path | None) -> Any:
    from delivery.file_transport import FileTransport
    from delivery.smtp_transport import SmtpTransport

    if out is not None:
        return lambda: FileTransport(out)
    return lambda: SmtpTransport.from_settings(ctx.settings)
