"""The endpoints through a real uvicorn server on loopback; stopping the server flushes events."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from tests.tracking.conftest import BROWSER_UA, make_world
from wildmail.web.app import create_app
from wildmail.web.tracking_routes import PIXEL_GIF


def test_real_server_pixel_click_unsubscribe_and_flush_on_stop(ctx, engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    app = create_app(ctx)
    app.state.writer_interval = 60.0  # only the shutdown will write the opens and the click
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers={"User-Agent": BROWSER_UA}) as http:
        for _ in range(20):
            r = http.get(world.open_path(0))
            assert r.status_code == 200 and r.content == PIXEL_GIF
            assert r.headers["cache-control"] == "no-cache, max-age=0"
        r = http.get(world.click_path("donation", 1))
        assert r.status_code == 302 and r.headers["location"].startswith(
            "https://give.example/leopard?ref=mail&utm_"
        )
        assert http.get("/c/not-a-token").status_code == 404
        r = http.post(
            world.unsubscribe_path(1),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert [e.kind for e in world.events()] == ["unsubscribe"]  # committed before the response
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive()
    kinds = sorted(e.kind for e in world.events())
    assert kinds == ["click"] + ["open"] * 21 + ["unsubscribe"]  # 20 opens + 1 implied by the click
