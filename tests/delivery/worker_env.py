"""Environment for ``wildmail worker`` subprocesses in the reliability tests."""

from __future__ import annotations

import os
import subprocess
import sys
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


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(WILDMAIL), "worker", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
