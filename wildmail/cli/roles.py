"""Process roles: ``serve`` (web), ``scheduler`` (the tick), ``worker`` (sending), ``run`` (all three)."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from wildmail.cli.common import console, context


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        console.print(f"signal {signum}: finishing in-flight messages, releasing the rest", highlight=False)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


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

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        ctx = context(secret=True)
        sched = wiring.build_scheduler(ctx, blocking=True, interval=interval)

        def handler(signum: int, _frame: Any) -> None:
            sched.shutdown(wait=False)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        console.print(f"scheduler ticking every {interval:g}s", highlight=False)
        sched.start()

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
        mark_window: int = typer.Option(
            1, "--mark-window", min=1, max=1000, help="Messages marked 'data' per commit (1 = exact)."
        ),
        durable_marks: bool = typer.Option(
            False, "--durable-marks", help="PostgreSQL: synchronous commit for every 'data' mark."
        ),
    ) -> None:
        """Send queued deliveries (run any number of workers against one PostgreSQL database)."""
        from delivery.worker import WorkerConfig, run_workers

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        if concurrency > 1 and not threads:
            from wildmail.cli.worker_processes import supervise

            context(secret=True).close()  # a settings error is reported once, here, not by every child
            options = ["--batch", str(batch), "--lease-seconds", str(lease_seconds)]
            options += ["--mark-window", str(mark_window)]
            options += ["--out", str(out)] if out is not None else []
            options += ["--resend-unknown"] if resend_unknown else []
            options += ["--durable-marks"] if durable_marks else []
            raise typer.Exit(supervise(concurrency, options))
        ctx = context(secret=True)
        stop = threading.Event()
        _stop_on_signals(stop)
        config = WorkerConfig(
            batch=batch,
            lease=timedelta(seconds=lease_seconds),
            rate_per_second=ctx.settings.smtp_rate_per_second,
            resend_unknown=resend_unknown,
            mark_window=mark_window,
            durable_marks=durable_marks,
        )
        run_workers(ctx, _transport_factory(ctx, out), concurrency, stop, config)
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
        from delivery.worker import WorkerConfig, run_workers
        from wildmail.web.app import create_app
        from wildmail.web.serving import run_server

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        ctx = context(secret=True)
        stop = threading.Event()
        sched = wiring.build_scheduler(ctx, interval=interval)
        sched.start()
        config = WorkerConfig(rate_per_second=ctx.settings.smtp_rate_per_second)
        workers = threading.Thread(
            target=run_workers,
            args=(ctx, _transport_factory(ctx, None), concurrency, stop, config),
            daemon=True,
        )
        workers.start()
        try:
            run_server(create_app(ctx), host, port)  # uvicorn handles SIGTERM
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
