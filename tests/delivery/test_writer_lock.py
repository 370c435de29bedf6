"""The SQLite writer lock: threads of a process and worker processes write one at a time."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from wildmail.core.db import make_engine, write_connection, write_transaction, writer_lock

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
sys.path.insert(0, {root!r})
from wildmail.core.db import make_engine, writer_lock
with writer_lock(make_engine({url!r})):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _acquire_in_thread(engine):
    got = threading.Event()

    def take():
        with writer_lock(engine):
            got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return got, thread


def test_another_process_waits_until_the_holder_releases(tmp_path):
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), url=url)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        got, thread = _acquire_in_thread(engine)
        assert not got.wait(0.5)  # the child holds it
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()
        assert got.wait(10)
        thread.join(10)
    finally:
        child.kill()
        child.wait()


def test_nested_use_keeps_the_lock_until_the_outermost_exit(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    lock = writer_lock(engine)
    with lock:
        with lock:
            pass
        got, thread = _acquire_in_thread(engine)
        assert not got.wait(0.3)  # still held by the outer block (another thread must wait)
    assert got.wait(10)
    thread.join(10)
    engine.dispose()


def _hold_in_child(url):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), url=url)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _release(child):
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.flush()


@pytest.mark.parametrize("helper", [write_transaction, write_connection])
def test_every_write_transaction_waits_for_the_writer_lock(tmp_path, helper):
    """The ORM and the connection write helpers take the same lock as the worker's hot path."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    child = _hold_in_child(url)
    try:
        began = threading.Event()

        def write():
            with helper(engine):
                began.set()

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        assert not began.wait(0.5)  # the other process holds the lock: no transaction yet
        _release(child)
        assert began.wait(10)
        thread.join(10)
    finally:
        child.kill()
        child.wait()
        engine.dispose()
