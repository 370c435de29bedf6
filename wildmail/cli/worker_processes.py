"""``wildmail worker --concurrency N``: N single-session worker processes under one parent.

Sending is CPU work in Python (personalise, sign, frame, record), so threads of one process
share one interpreter lock; separate processes use every core. Measured with bench/send.py:
processes sent 5-40% more per second than threads and cost less CPU per message on both
databases (docs/benchmarks.md). ``--threads`` keeps the single-process form.

The parent only supervises: on SIGTERM/SIGINT it forwards SIGTERM to every child (each
finishes or releases its in-flight messages), replaces a child that dies while the parent is
running, and exits 0 when every child stopped cleanly, 1 otherwise. Its signal handler only
records the signal (:mod:`wildmail.cli.stopping`); the loop here acts on it. Each child is
told the parent's pid and stops the same way when the parent vanishes (a SIGKILL of the
parent alone), so no child keeps sending unsupervised.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from wildmail.cli.stopping import POLL, StopFlag

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds before replacing a child that died
STOP_TIMEOUT = 120.0  # seconds a child may take to finish its in-flight messages
# A child killed by one of these before it installed its handler had claimed nothing yet.
STOP_SIGNALS = (-signal.SIGTERM, -signal.SIGINT)


def child_command(args: list[str]) -> list[str]:
    """The command line of one single-session worker with the parent's options."""
    parent = ["--parent-pid", str(os.getpid())]
    return [sys.executable, "-m", "wildmail.cli", "worker", "--concurrency", "1", "--threads", *parent, *args]


def supervise(count: int, args: list[str], flag: StopFlag) -> int:
    """Run ``count`` worker processes until ``flag`` is raised; returns the exit code."""
    command = child_command(args)
    children = [subprocess.Popen(command) for _ in range(count)]
    restart_at: dict[int, float] = {}
    while flag.reason() is None:
        time.sleep(POLL)
        for i, child in enumerate(children):
            code = child.poll()
            if code is None or flag.reason() is not None:
                continue
            if i not in restart_at:
                log.error("worker process %d ended with code %s; starting another", child.pid, code)
                restart_at[i] = time.monotonic() + RESTART_PAUSE
            elif time.monotonic() >= restart_at[i]:
                del restart_at[i]
                children[i] = subprocess.Popen(command)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    codes = []
    for child in children:
        try:
            codes.append(child.wait(STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            log.error("worker process %d did not stop in %.0f s; killing it", child.pid, STOP_TIMEOUT)
            child.kill()
            codes.append(child.wait())
    return 0 if all(code == 0 or code in STOP_SIGNALS for code in codes) else 1
