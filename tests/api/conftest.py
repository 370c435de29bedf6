"""REST API fixtures: the app under uvicorn on a free loopback port, tokens made by the real use case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import ALL_SCOPES, create_token
from wildmail.web.serving import ServerThread

EVERYTHING = ",".join(ALL_SCOPES)


@dataclass
class Api:
    url: str
    make_token: Callable[..., str]

    def client(self, token: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def api_server(ctx, smtp_server) -> Iterator[Api]:
    """wildmail's app under uvicorn (real HTTP), mailing through the test SMTP server."""
    from wildmail.web.app import create_app

    ctx.settings = ctx.settings.with_overrides(smtp_port=smtp_server.port)
    counter = iter(range(1, 10_000))

    def make_token(scopes: str = EVERYTHING, name: str | None = None) -> str:
        with write_transaction(ctx.engine) as s:
            _token, text = create_token(s, name or f"token-{next(counter)}", scopes, ctx.clock.now())
        return text

    srv = ServerThread(create_app(ctx), port=0).start()
    try:
        yield Api(srv.url, make_token)
    finally:
        srv.stop()


@pytest.fixture
def http(api_server: Api) -> Iterator[httpx.Client]:
    """A client holding a token with every scope."""
    with api_server.client(api_server.make_token()) as client:
        yield client
