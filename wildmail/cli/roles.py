"""Process roles: ``run``, ``serve``, ``scheduler``, ``worker`` (filled by delivery/tracking issues)."""

from __future__ import annotations

import typer

from wildmail.cli.common import fail


def register(app: typer.Typer) -> None:
    """Attach the role commands to the main app."""

    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve the tracking endpoints and the dashboard over HTTP."""
        import uvicorn

        from wildmail.cli.common import context
        from wildmail.web.app import create_app

        uvicorn.run(create_app(context()), host=host, port=port, log_level="warning")

    @app.command()
    def scheduler() -> None:
        """Run the timetable tick (not built yet: delivery issue)."""
        fail("the scheduler is not built yet (delivery issue)", 1)

    @app.command()
    def worker() -> None:
        """Send queued deliveries (not built yet: delivery issue)."""
        fail("the worker is not built yet (delivery issue)", 1)

    @app.command()
    def run() -> None:
        """Scheduler + worker + web in one process (not built yet: delivery issue)."""
        fail("'run' is not built yet (delivery issue)", 1)
