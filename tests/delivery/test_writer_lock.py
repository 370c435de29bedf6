"""The SQLite writer lock: threads of a process and worker processes write one at a time."""

import subprocess
import sys
import threading
from pathlib import Path

from delivery.claim import writer_lock
from wildmail.core.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
sys.path.insert(0, {root!r})
from delivery.claim import writer_lock
from wildmail.core.db import make_engine
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
