"""The writer's shortcuts give the same results as the slower, obvious code they replace."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from delivery.models import Delivery
from tests.tracking.conftest import BROWSER_UA, GMAIL_UA, make_world
from tracking import classify as rules
from tracking.batch import SQLITE_DATETIME, stored_micros_datetime, stored_micros_text
from tracking.ip_hash import IpHasher
from tracking.lookup import DeliveryMeta, MetaCache, _Lru
from tracking.models import Event
from tracking.wire import Settler
from wildmail.core.clock import from_micros, to_micros

pytestmark = pytest.mark.postgres

AGENTS = [
    BROWSER_UA,
    GMAIL_UA,
    rules.MPP_USER_AGENT,
    "",
    "   ",
    "python-requests/2.31",
    "Mozilla/5.0 (compatible; Barracuda Sentinel)",
    "Mozilla/5.0 (Windows NT 10.0) HeadlessChrome/120.0",
]


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC),  # microsecond 0: isoformat would drop it by default
        datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 1, 5, 9, 30, 1, 7, tzinfo=timezone(timedelta(hours=1, minutes=30))),
    ],
)
def test_stored_time_is_the_text_and_value_sqlalchemy_stores(at):
    naive = at.astimezone(UTC).replace(tzinfo=None)
    assert stored_micros_text(to_micros(at)) == naive.strftime(SQLITE_DATETIME)
    value = stored_micros_datetime(to_micros(at))
    assert isinstance(value, datetime) and value == naive and value.tzinfo is None


@pytest.mark.parametrize("user_agent", AGENTS)
@pytest.mark.parametrize("delay", [timedelta(seconds=1), timedelta(minutes=5)])
def test_memoised_agent_verdicts_match_the_rules_in_order(user_agent, delay):
    sent = datetime(2026, 1, 5, 8, tzinfo=UTC)
    opened = rules.classify_open(
        user_agent=user_agent, method="GET", prefetch=False, sent_at=sent, at=sent + delay
    )
    verdict = rules.open_agent_verdict(user_agent)
    if verdict is None:
        too_soon = delay < rules.OPEN_MIN_DELAY
        assert opened == ((rules.MACHINE, rules.REASON_TOO_SOON) if too_soon else (rules.HUMAN, ""))
    else:
        assert opened == verdict
    click = rules.classify_click(
        user_agent=user_agent, method="GET", prefetch=False, sent_at=sent, at=sent + delay, honeypot=False
    )
    verdict = rules.click_agent_verdict(user_agent)
    if verdict is None:
        too_soon = delay < rules.CLICK_MIN_DELAY
        assert click == ((rules.BOT, rules.REASON_TOO_SOON) if too_soon else (rules.HUMAN, ""))
    else:
        assert click == verdict
    # the request-level rules still come first, whatever the agent says
    head = rules.classify_open(
        user_agent=user_agent, method="HEAD", prefetch=False, sent_at=sent, at=sent + delay
    )
    assert head == (rules.MACHINE, rules.REASON_HEAD)


def test_gmail_proxy_stays_human_even_right_after_sending():
    sent = datetime(2026, 1, 5, 8, tzinfo=UTC)
    got = rules.classify_open(user_agent=GMAIL_UA, method="GET", prefetch=False, sent_at=sent, at=sent)
    assert got == (rules.HUMAN, rules.REASON_GMAIL)


def _settled_prefetch(purpose: bytes) -> bool:
    raw = ("open", 1, None, 0, BROWSER_UA.encode(), purpose, "GET", "")
    (hit,) = Settler("p", IpHasher(None)).settle([raw], 0)
    return hit[8]


def test_the_writer_judges_the_prefetch_headers():
    assert not _settled_prefetch(b"")
    assert _settled_prefetch(b"prefetch;prerender")
    assert _settled_prefetch(b"Prefetch")
    assert not _settled_prefetch(b"something-else")


def test_bulk_delivery_lookup_reads_what_the_orm_reads(engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=3, track_identity=False)
    cache = MetaCache(engine)
    unknown = max(world.deliveries) + 1000
    with engine.connect() as conn:
        metas = cache.deliveries([*world.deliveries, unknown], conn)
    assert set(metas) == set(world.deliveries)
    with Session(engine) as s:
        for delivery_id, meta in metas.items():
            d = s.get_one(Delivery, delivery_id)
            c = s.get_one(Campaign, d.campaign_id)
            assert meta == DeliveryMeta(
                d.id, d.subscriber_id, d.campaign_id, d.email_id, d.sent_at, False, c.slug, c.list_id,
                to_micros(d.sent_at) if d.sent_at else None,
            )  # fmt: skip
            assert meta.sent_at is not None and meta.sent_at.tzinfo is not None
            assert meta.track_identity is False
    # cached now: answered without a connection, and an unsent delivery is never cached
    assert cache.deliveries(world.deliveries) == metas
    with Session(engine) as s:
        s.get_one(Delivery, world.deliveries[0]).sent_at = None
        s.commit()
    fresh = MetaCache(engine)
    unsent = fresh.delivery(world.deliveries[0])
    assert unsent is not None and unsent.sent_at is None
    assert fresh._deliveries.get(world.deliveries[0]) is None


def test_lru_bulk_calls_expire_and_stay_bounded(monkeypatch):
    lru: _Lru[int, str] = _Lru(size=3, ttl=10.0)
    lru.put_many([(1, "a"), (2, "b"), (3, "c")])
    assert lru.get_many([1, 2, 9]) == {1: "a", 2: "b"}  # 1 and 2 now recently used
    lru.put(4, "d")  # evicts 3, the least recently used
    assert lru.get_many([1, 2, 3, 4]) == {1: "a", 2: "b", 4: "d"}
    later = time.monotonic() + 11
    monkeypatch.setattr("tracking.lookup.time.monotonic", lambda: later)
    assert lru.get_many([1, 2, 4]) == {} and lru.get(1) is None


def test_writer_stores_times_that_orm_range_queries_find(engine, settings, clock):
    from tracking.writer import EventWriter

    world = make_world(engine, settings.secret, clock.now())
    at = clock.now().replace(microsecond=0)  # the case isoformat would shorten
    writer = EventWriter(engine)
    writer.record("open", world.deliveries[0], None, to_micros(at), BROWSER_UA.encode(), b"", "GET", "")
    writer.flush()
    with Session(engine) as s:
        found = s.scalars(select(Event).where(Event.at >= at, Event.at <= at)).all()
    assert [e.at for e in found] == [at]


@given(micros=st.integers(min_value=0, max_value=4_102_444_800_000_000))  # 1970 to 2100
def test_stored_times_from_micros_are_those_of_the_datetime(micros):
    naive = from_micros(micros).replace(tzinfo=None)
    assert stored_micros_text(micros) == naive.strftime(SQLITE_DATETIME)
    assert stored_micros_datetime(micros) == naive


@pytest.mark.parametrize(
    ("user_agent", "method", "prefetch", "delay_ms", "expected"),
    [
        (BROWSER_UA, "GET", False, 1_999, (rules.MACHINE, rules.REASON_TOO_SOON)),
        (BROWSER_UA, "GET", False, 2_000, (rules.HUMAN, "")),
        (BROWSER_UA, "GET", False, -500, (rules.MACHINE, rules.REASON_TOO_SOON)),  # clock skew
        (BROWSER_UA, "GET", False, None, (rules.HUMAN, "")),  # no send time known
        (BROWSER_UA, "HEAD", False, 300_000, (rules.MACHINE, rules.REASON_HEAD)),
        (BROWSER_UA, "GET", True, 300_000, (rules.MACHINE, rules.REASON_PREFETCH)),
        (rules.MPP_USER_AGENT, "GET", False, 300_000, (rules.MACHINE, rules.REASON_MPP)),
        (GMAIL_UA, "GET", False, 500, (rules.HUMAN, rules.REASON_GMAIL)),  # the proxy is final
        ("", "GET", False, 300_000, (rules.MACHINE, rules.REASON_NO_AGENT)),
    ],
)
def test_open_rules_on_integer_times(user_agent, method, prefetch, delay_ms, expected):
    sent = to_micros(datetime(2026, 1, 5, 8, tzinfo=UTC))
    at = sent + (delay_ms or 0) * 1000
    sent_micros = sent if delay_ms is not None else None
    assert rules.classify_open_micros(user_agent, method, prefetch, sent_micros, at) == expected
