"""``wildmail worker --concurrency N``: N single-session worker processes under one parent.

Sending is CPU work in Python (personalise, sign, frame, record), so threads of one process
share one interpreter lock; separate processes use every core. Measured with bench/send.py:
processes sent 5-40% more per second than threads and cost less CPU per message on both
databases (docs/benchmarks.md). ``--threads`` keeps the single-process form.

The parent only supervises: it forwards SIGTERM/SIGINT to every child (each finishes or
releases its in-flight messages), replaces a child that dies while the parent is running, and
exits 0 when every child stopped cleanly, 1 otherwise.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds before replacing a child that died
POLL = 0.2
STOP_TIMEOUT = 120.0  # seconds a child may take to finish its in-flight messages


def child_command(args: list[str]) -> list[str]:
    """The command line of one single-session worker with the parent's options."""
    return [sys.executable, "-m", "wildmail.cli", "worker", "--concurrency", "1", "--threads", *args]


def supervise(count: int, args: list[str]) -> int:
    """Run ``count`` worker processes until SIGTERM/SIGINT; returns the exit code."""
    stop = threading.Event()
    children: list[subprocess.Popen[bytes]] = []
    lock = threading.RLock()  # the signal handler runs on this thread, maybe while it holds the lock

    def forward(signum: int, _frame: Any) -> None:
        stop.set()
        with lock:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    command = child_command(args)
    with lock:
        children.extend(subprocess.Popen(command) for _ in range(count))
    while not stop.wait(POLL):
        for i, child in enumerate(list(children)):
            code = child.poll()
            if code is None or stop.is_set():
                continue
            log.error("worker process %d ended with code %s; starting another", child.pid, code)
            time.sleep(RESTART_PAUSE)
            with lock:
                if stop.is_set():
                    break
                children[i] = subprocess.Popen(command)
    codes = []
    for child in children:
        try:
            codes.append(child.wait(STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            log.error("worker process %d did not stop in %.0f s; killing it", child.pid, STOP_TIMEOUT)
            child.kill()
            codes.append(child.wait())
    return 0 if all(code == 0 for code in codes) else 1
