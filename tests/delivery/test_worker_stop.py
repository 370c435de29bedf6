"""Stopping workers the way systemd does: SIGTERM to the whole process group, maybe twice.

Real processes (``wildmail worker``, ``wildmail run``) against the real SMTP server answering
slowly, so signals arrive while messages are in flight. A clean stop exits 0, prints no
traceback and leaves no row leased: what was not sent goes back to the queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from delivery.models import Delivery
from tests.delivery.test_crash import enqueue
from tests.delivery.worker_env import WILDMAIL, worker_env
from wildmail.runtime.smtp_sink import free_port

pytestmark = pytest.mark.postgres

ROUNDS = 3  # per form and backend: 12 starts and stops in all


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """A command in its own process group (as systemd runs a unit), output captured."""
    return subprocess.Popen(
        [str(WILDMAIL), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(c) for c in task.read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def _sent_at_least(ctx, count: int):
    return lambda: _sent(ctx) >= count


def _sent(ctx) -> int:
    with ctx.session() as s:
        return int(s.execute(select(func.count()).where(Delivery.state == "sent")).scalar_one())


def _leased(ctx) -> int:
    with ctx.session() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    (Delivery.lease_owner.is_not(None)) | (Delivery.state == "sending")
                )
            ).scalar_one()
        )


def _stop_group_twice(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGTERM)
    time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("form", [["--concurrency", "2"], ["--concurrency", "2", "--threads"]])
def test_group_sigterm_stops_the_worker_cleanly_and_releases_leases(ctx, clock, settings, smtp_server, form):
    smtp_server.delay("data", 0.03, times=100_000)  # every message in flight for a while
    enqueue(ctx, clock, 2000)
    env = worker_env(settings, smtp_server.port)
    for round_ in range(ROUNDS):
        before = _sent(ctx)
        proc = _start(env, "worker", *form, "--batch", "20")
        try:
            # 60 s: a parent, its webhook thread and two child processes start under a loaded CI
            assert _wait_for(_sent_at_least(ctx, before + 4), timeout=60), "the worker sent nothing"
        finally:
            code, err = _stop_group_twice(proc)
        assert "Traceback" not in err, f"round {round_}: {err}"
        assert code == 0, f"round {round_}: exit {code}: {err}"
        assert _leased(ctx) == 0, f"round {round_}: rows left leased"
    assert len(smtp_server.messages) == _sent(ctx)


def test_group_sigterm_stops_wildmail_run_cleanly(ctx, clock, settings, smtp_server):
    smtp_server.delay("data", 0.03, times=100_000)
    enqueue(ctx, clock, 1000)
    env = worker_env(settings, smtp_server.port)
    for round_ in range(3):
        before = _sent(ctx)
        port = free_port()
        proc = _start(env, "run", "--port", str(port), "--interval", "3600")
        try:
            assert _wait_for(lambda p=port: _answers(p), timeout=30), "the web server never answered"
            assert _wait_for(_sent_at_least(ctx, before + 4)), "nothing sent"
        finally:
            code, err = _stop_group_twice(proc)
        assert "Traceback" not in err, f"round {round_}: {err}"
        assert code == 0, f"round {round_}: exit {code}: {err}"
        assert _leased(ctx) == 0, f"round {round_}: rows left leased"


def test_group_sigterm_stops_the_scheduler_cleanly(ctx, settings, smtp_server):
    env = worker_env(settings, smtp_server.port)
    for round_ in range(3):
        proc = _start(env, "scheduler", "--interval", "3600")
        assert proc.stdout is not None
        assert b"scheduler ticking" in proc.stdout.readline()
        time.sleep(0.3)  # the first tick runs at once
        code, err = _stop_group_twice(proc)
        assert "Traceback" not in err, f"round {round_}: {err}"
        assert code == 0, f"round {round_}: exit {code}: {err}"


def test_killing_the_parent_stops_its_worker_processes(ctx, clock, settings, smtp_server):
    smtp_server.delay("data", 0.03, times=100_000)
    enqueue(ctx, clock, 1000)
    proc = _start(worker_env(settings, smtp_server.port), "worker", "--concurrency", "2", "--batch", "20")
    children: list[int] = []
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) == 2)
        children = _children(proc.pid)
        assert _wait_for(_sent_at_least(ctx, 4))
        proc.kill()
        proc.wait(timeout=10)
        assert _wait_for(lambda: not any(_alive(c) for c in children), timeout=10), "children outlived parent"
    finally:
        for child in children:
            if _alive(child):
                os.kill(child, signal.SIGKILL)
        if proc.stderr is not None:
            proc.stderr.close()
    assert _leased(ctx) == 0  # they stopped the clean way: finished or released
