"""Login rate limits over real HTTP: per client, per account and overall.

X-Forwarded-For counts only from the ``trusted_proxies`` setting (none by default).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import PASSWORD, csrf_of
from wildmail.core.db import write_transaction
from wildmail.core.settings import SettingsError, load_settings
from wildmail.runtime.users import add_user
from wildmail.web.app import create_app
from wildmail.web.dashboard.auth import ACCOUNT_LIMIT, CLIENT_LIMIT, GLOBAL_LIMIT, PAIR_LIMIT
from wildmail.web.serving import ServerThread

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(ctx):
    return create_app(ctx)  # the dashboard needs no startup, so clients below skip the lifespan


@contextmanager
def _client(app, host: str) -> Iterator[TestClient]:
    """A browser at ``host`` (without the lifespan, so many are cheap)."""
    http = TestClient(app, base_url="http://testserver", client=(host, 40000))
    try:
        yield http
    finally:
        http.close()


def _attempt(
    http: TestClient | httpx.Client, email: str, password: str, headers: dict[str, str] | None = None
):
    token = csrf_of(http.get("/login").text)
    data = {"email": email, "password": password, "csrf": token, "next": "/dashboard"}
    return http.post("/login", data=data, headers=headers or {}, follow_redirects=False)


def _accounts(ctx, n: int) -> list[str]:
    with write_transaction(ctx.engine) as s:
        for i in range(n):
            add_user(s, f"person{i}@example.org", "staff", PASSWORD, ctx.clock.now())
    return [f"person{i}@example.org" for i in range(n)]


def test_guesses_spread_over_fifty_accounts_hit_the_client_limit(app, ctx, clock) -> None:
    accounts = _accounts(ctx, 50)
    with _client(app, "203.0.113.9") as attacker:
        codes = [_attempt(attacker, email, "wrong-password!").status_code for email in accounts]
        assert codes == [401] * CLIENT_LIMIT + [429] * (50 - CLIENT_LIMIT)
        r = _attempt(attacker, accounts[-1], PASSWORD)  # even the right password waits
        assert r.status_code == 429 and "15 minutes" in r.text
    with _client(app, "198.51.100.7") as other:
        assert _attempt(other, accounts[0], PASSWORD).status_code == 303
    clock.advance(minutes=16)
    with _client(app, "203.0.113.9") as attacker:
        assert _attempt(attacker, accounts[1], PASSWORD).status_code == 303


def test_many_clients_on_one_account_hit_the_account_limit(app, users, clock) -> None:
    target = users["admin"]
    for i in range(ACCOUNT_LIMIT):
        with _client(app, f"192.0.2.{i + 1}") as http:
            assert _attempt(http, target, "wrong-password!").status_code == 401
    with _client(app, "192.0.2.200") as http:
        assert _attempt(http, target, PASSWORD).status_code == 429
        assert _attempt(http, users["staff"], PASSWORD).status_code == 303  # other accounts still work
    clock.advance(minutes=16)
    with _client(app, "192.0.2.200") as http:
        assert _attempt(http, target, PASSWORD).status_code == 303


def test_one_client_on_one_account_is_stopped_first(client, users) -> None:
    for _ in range(PAIR_LIMIT):
        assert _attempt(client, users["staff"], "wrong-password!").status_code == 401
    assert _attempt(client, users["staff"], PASSWORD).status_code == 429


def test_a_global_cap_stops_a_distributed_guesser(app, users) -> None:
    accounts = [f"ghost{i}@example.org" for i in range(CLIENT_LIMIT)]
    clients = -(-GLOBAL_LIMIT // CLIENT_LIMIT)
    for c in range(clients):
        with _client(app, f"10.9.{c // 250}.{c % 250 + 1}") as http:
            token = csrf_of(http.get("/login").text)
            for email in accounts:
                data = {"email": email, "password": "wrong-password!", "csrf": token}
                assert http.post("/login", data=data, follow_redirects=False).status_code == 401
    with _client(app, "198.51.100.250") as fresh:
        r = _attempt(fresh, users["staff"], PASSWORD)
        assert r.status_code == 429


def test_ipv6_clients_are_limited_per_64_prefix(app) -> None:
    accounts = [f"ghost{i}@example.org" for i in range(CLIENT_LIMIT + 1)]
    codes = []
    for i, email in enumerate(accounts):
        with _client(app, f"2001:db8:1:2::{i + 1:x}") as http:
            codes.append(_attempt(http, email, "wrong-password!").status_code)
    assert codes == [401] * CLIENT_LIMIT + [429]


@pytest.fixture
def served(ctx):
    """Start the app under real uvicorn (as ``wildmail serve`` does) with the given trusted proxies."""
    servers: list[ServerThread] = []

    def start(trusted: tuple[str, ...] = ()) -> httpx.Client:
        if trusted:
            ctx.settings = ctx.settings.with_overrides(trusted_proxies=trusted)
        servers.append(ServerThread(create_app(ctx), port=0).start())
        return httpx.Client(base_url=servers[-1].url)

    yield start
    for server in servers:
        server.stop()


def test_rotating_x_forwarded_for_does_not_reset_the_limit(served, users) -> None:
    with served() as http:
        codes = [
            _attempt(
                http, users["staff"], "wrong-password!", {"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(1, PAIR_LIMIT + 3)
        ]
    assert codes == [401] * PAIR_LIMIT + [429, 429]


def test_a_trusted_proxy_passes_the_real_client(served, users) -> None:
    with served(("127.0.0.1",)) as http:
        for _ in range(PAIR_LIMIT):
            r = _attempt(http, users["staff"], "wrong-password!", {"X-Forwarded-For": "203.0.113.5"})
            assert r.status_code == 401
        assert _attempt(http, users["staff"], PASSWORD, {"X-Forwarded-For": "203.0.113.5"}).status_code == 429
        # another client behind the same proxy is a different client
        assert _attempt(http, users["staff"], PASSWORD, {"X-Forwarded-For": "203.0.113.6"}).status_code == 303


def test_serve_ignores_x_forwarded_for_by_default(tmp_path, users, ctx) -> None:
    """``wildmail serve`` itself, in its own process: rotating X-Forwarded-For changes nothing."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "WILDMAIL_CONFIG": "/dev/null",
        "WILDMAIL_DATABASE_URL": ctx.settings.database_url,
        "WILDMAIL_SECRET_KEY": ctx.settings.secret_key,
        "WILDMAIL_EVENT_WRITER": "thread",
        "FORWARDED_ALLOW_IPS": "*",  # uvicorn's own switch must not re-enable the header
    }
    env.pop("WILDMAIL_TRUSTED_PROXIES", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wildmail.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get("/login")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            codes = [
                _attempt(
                    http, users["staff"], "wrong-password!", {"X-Forwarded-For": f"203.0.113.{i}"}
                ).status_code
                for i in range(1, PAIR_LIMIT + 2)
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert codes == [401] * PAIR_LIMIT + [429]


def test_trusted_proxies_setting_is_parsed_and_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"WILDMAIL_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16 ,::1"}
    assert load_settings(None, env).trusted_proxies == ("10.0.0.1", "10.1.0.0/16", "::1")
    assert load_settings(None, {}).trusted_proxies == ()
    toml = tmp_path / "wildmail.toml"
    toml.write_text('trusted_proxies = ["192.168.1.7", "10.2.3.4/8"]\n')
    assert load_settings(toml, {}).trusted_proxies == ("192.168.1.7", "10.0.0.0/8")
    toml.write_text("trusted_proxies = 7\n")
    with pytest.raises(SettingsError, match="trusted_proxies"):
        load_settings(toml, {})
    toml.unlink()
    for bad in ("proxy.internal", "*", "10.0.0.1/40"):
        with pytest.raises(SettingsError, match=r"WILDMAIL_TRUSTED_PROXIES: .*" + re.escape(repr(bad))):
            load_settings(None, {"WILDMAIL_TRUSTED_PROXIES": bad})
