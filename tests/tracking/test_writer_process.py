"""The event writer whose commits run in a child process: same contract, survives its child."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import text

from tests.tracking.conftest import BROWSER_UA, make_world
from tracking.service import Tracker
from tracking.wire import Hit, RawHit
from tracking.writer_process import ProcessEventWriter
from wildmail.core.clock import to_micros
from wildmail.core.settings import Settings, SettingsError

pytestmark = pytest.mark.postgres


def _url(engine) -> str:
    return str(engine.url.render_as_string(hide_password=False))


def _hits(world, clock, n: int) -> list[RawHit]:
    """``n`` opens as the request path queues them (``writer.record(*hit)``)."""
    at = to_micros(clock.now())
    agent = BROWSER_UA.encode()
    return [
        ("open", world.deliveries[i % len(world.deliveries)], None, at, agent, b"", "GET", "")
        for i in range(n)
    ]


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_hits_are_committed_by_another_process(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=3)
    writer = ProcessEventWriter(engine, _url(engine), interval=0.01, batch_size=100).start()
    try:
        assert writer.child_pid is not None and writer.child_pid != os.getpid()
        for hit in _hits(world, clock, 250):
            writer.record(*hit)
        assert writer.flush(timeout=10)
        assert writer.stats.written == 250 and writer.stats.batches >= 3 and writer.pending() == 0
        assert len(world.events()) == 250
        event = world.events()[0]
        assert event.at == clock.now().replace(tzinfo=None) or event.at == clock.now()
    finally:
        writer.stop()
    assert writer.child_pid is None


def test_unknown_deliveries_are_counted_as_dropped(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now())
    writer = ProcessEventWriter(engine, _url(engine)).start()
    try:
        writer.record("open", 999_999, None, to_micros(clock.now()), BROWSER_UA.encode(), b"", "GET", "")
        writer.record(*_hits(world, clock, 1)[0])
        assert writer.flush(timeout=10)
        assert (writer.stats.written, writer.stats.dropped) == (1, 1)
    finally:
        writer.stop()


def test_stop_commits_everything_still_queued(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    writer = ProcessEventWriter(engine, _url(engine), interval=60.0).start()
    for hit in _hits(world, clock, 120):
        writer.record(*hit)
    time.sleep(0.2)
    assert writer.stats.written == 0  # held: below the batch size, before the interval
    writer.stop()
    assert writer.stats.written == 120 and len(world.events()) == 120


def test_a_killed_child_is_replaced_and_nothing_is_lost_or_doubled(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=5)
    writer = ProcessEventWriter(engine, _url(engine), interval=0.005, batch_size=50).start()
    try:
        hits = _hits(world, clock, 3000)
        killed: list[int] = []
        for n, hit in enumerate(hits):
            writer.record(*hit)
            if n in (700, 1900):
                assert _wait_for(lambda: writer.child_pid not in (None, *killed))
                pid = writer.child_pid
                assert pid is not None
                killed.append(pid)
                os.kill(pid, signal.SIGKILL)
        assert writer.flush(timeout=30)
        assert writer.restarts == 2
    finally:
        writer.stop()
    uids = [e.uid for e in world.events()]
    assert len(uids) == 3000 and len(set(uids)) == 3000  # nothing lost, nothing written twice


def test_the_child_outlives_sigterm_until_its_parent_has_flushed(engine, settings, clock):
    """systemd sends SIGTERM to every process of the unit: the child must wait for its parent."""
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    writer = ProcessEventWriter(engine, _url(engine), interval=60.0).start()
    pid = writer.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    for hit in _hits(world, clock, 40):
        writer.record(*hit)
    time.sleep(0.2)
    assert writer.child_pid == pid  # still alive
    writer.stop()
    assert writer.restarts == 0 and len(world.events()) == 40


def test_tracker_uses_the_writer_the_settings_name(engine, settings, clock):
    assert isinstance(Tracker(settings, engine, clock).writer, ProcessEventWriter)
    thread_writer = Tracker(settings.with_overrides(event_writer="thread"), engine, clock).writer
    assert not isinstance(thread_writer, ProcessEventWriter)


def test_a_bad_event_writer_setting_names_the_key():
    with pytest.raises(SettingsError, match="WILDMAIL_EVENT_WRITER"):
        Settings(database_url="sqlite:///x.db").with_overrides(event_writer="fork")


def test_a_batch_with_clicks_stores_its_opens_as_a_batch_of_opens_alone(engine, settings, clock):
    """One store path: the opens of a mixed batch are stored exactly as without the clicks."""
    from datetime import timedelta as td

    from tracking.batch import write_batch
    from tracking.lookup import MetaCache

    world = make_world(engine, settings.secret, clock.now() - td(hours=1), recipients=4)
    quiet = make_world(engine, settings.secret, clock.now(), recipients=1, track_identity=False, slug="q")
    agents = [BROWSER_UA, "Mozilla/5.0", "python-requests/2.31", "", "x GoogleImageProxy y"]
    deliveries = [*world.deliveries, *quiet.deliveries, 999_999]  # the last one does not exist
    base = to_micros(clock.now())
    opens: list[Hit] = [
        (f"u{n}", "open", deliveries[n % len(deliveries)], None, base + (n % 3 - 1) * 1_000_000,
         agents[n % len(agents)], "ip", "HEAD" if n % 7 == 0 else "GET", n % 11 == 0)
        for n in range(60)
    ]  # fmt: skip
    click: Hit = (
        "c1",
        "click",
        world.deliveries[0],
        world.links["content"],
        base,
        BROWSER_UA,
        "ip",
        "GET",
        False,
    )
    columns = "uid, kind, classification, delivery_id, campaign_id, email_id, link_id, at, user_agent, reason"
    stored, results = [], []
    for batch in (opens, [*opens[:30], click, *opens[30:]]):
        with engine.begin() as conn:
            result = write_batch(conn, MetaCache(engine), batch, set())
            rows = conn.execute(
                text(f"SELECT {columns} FROM events WHERE kind = 'open' AND NOT implied")
            ).all()
            conn.execute(text("DELETE FROM events"))
        stored.append(sorted(map(tuple, rows)))
        results.append(result)
    assert stored[0] == stored[1] and {row[2] for row in stored[0]} >= {"human", "machine"}
    assert results[0].dropped == results[1].dropped == sum(h[2] == 999_999 for h in opens) > 0
    assert results[1].rows == results[0].rows + 1  # the click (its recipient has a human open)
