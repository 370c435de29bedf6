"""Reliability: worker processes killed with SIGKILL mid-send, and several workers on PostgreSQL."""

import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from tests.delivery.factories import add_many_subscribers, make_campaign
from tests.delivery.worker_env import start_worker, wait_ready, worker_env
from wildmail.core.clock import FakeClock
from wildmail.core.db import make_engine
from wildmail.core.settings import Settings
from wildmail.runtime.context import AppContext
from wildmail.runtime.models import Base
from wildmail.runtime.smtp_sink import free_port

SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OPEN_STATES = ("queued", "sending", "retry_wait")
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)\r?$", re.MULTILINE)


def enqueue(ctx, clock, count):
    make_campaign(ctx, emails=1, padding=0)
    add_many_subscribers(ctx, count)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == count


def wait_until_done(ctx, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.session() as s:
            left = s.execute(select(func.count()).where(Delivery.state.in_(OPEN_STATES))).scalar()
        if left == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"{left} deliveries still open after {timeout}s")


def wait_for_messages(server, target, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while len(server.messages) < target and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)


def message_id_of(data: bytes) -> str:
    found = MESSAGE_ID.search(data)
    assert found is not None
    return found.group(1).decode()


def check_exactly_once(ctx, server):
    with ctx.session() as s:
        rows = s.execute(select(Delivery.message_id, Delivery.state)).all()
    received = Counter(message_id_of(m.data) for m in server.messages)
    by_state = Counter(state for _, state in rows)
    assert set(by_state) <= {"sent", "unknown"}, by_state
    unknown = {mid for mid, state in rows if state == "unknown"}
    for mid, state in rows:
        if state == "sent":
            assert received[mid] == 1, f"{mid} sent but received {received[mid]} times"
    duplicates = {mid for mid, n in received.items() if n > 1}
    assert duplicates <= unknown  # a repeat can only hide inside a reported unknown row
    assert set(received) <= {mid for mid, _ in rows}
    return by_state


SINK = Path("/usr/sbin/smtp-sink")


def _read(path: Path) -> bytes:
    """A dump's bytes; empty when the sink removed it meanwhile (an aborted transaction's dump)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


@dataclass
class Dumped:
    data: bytes


class PipeliningSink:
    """Postfix smtp-sink (offers PIPELINING, so the worker streams) dumping each transaction to a file.

    ``messages`` holds the dumps whose content arrived complete (the closing MIME boundary), the
    same ones the relay could have accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dump = Path(tempfile.mkdtemp(prefix="wm-crash-sink-"))
        self.dump.chmod(0o777)  # the sink writes as nobody
        self.proc = subprocess.Popen(
            [str(SINK), "-u", "nobody", "-d", str(self.dump / "m-"), f"127.0.0.1:{self.port}", "64"]
        )
        time.sleep(0.3)

    @property
    def messages(self) -> list[Dumped]:
        found = (_read(p) for p in self.dump.iterdir())
        return [Dumped(d) for d in found if re.search(rb"^--=_wm_\w+--\r?$", d, re.MULTILINE)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dump, ignore_errors=True)


@pytest.fixture(params=["aiosmtpd", "smtp-sink"])
def relay(request, smtp_server):
    """Both code paths: one message at a time (aiosmtpd) and the pipelined stream (smtp-sink)."""
    if request.param == "aiosmtpd":
        yield smtp_server
        return
    if not SINK.exists():
        pytest.skip("Postfix smtp-sink not installed")
    sink = PipeliningSink()
    yield sink
    sink.stop()


def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(ctx, clock, relay, settings):
    smtp_server = relay
    enqueue(ctx, clock, 2000)
    env = worker_env(settings, smtp_server.port)
    rng = random.Random(5)
    kills = 0
    for _ in range(6):
        proc = start_worker(env, "--lease-seconds", "1", "--batch", "25")
        wait_for_messages(smtp_server, len(smtp_server.messages) + rng.randint(20, 200), proc)
        time.sleep(rng.uniform(0, 0.02))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=10)
    assert kills >= 5
    proc = start_worker(env, "--lease-seconds", "1", "--batch", "25")
    wait_ready(proc)  # a SIGTERM before its handlers exist would kill it, not stop it
    try:
        wait_until_done(ctx, 90)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read().decode() if proc.stderr else ""
    by_state = check_exactly_once(ctx, smtp_server)
    assert by_state["sent"] + by_state["unknown"] == 2000
    assert by_state["unknown"] <= kills  # at most the one message in DATA per kill


@pytest.mark.slow
def test_four_worker_processes_on_postgres_send_each_delivery_once(pg_database, smtp_server):
    """Four ``wildmail worker`` processes share one PostgreSQL queue (SKIP LOCKED claims)."""
    engine = make_engine(pg_database, no_pool=True)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    clock = FakeClock(SLOT - timedelta(hours=1))
    settings = Settings(
        database_url=pg_database,
        base_url="http://testserver",
        secret_key="test-secret-key-not-for-production",
        sender_address="news@wildmail.test",
    )
    ctx = AppContext(settings=settings, engine=engine, clock=clock)
    enqueue(ctx, clock, 20000)
    env = worker_env(settings, smtp_server.port)
    procs = [start_worker(env, "--batch", "100", "--mark-window", "20") for _ in range(4)]
    try:
        wait_until_done(ctx, 150)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0, 0, 0, 0]
    by_state = check_exactly_once(ctx, smtp_server)
    assert by_state == {"sent": 20000}
    assert len(smtp_server.messages) == 20000
    with ctx.session() as s:
        attempts = s.execute(select(Delivery.attempts).distinct()).scalars().all()
        owners = s.execute(select(func.count(func.distinct(Delivery.lease_owner)))).scalar()
    assert attempts == [1]  # every delivery was claimed exactly once
    assert owners == 0  # leases released
    engine.dispose()
