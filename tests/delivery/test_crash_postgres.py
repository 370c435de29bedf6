"""Reliability: the PostgreSQL server crashes (``pg_ctl stop -m immediate``) while a worker sends.

The test runs its own server (``tests.delivery.pg_instance``), never the shared one. A mark the
server acknowledged must survive its crash: otherwise the row goes back to ``queued`` and the
message, already accepted by the relay, is sent a second time.

``WM_PG_CRASH_WORKER_ARGS="--fast-marks"`` runs the same scenario with asynchronous marks, by
hand, to see the duplicates the default prevents (a probabilistic demonstration, not asserted).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from delivery.ledger import GROUP_COMMIT
from delivery.models import Delivery
from tests.delivery.pg_instance import PgInstance, find_bin
from tests.delivery.test_crash import SLOT, enqueue, message_id_of
from tests.delivery.worker_env import start_worker, worker_env
from wildmail.core.clock import FakeClock
from wildmail.core.db import make_engine
from wildmail.core.settings import Settings
from wildmail.runtime import migrate
from wildmail.runtime.context import AppContext
from wildmail.runtime.smtp_sink import RecordingSMTPServer

COUNT = 1500
CRASHES = 6
EXTRA_ARGS = os.environ.get("WM_PG_CRASH_WORKER_ARGS", "").split()


@pytest.fixture
def own_postgres() -> Iterator[PgInstance]:
    bin_dir = find_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    instance = PgInstance(bin_dir)
    try:
        instance.start()
        yield instance
    finally:
        instance.destroy()


def _open_count(ctx: AppContext) -> int | None:
    try:
        with ctx.session() as s:
            return int(
                s.execute(
                    select(func.count()).where(Delivery.state.in_(("queued", "sending", "retry_wait")))
                ).scalar_one()
            )
    except Exception:  # the server is down or recovering
        ctx.engine.dispose()
        return None


def _wait_for(server: RecordingSMTPServer, target: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(server.messages) < target and time.monotonic() < deadline:
        time.sleep(0.002)


def test_database_crashes_mid_send_never_duplicate_a_message(own_postgres, smtp_server):
    engine = make_engine(own_postgres.url, no_pool=True)
    migrate.upgrade(engine)
    clock = FakeClock(SLOT - timedelta(hours=1))
    settings = Settings(
        database_url=own_postgres.url,
        base_url="http://testserver",
        secret_key="test-secret-key-not-for-production",
        sender_address="news@wildmail.test",
    )
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    enqueue(ctx, clock, COUNT)
    rng = random.Random(14)
    # Default marks and mark window; a short lease so that rows cut off by a crash are reaped
    # within the test.
    proc = start_worker(
        worker_env(settings, smtp_server.port), "--lease-seconds", "2", "--batch", "25", *EXTRA_ARGS
    )
    crashes = 0
    try:
        for _ in range(CRASHES):
            _wait_for(smtp_server, len(smtp_server.messages) + rng.randint(40, 160))
            time.sleep(rng.uniform(0, 0.01))
            if len(smtp_server.messages) >= COUNT:
                break
            own_postgres.crash()
            crashes += 1
            time.sleep(rng.uniform(0.1, 0.5))
            own_postgres.start()
        deadline = time.monotonic() + 45
        while _open_count(ctx) != 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert proc.poll() is None, "the worker died with the database"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"the worker did not stop on SIGTERM: {err.decode()[-3000:]}") from None
    assert proc.returncode == 0, err.decode()[-3000:]
    assert crashes >= 4
    assert _open_count(ctx) == 0, "deliveries still open after 45 s"

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, state FROM deliveries")).all()
    states = Counter(state for _, state in rows)
    received = Counter(message_id_of(m.data) for m in smtp_server.messages)
    recipients = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    engine.dispose()

    assert not duplicates, f"{len(duplicates)} messages accepted twice after {crashes} database crashes"
    assert max(recipients.values()) == 1  # one email per subscriber: no address got two
    assert set(states) <= {"sent", "unknown"}, states
    assert sum(states.values()) == COUNT
    never_seen = [mid for mid, state in rows if state == "sent" and received[mid] == 0]
    assert never_seen == [], f"{len(never_seen)} rows recorded sent that the relay never accepted"
    # One session marks GROUP_COMMIT messages per durable commit: a crash cuts off at most those.
    assert states["unknown"] <= crashes * GROUP_COMMIT, states
