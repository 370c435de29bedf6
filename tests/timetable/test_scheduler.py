"""Scheduler wiring: only the leader ticks; a second scheduler started by mistake does no harm."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import scheduler as wiring
from delivery.enqueue import tick
from delivery.leader import LeaderLock
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.core.db import make_engine
from wildmail.runtime.context import AppContext

pytestmark = pytest.mark.postgres


def test_only_one_leader_at_a_time(ctx, backend):
    first, second = LeaderLock(ctx.engine), LeaderLock(make_engine(ctx.settings.database_url))
    assert first.acquire()
    assert first.acquire()  # still the leader
    assert not second.acquire()
    first.release()
    assert second.acquire()
    assert not first.acquire()
    second.release()
    second.engine.dispose()


def test_leader_tick_runs_only_on_the_leader(ctx, clock, backend):
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, 3)
    schedule_campaign(ctx, "leopard")
    clock.set(datetime(2026, 1, 5, 9, tzinfo=UTC))
    leader, follower = LeaderLock(ctx.engine), LeaderLock(make_engine(ctx.settings.database_url))
    assert wiring.leader_tick(ctx, leader)
    assert not wiring.leader_tick(ctx, follower)
    with ctx.session() as s:
        assert s.execute(select(func.count()).select_from(Delivery)).scalar() == 3
    leader.release()
    follower.engine.dispose()


def test_two_ticks_at_once_queue_each_email_once(ctx, clock, backend):
    """Even without the lock (e.g. two hosts on SQLite by mistake), concurrent ticks are harmless."""
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, 50)
    schedule_campaign(ctx, "leopard")
    clock.set(datetime(2026, 1, 5, 9, tzinfo=UTC))
    contexts = [AppContext(ctx.settings, make_engine(ctx.settings.database_url), clock) for _ in range(3)]
    barrier = threading.Barrier(3)
    reports = []

    def run(c):
        barrier.wait()
        reports.append(tick(c, c.message_ids))

    threads = [threading.Thread(target=run, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.queued for r in reports) == [0, 0, 50]
    assert sum(r.advanced for r in reports) == 50
    with ctx.session() as s:
        assert s.execute(select(func.count()).select_from(Delivery)).scalar() == 50
    for c in contexts:
        c.close()


def test_build_scheduler_ticks_in_the_background(ctx, clock, backend):
    make_campaign(ctx, emails=1)
    add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(datetime(2026, 1, 5, 9, tzinfo=UTC))
    lock = LeaderLock(ctx.engine)
    sched = wiring.build_scheduler(ctx, interval=3600, lock=lock)
    sched.start()
    try:
        for _ in range(100):
            with ctx.session() as s:
                if s.execute(select(func.count()).select_from(Delivery)).scalar() == 2:
                    break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the first tick did not run")
    finally:
        sched.shutdown(wait=True)
        lock.release()
