"""Environment for ``wildmail worker`` subprocesses in the reliability tests."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from wildmail.core.settings import Settings

WILDMAIL = Path(sys.executable).parent / "wildmail"


def worker_env(settings: Settings, smtp_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WILDMAIL_DATABASE_URL=settings.database_url,
        WILDMAIL_SECRET_KEY=settings.secret_key,
        WILDMAIL_BASE_URL=settings.base_url,
        WILDMAIL_SENDER_ADDRESS=settings.sender_address,
        WILDMAIL_SMTP_HOST="127.0.0.1",
        WILDMAIL_SMTP_PORT=str(smtp_port),
        WILDMAIL_SMTP_TIMEOUT="5",
        WILDMAIL_CONFIG="/dev/null",
    )
    return env


def wait_ready(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Read the worker's stderr until its start-up line (its signal handlers are installed by then)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while b"worker started" not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and proc.poll() is None, f"worker not ready: {seen.decode(errors='replace')}"
        if select.select([proc.stderr], [], [], min(left, 0.5))[0]:
            seen += proc.stderr.readline()


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(WILDMAIL), "worker", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
