"""The batching writer: used without any web framework, flushed on shutdown, replay-safe."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.tracking.conftest import BROWSER_UA, make_world
from tracking.batch import write_batch
from tracking.lookup import MetaCache
from tracking.wire import Hit
from tracking.writer import EventWriter
from wildmail.core.clock import to_micros
from wildmail.web.app import create_app

pytestmark = pytest.mark.postgres


def _record(writer, world, i, at, kind="open", link=None):
    """Queue a hit the way the request path does."""
    link_id = world.links[link] if link else None
    writer.record(kind, world.deliveries[i], link_id, to_micros(at), BROWSER_UA.encode(), b"", "GET", "")


def _hit(world, i, at, uid, kind="open", link=None) -> Hit:
    """A settled hit with a given uid (as a retried batch carries it)."""
    link_id = world.links[link] if link else None
    return (uid, kind, world.deliveries[i], link_id, to_micros(at), BROWSER_UA, "h", "GET", False)


def _write(engine, hits: list[Hit], opened: set[int]) -> None:
    with engine.begin() as conn:
        write_batch(conn, MetaCache(engine), hits, opened)


def test_writer_works_without_a_web_app_and_batches(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=3)
    writer = EventWriter(engine, interval=10.0, batch_size=50).start()
    try:
        for n in range(49):
            _record(writer, world, n % 3, clock.now())
        time.sleep(0.3)
        assert writer.stats.written == 0  # below the batch size and before the interval
        _record(writer, world, 0, clock.now())  # the 50th wakes the writer at once
        deadline = time.monotonic() + 5
        while writer.stats.written < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.stats.written == 50 and writer.stats.batches == 1
        for n in range(50, 120):
            _record(writer, world, n % 3, clock.now())
        assert writer.flush(timeout=5)
        assert writer.stats.written == 120 and writer.pending() == 0
    finally:
        writer.stop()
    events = world.events()
    assert len(events) == 120 and len({e.uid for e in events}) == 120


def test_replaying_the_same_uids_writes_nothing_twice(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now())
    hits = [_hit(world, 0, clock.now(), "same-1"), _hit(world, 1, clock.now(), "same-2")]
    for _ in range(3):
        _write(engine, hits, set())
    assert sorted(e.uid for e in world.events()) == ["same-1", "same-2"]


def test_replayed_click_does_not_duplicate_its_implied_open(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now())
    click = _hit(world, 0, clock.now(), "c-1", kind="click", link="content")
    _write(engine, [click], set())
    _write(engine, [click], set())  # a restarted process has no memory of the open it implied
    assert sorted((e.uid, e.implied) for e in world.events()) == [("c-1", False), ("c-1:open", True)]


def test_aggregate_only_campaign_stores_no_delivery_id(client, engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), track_identity=False, slug="quiet")
    ua = {"User-Agent": BROWSER_UA}
    client.get(world.open_path(), headers=ua)
    client.get(world.click_path("donation", 1), headers=ua, follow_redirects=False)
    client.app.state.tracker.writer.flush()
    events = world.events()
    assert sorted((e.kind, e.implied) for e in events) == [("click", False), ("open", False), ("open", True)]
    assert {e.delivery_id for e in events} == {None}
    assert {e.campaign_id for e in events} == {world.campaign_id}
    with engine.connect() as conn:  # no per-person trace of the donation click either
        assert conn.execute(text("SELECT count(*) FROM enrolments WHERE donation_clicked")).scalar() == 0


def test_shutdown_writes_every_queued_event(ctx, engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    app = create_app(ctx)
    with TestClient(app) as client:
        writer = app.state.tracker.writer
        writer.interval = 60.0  # nothing would be written before shutdown on its own
        time.sleep(0.3)
        for _ in range(150):
            assert client.get(world.open_path(0), headers={"User-Agent": BROWSER_UA}).status_code == 200
        r = client.get(
            world.click_path("content", 1), headers={"User-Agent": BROWSER_UA}, follow_redirects=False
        )
        assert r.status_code == 302
        assert writer.stats.written == 0 and writer.pending() == 151
    assert len(world.events()) == 152  # 150 opens, 1 click and the open it implies


def test_failed_batch_is_retried_with_the_same_uids(engine, settings, clock, monkeypatch):
    world = make_world(engine, settings.secret, clock.now())
    real = EventWriter._write
    calls = {"n": 0}

    def flaky(self, conn, batch):
        result = real(self, conn, batch)
        calls["n"] += 1
        if calls["n"] == 1:  # the rows were inserted, then the transaction fails: rolled back
            raise RuntimeError("simulated failure before commit")
        return result

    monkeypatch.setattr(EventWriter, "_write", flaky)
    monkeypatch.setattr("tracking.writer.time.sleep", lambda s: None)
    writer = EventWriter(engine, ip_key=settings.secret)
    # hits as the request path queues them: their uids are given once, when the batch is settled
    _record(writer, world, 0, clock.now())
    _record(writer, world, 0, clock.now(), kind="click", link="content")
    writer.flush()
    assert writer.stats.failures == 1 and writer.stats.lost == 0 and calls["n"] == 2
    uids = [e.uid for e in world.events() if not e.implied]
    assert len(uids) == 2 and len(set(uids)) == 2


def test_concurrent_submitters_lose_nothing(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    writer = EventWriter(engine, interval=0.01, batch_size=100).start()

    def work(t):
        for n in range(300):
            _record(writer, world, n % 2, clock.now() + timedelta(seconds=n))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert len(world.events()) == 1200 and writer.stats.written == 1200


def test_deleting_a_campaign_removes_its_events_through_its_emails(engine, settings, clock):
    """events.campaign_id has no key of its own; the email's cascade must still clear them."""
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    other = make_world(engine, settings.secret, clock.now(), recipients=1, slug="tigers")
    hits = [
        _hit(world, 0, clock.now(), "gone-1"),
        _hit(world, 1, clock.now(), "gone-2", kind="click", link="content"),
        _hit(other, 0, clock.now(), "kept-1"),
    ]
    _write(engine, hits, set())
    assert len(world.events()) == 4  # two hits, plus the open the click implies
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM deliveries WHERE campaign_id = :c"), {"c": world.campaign_id})
        conn.execute(text("DELETE FROM enrolments WHERE campaign_id = :c"), {"c": world.campaign_id})
        conn.execute(text("DELETE FROM campaigns WHERE id = :c"), {"c": world.campaign_id})
    assert [e.uid for e in world.events()] == ["kept-1"]
