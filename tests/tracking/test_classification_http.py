"""Machine opens and bot clicks, decided from real requests, with every event kept."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.tracking.conftest import BROWSER_UA, GMAIL_UA, flush, make_world
from tracking import classify

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("Mozilla/5.0", ("machine", "apple-mpp")),
        (GMAIL_UA, ("human", "gmail-proxy")),
        (BROWSER_UA, ("human", "")),
        ("Barracuda Sentinel (EE)", ("machine", "scanner-agent")),
        ("", ("machine", "no-user-agent")),
    ],
)
def test_open_user_agents(client, world, user_agent, expected):
    client.get(world.open_path(), headers={"User-Agent": user_agent})
    flush(client)
    [event] = world.events()
    assert (event.classification, event.reason) == expected


@pytest.mark.parametrize(
    "user_agent",
    [
        "python-requests/2.31.0",
        "curl/8.5.0",
        "Go-http-client/1.1",
        "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
        "Mimecast-Url-Protect/1.0",
        "Mozilla/5.0 (Windows NT 10.0) Microsoft Defender SafeLinks",
        "Mozilla/5.0",
    ],
)
def test_scanner_agents_click_as_bots(client, world, user_agent):
    r = client.get(world.click_path("content"), headers={"User-Agent": user_agent}, follow_redirects=False)
    assert r.status_code == 302  # a bot still gets the redirect: only the count is honest
    flush(client)
    [event] = world.events(kind="click")
    assert event.classification == "bot" and event.reason in ("scanner-agent", "bare-user-agent")
    assert world.events(kind="open") == []  # no implied open for a bot


def test_head_and_prefetch_requests_are_not_people(client, world):
    ua = {"User-Agent": BROWSER_UA}
    assert client.head(world.click_path("content"), headers=ua, follow_redirects=False).status_code == 302
    client.get(world.click_path("content", 1), headers={**ua, "Purpose": "prefetch"}, follow_redirects=False)
    r = client.head(world.open_path(), headers=ua)
    assert r.status_code == 200 and r.content == b""
    client.get(world.open_path(1), headers={**ua, "Sec-Purpose": "prefetch;prerender"})
    flush(client)
    got = sorted((e.kind, e.classification, e.reason) for e in world.events())
    assert got == [
        ("click", "bot", "head-request"),
        ("click", "bot", "prefetch-header"),
        ("open", "machine", "head-request"),
        ("open", "machine", "prefetch-header"),
    ]


def test_clicks_and_opens_seconds_after_sending_are_machines(client, engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), sent_ago=timedelta(seconds=1))
    ua = {"User-Agent": BROWSER_UA}
    client.get(world.click_path("content"), headers=ua, follow_redirects=False)
    client.get(world.open_path(1), headers=ua)
    flush(client)
    assert [(e.kind, e.classification, e.reason) for e in world.events()] == [
        ("click", "bot", "too-soon-after-send"),
        ("open", "machine", "too-soon-after-send"),
    ]
    clock.advance(seconds=classify.CLICK_MIN_DELAY.total_seconds())
    client.get(world.click_path("content"), headers=ua, follow_redirects=False)
    flush(client)
    assert world.events(kind="click")[-1].classification == "human"


def test_honeypot_hit_turns_clicks_within_ten_seconds_into_bots(client, world, clock):
    ua = {"User-Agent": BROWSER_UA}
    client.get(world.click_path("content"), headers=ua, follow_redirects=False)  # t=0, looks human
    client.get(world.click_path("content", 1), headers=ua, follow_redirects=False)  # other recipient
    flush(client)
    assert [e.classification for e in world.events(kind="click")] == ["human", "human"]
    assert len(world.events(kind="open", implied=True)) == 2

    clock.advance(seconds=6)
    client.get(world.click_path("honeypot"), headers=ua, follow_redirects=False)  # t=6
    flush(client)
    clock.advance(seconds=9)
    client.get(world.click_path("donation"), headers=ua, follow_redirects=False)  # t=15: 9 s after
    flush(client)
    clock.advance(seconds=2)
    client.get(world.click_path("content"), headers=ua, follow_redirects=False)  # t=17: 11 s after
    flush(client)

    mine = [
        (e.link_id, e.classification, e.reason)
        for e in world.events(kind="click", delivery_id=world.deliveries[0])
    ]
    assert mine == [
        (world.links["content"], "bot", "near-honeypot"),  # recorded before the hit: reclassified
        (world.links["honeypot"], "bot", "honeypot"),
        (world.links["donation"], "bot", "near-honeypot"),
        (world.links["content"], "human", ""),
    ]
    # the open implied by the reclassified click no longer counts as a person's open
    implied = world.events(kind="open", implied=True, delivery_id=world.deliveries[0])
    assert [(e.classification, e.reason) for e in implied] == [
        ("machine", "near-honeypot"),
        ("human", "implied-by-click"),
    ]
    other = world.events(delivery_id=world.deliveries[1])
    assert [(e.kind, e.classification) for e in other] == [("click", "human"), ("open", "human")]


def test_honeypot_and_clicks_in_the_same_batch(client, world):
    ua = {"User-Agent": BROWSER_UA}
    writer = client.app.state.tracker.writer
    writer.interval = 5.0  # keep all three hits in one batch
    time.sleep(0.3)  # let the writer's current 0.1 s wait end
    for link in ("content", "honeypot", "donation"):
        client.get(world.click_path(link), headers=ua, follow_redirects=False)
    flush(client)
    assert {e.classification for e in world.events(kind="click")} == {"bot"}
    assert world.events(kind="open") == []


def test_human_click_without_open_implies_one_open(client, world):
    ua = {"User-Agent": BROWSER_UA}
    client.get(world.open_path(0), headers={"User-Agent": "Mozilla/5.0"})  # MPP: not a person's open
    client.get(world.open_path(1), headers=ua)  # a real open
    flush(client)
    for i in (0, 1):
        client.get(world.click_path("content", i), headers=ua, follow_redirects=False)
        client.get(world.click_path("donation", i), headers=ua, follow_redirects=False)
    flush(client)
    first = [
        (e.kind, e.classification, e.implied, e.reason) for e in world.events(delivery_id=world.deliveries[0])
    ]
    assert first == [
        ("open", "machine", False, "apple-mpp"),
        ("click", "human", False, ""),
        ("click", "human", False, ""),
        ("open", "human", True, "implied-by-click"),
    ]
    second = world.events(delivery_id=world.deliveries[1], kind="open")
    assert [e.implied for e in second] == [False]  # already opened: nothing implied


def test_raw_counts_keep_every_event(client, world):
    for ua in ("Mozilla/5.0", GMAIL_UA, "curl/8", BROWSER_UA):
        client.get(world.open_path(), headers={"User-Agent": ua})
    flush(client)
    assert len(world.events(kind="open")) == 4
    assert len(world.events(kind="open", classification="human")) == 2
