"""The event writer whose commits run in a child process: same contract, survives its child."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from tests.tracking.conftest import BROWSER_UA, make_world
from tracking.batch import Hit
from tracking.service import Tracker
from tracking.wire import decode_hits, encode_hits
from tracking.writer_process import ProcessEventWriter
from wildmail.core.settings import Settings, SettingsError

pytestmark = pytest.mark.postgres


def _url(engine) -> str:
    return str(engine.url.render_as_string(hide_password=False))


def _hits(world, clock, prefix: str, n: int) -> list[Hit]:
    return [
        Hit(
            f"{prefix}{i}",
            "open",
            world.deliveries[i % len(world.deliveries)],
            None,
            clock.now(),
            BROWSER_UA,
            "h",
        )
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
        for hit in _hits(world, clock, "p", 250):
            writer.submit(hit)
        assert writer.flush(timeout=10)
        assert writer.stats.written == 250 and writer.stats.batches >= 3 and writer.pending() == 0
        assert len(world.events()) == 250
        event = world.events(uid="p0")[0]
        assert event.at == clock.now().replace(tzinfo=None) or event.at == clock.now()
    finally:
        writer.stop()
    assert writer.child_pid is None


def test_unknown_deliveries_are_counted_as_dropped(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now())
    writer = ProcessEventWriter(engine, _url(engine)).start()
    try:
        writer.submit(Hit("ghost", "open", 999_999, None, clock.now(), BROWSER_UA, "h"))
        writer.submit(_hits(world, clock, "real", 1)[0])
        assert writer.flush(timeout=10)
        assert (writer.stats.written, writer.stats.dropped) == (1, 1)
    finally:
        writer.stop()


def test_stop_commits_everything_still_queued(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    writer = ProcessEventWriter(engine, _url(engine), interval=60.0).start()
    for hit in _hits(world, clock, "s", 120):
        writer.submit(hit)
    time.sleep(0.2)
    assert writer.stats.written == 0  # held: below the batch size, before the interval
    writer.stop()
    assert writer.stats.written == 120 and len(world.events()) == 120


def test_a_killed_child_is_replaced_and_nothing_is_lost_or_doubled(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=5)
    writer = ProcessEventWriter(engine, _url(engine), interval=0.005, batch_size=50).start()
    try:
        hits = _hits(world, clock, "k", 3000)
        killed: list[int] = []
        for n, hit in enumerate(hits):
            writer.submit(hit)
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
    assert len(uids) == 3000 and set(uids) == {h.uid for h in hits}


def test_the_child_outlives_sigterm_until_its_parent_has_flushed(engine, settings, clock):
    """systemd sends SIGTERM to every process of the unit: the child must wait for its parent."""
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    writer = ProcessEventWriter(engine, _url(engine), interval=60.0).start()
    pid = writer.child_pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    for hit in _hits(world, clock, "t", 40):
        writer.submit(hit)
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


@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    link=st.none() | st.integers(min_value=1, max_value=2**40),
    ua=st.text(max_size=40),
)
def test_hits_cross_the_pipe_unchanged(at, offset, link, ua):
    local = at.astimezone(timezone(timedelta(minutes=offset)))
    hit = Hit("u1", "click", 42, link, local, ua, "ip", "HEAD", True)
    (back,) = decode_hits(encode_hits([hit]))
    assert back == Hit("u1", "click", 42, link, at, ua, "ip", "HEAD", True)
    assert back.at.utcoffset() == timedelta(0)


def test_the_opens_only_path_writes_what_the_general_path_writes(engine, settings, clock):
    from datetime import timedelta as td

    from tracking.batch import write_batch, write_open_batch
    from tracking.lookup import MetaCache

    world = make_world(engine, settings.secret, clock.now() - td(hours=1), recipients=4)
    quiet = make_world(engine, settings.secret, clock.now(), recipients=1, track_identity=False, slug="q")
    agents = [BROWSER_UA, "Mozilla/5.0", "python-requests/2.31", "", "x GoogleImageProxy y"]
    deliveries = [*world.deliveries, *quiet.deliveries, 999_999]  # the last one does not exist
    hits = [
        Hit(f"u{n}", "open", deliveries[n % len(deliveries)], None, clock.now() + td(seconds=n % 3 - 1),
            agents[n % len(agents)], "ip", "HEAD" if n % 7 == 0 else "GET", n % 11 == 0)
        for n in range(60)
    ]  # fmt: skip
    columns = (
        "kind, classification, delivery_id, campaign_id, email_id, link_id, at, user_agent, ip_hash, reason"
    )
    results, opened = [], []
    for writer in ("general", "wire"):
        memory: set[int] = set()
        with engine.begin() as conn:
            if writer == "general":
                result = write_batch(conn, MetaCache(engine), hits, memory)
            else:
                result = write_open_batch(conn, MetaCache(engine), encode_hits(hits), memory)
            stored = conn.execute(text(f"SELECT {columns} FROM events ORDER BY uid")).all()
            conn.execute(text("DELETE FROM events"))
        results.append((result.rows, result.dropped, sorted(map(tuple, stored), key=repr)))
        opened.append(memory)
    assert results[0] == results[1]
    assert opened[0] == opened[1] and opened[0]
    assert results[0][1] == sum(h.delivery_id == 999_999 for h in hits) > 0
    classes = {row[1] for row in results[0][2]}
    assert {"human", "machine"} <= classes
