"""Process roles: ``serve`` (web), ``scheduler`` (the tick), ``worker`` (sending), ``run`` (all three)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from wildmail.cli.common import EXIT_USAGE, console, context, fail
from wildmail.cli.stopping import POLL, StopFlag, run_until_stopped
from wildmail.core.redaction import mask_url
from wildmail.runtime.context import AppContext


def _announce_start(role: str, ctx: AppContext, sessions: int) -> None:
    """One line when a role is ready (its signal handlers installed): what it talks to."""
    settings = ctx.settings
    logging.getLogger(f"wildmail.{role}").info(
        "%s started: %d session(s), relay %s:%s, database %s",
        role,
        sessions,
        settings.smtp_host,
        settings.smtp_port,
        mask_url(settings.database_url),
    )


def _announce_stop(reason: str) -> None:
    console.print(f"{reason}: finishing in-flight messages, releasing the rest", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach the role commands to the main app."""

    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve the tracking endpoints and the dashboard over HTTP."""
        from wildmail.web.app import create_app
        from wildmail.web.serving import run_server

        run_server(create_app(context(secret=True)), host, port)

    @app.command()
    def scheduler(
        interval: float = typer.Option(30.0, "--interval", min=1.0, help="Seconds between ticks."),
    ) -> None:
        """Run the timetable tick every ``--interval`` seconds (only the leader ticks)."""
        import scheduler as wiring

        flag = StopFlag().install()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        ctx = context(secret=True)
        sched = wiring.build_scheduler(ctx, interval=interval)
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
    ) -> None:
        """Send queued deliveries (run any number of workers against one PostgreSQL database)."""
        from delivery.ledger import default_mark_window
        from delivery.worker import WorkerConfig, run_workers

        if fast_marks and durable_marks:
            fail("--fast-marks and --durable-marks contradict each other; give one", EXIT_USAGE)
        flag = StopFlag(parent_pid).install()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        if concurrency > 1 and not threads:
            from wildmail.cli.worker_processes import supervise

            context(secret=True).close()  # a settings error is reported once, here, not by every child
            options = ["--batch", str(batch), "--lease-seconds", str(lease_seconds)]
            options += ["--mark-window", str(mark_window)] if mark_window is not None else []
            options += ["--out", str(out)] if out is not None else []
            options += ["--resend-unknown"] if resend_unknown else []
            options += ["--fast-marks"] if fast_marks else []
            raise typer.Exit(supervise(concurrency, options, flag))
        ctx = context(secret=True)
        config = WorkerConfig(
            batch=batch,
            lease=timedelta(seconds=lease_seconds),
            rate_per_second=ctx.settings.smtp_rate_per_second,
            resend_unknown=resend_unknown,
            mark_window=mark_window or default_mark_window(ctx.engine, not fast_marks),
            durable_marks=not fast_marks,
        )
        stop = threading.Event()
        factory = _transport_factory(ctx, out)
        _announce_start("worker", ctx, concurrency)
        run_until_stopped(
            flag,
            stop,
            lambda: run_workers(ctx, factory, ctx.sender(), concurrency, stop, config),
            _announce_stop,
        )
        ctx.close()

    @app.command()
    def run(
        host: str = "127.0.0.1",
        port: int = 8000,
        concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, max=64),
        interval: float = typer.Option(30.0, "--interval", min=1.0),
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
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        ctx = context(secret=True)
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
        try:
            run_server(create_app(ctx), host, port)
        finally:
            stop.set()
            sched.shutdown(wait=False)
            workers.join(timeout=60)
            ctx.close()


def _transport_factory(ctx: Any, out: Path | None) -> Any:
    from delivery.file_transport import FileTransport
    from delivery.smtp_transport import SmtpTransport

    if out is not None:
        return lambda: FileTransport(out)
    return lambda: SmtpTransport.from_settings(ctx.settings)
