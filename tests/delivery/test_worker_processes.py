"""``wildmail worker --concurrency N`` runs N worker processes under a supervising parent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.delivery.test_crash import check_exactly_once, enqueue, wait_until_done
from tests.delivery.worker_env import start_worker, worker_env

pytestmark = pytest.mark.postgres


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(c) for c in task.read_text().split())
    return found


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_sessions_are_processes_that_share_the_queue_and_stop_on_sigterm(ctx, clock, settings, smtp_server):
    enqueue(ctx, clock, 600)
    proc = start_worker(worker_env(settings, smtp_server.port), "--concurrency", "3", "--batch", "20")
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) == 3)
        wait_until_done(ctx, 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert check_exactly_once(ctx, smtp_server) == {"sent": 600}
    assert len(smtp_server.messages) == 600


def test_a_dead_worker_process_is_replaced(ctx, clock, settings, smtp_server):
    smtp_server.delay("data", 0.01, times=400)  # slow enough that the queue outlives the first child
    enqueue(ctx, clock, 400)
    proc = start_worker(
        worker_env(settings, smtp_server.port), "--concurrency", "2", "--batch", "5", "--lease-seconds", "1"
    )
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) == 2)
        first = _children(proc.pid)
        os.kill(first[0], signal.SIGKILL)
        assert _wait_for(lambda: len(set(_children(proc.pid)) - set(first)) == 1)
        wait_until_done(ctx, 90)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    by_state = check_exactly_once(ctx, smtp_server)
    assert by_state["sent"] + by_state.get("unknown", 0) == 400 and by_state.get("unknown", 0) <= 1


def test_threads_keep_the_single_process_form(ctx, clock, settings, smtp_server):
    enqueue(ctx, clock, 100)
    proc = start_worker(worker_env(settings, smtp_server.port), "--concurrency", "2", "--threads")
    try:
        wait_until_done(ctx, 60)
        assert _children(proc.pid) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert check_exactly_once(ctx, smtp_server) == {"sent": 100}
