"""The pixel and the click take one path, ahead of FastAPI: verify, look up (cached), queue, answer."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI

from tests.tracking.conftest import BROWSER_UA, flush
from wildmail.web.app import WebApp

pytestmark = pytest.mark.postgres

UA = {"User-Agent": BROWSER_UA}


def test_the_app_is_fastapi_inside_plain_asgi_wrappers(client):
    app = client.app
    assert isinstance(app, WebApp) and not isinstance(app, FastAPI)
    assert type(app.api) is FastAPI  # not a subclass overriding __call__
    assert app.state is app.api.state


def test_a_click_on_a_cached_link_never_leaves_the_event_loop(client, world, monkeypatch):
    first = client.get(world.click_path("content", 0), headers=UA, follow_redirects=False)
    assert first.status_code == 302

    def no_threads(*args, **kwargs):
        raise AssertionError("a click went to a worker thread")

    monkeypatch.setattr("anyio.to_thread.run_sync", no_threads)
    monkeypatch.setattr("asyncio.to_thread", no_threads)
    r = client.get(world.click_path("content", 1), headers=UA, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://example.org/read?x=1#top"
    flush(client)
    assert sorted((e.kind, e.delivery_id) for e in world.events(implied=False)) == [
        ("click", world.deliveries[0]),
        ("click", world.deliveries[1]),
    ]


def test_clicks_on_a_new_link_arriving_together_read_it_once(client, world, monkeypatch):
    from tracking.lookup import load_link_target as real

    calls: list[int] = []

    def slow_load(engine, link_id):
        calls.append(link_id)
        time.sleep(0.2)  # the other clicks arrive while this read runs
        return real(engine, link_id)

    monkeypatch.setattr("tracking.service.load_link_target", slow_load)
    path = world.click_path("donation", 0)
    answers: list[tuple[int, bytes]] = []

    async def one_click() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [(b"user-agent", BROWSER_UA.encode())],
            "client": ("192.0.2.1", 1234),
        }
        status = 0
        location = b""

        async def send(message):
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                location = dict(message["headers"])[b"location"]

        async def receive():
            return {"type": "http.request", "body": b""}

        await client.app(scope, receive, send)
        answers.append((status, location))

    async def many() -> None:
        await asyncio.gather(*(one_click() for _ in range(8)))

    asyncio.run(many())
    assert calls == [world.links["donation"]]
    assert len(answers) == 8 and len(set(answers)) == 1 and answers[0][0] == 302
    assert b"utm_source=" in answers[0][1]
    flush(client)
    assert len(world.events(kind="click")) == 8


def test_a_test_sends_click_redirects_and_records_nothing(client, world):
    from wildmail.core import tokens

    key = client.app.state.tracker.key
    r = client.get(
        tokens.click_url("", key, tokens.TEST_DELIVERY, world.links["donation"]), follow_redirects=False
    )
    assert r.status_code == 302 and "utm_campaign=" in r.headers["location"]
    flush(client)
    assert world.events() == [] and client.app.state.tracker.writer.stats.dropped == 0
