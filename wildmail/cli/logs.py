"""Logging for the long-running roles: one handler on stderr, text or JSON, and the start-up banner.

Plain :mod:`logging` with a small JSON formatter (one object per line: time, level, logger,
message, plus any ``extra={"data": {...}}`` fields) rather than a structured-logging library:
the roles log a handful of lines per batch or tick, and every library the project uses (uvicorn,
APScheduler, SQLAlchemy) logs through :mod:`logging` already, so one root handler formats them all.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import typer

from wildmail.core.redaction import mask_url
from wildmail.runtime.context import AppContext


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


LOG_FORMAT = typer.Option(
    LogFormat.TEXT, "--log-format", help="Log lines as text or JSON (one object a line)."
)

log = logging.getLogger("wildmail")
HANDLER = "wildmail-stderr"  # a second setup (tests run several commands) replaces only its own handler


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={"data": {...}}`` adds fields beside the message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            entry.update({k: v for k, v in data.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (a test runner
    swaps it per command; a handler that kept the first one would write to a closed file)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(fmt: LogFormat) -> None:
    """Send every log record at INFO and above to stderr in ``fmt``; APScheduler's per-run chatter
    ("Running job ...", "executed successfully") and Alembic's start-up notes are dropped, their
    warnings kept."""
    handler = _Stderr()
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.set_name(HANDLER)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER] + [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." at every start
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per webhook request, URL and all


def _version() -> str:
    try:
        return version("wildmail")
    except PackageNotFoundError:
        return "unknown"


def banner(roles: list[str], ctx: AppContext, *, sessions: int | None = None, web: str | None = None) -> None:
    """One line when a process is ready: its roles and what it talks to (the database URL's
    password masked; the relay password never shown)."""
    s = ctx.settings
    login = f"login {s.smtp_user}" if s.smtp_user else "no login"
    relay = f"{s.smtp_host}:{s.smtp_port} (tls {s.smtp_tls}, {login})"
    data: dict[str, Any] = {
        "roles": roles,
        "version": _version(),
        "database": mask_url(s.database_url),
        "relay": relay,
        "base_url": s.base_url,
    }
    parts = [f"roles {', '.join(roles)}"]
    if sessions is not None:
        data["sessions"] = sessions
        parts.append(f"{sessions} sending session(s)")
    if web is not None:
        data["web"] = web
        parts.append(f"web on {web}")
    parts += [f"database {data['database']}", f"relay {relay}", f"base URL {s.base_url}"]
    log.info(
        "%s started (wildmail %s): %s",
        "+".join(roles),
        data["version"],
        "; ".join(parts),
        extra={"data": data},
    )
