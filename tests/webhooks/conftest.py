"""A receiver on loopback and a context whose settings allow loopback endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.webhooks.receiver import Receiver
from webhooks.dispatch import DispatchConfig, Dispatcher
from webhooks.endpoints import add_endpoint
from wildmail.core.clock import FakeClock
from wildmail.core.db import write_transaction
from wildmail.core.settings import Settings
from wildmail.runtime.context import AppContext
from wildmail.runtime.startup import wire_hooks


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def hooks_ctx(settings: Settings, engine: Engine, clock: FakeClock) -> AppContext:
    """The test context with ``webhooks_allow_private`` on (the receiver is on loopback)."""
    wire_hooks()
    return AppContext(
        settings.with_overrides(webhooks_allow_private=True, webhooks_timeout=5.0), engine, clock
    )


@pytest.fixture
def dispatcher(hooks_ctx: AppContext) -> Iterator[Dispatcher]:
    d = Dispatcher(hooks_ctx, DispatchConfig.from_settings(hooks_ctx.settings))
    yield d
    d.close()


def register(ctx: AppContext, receiver: Receiver, events: str = "*") -> int:
    """Add the receiver as an endpoint; it learns the secret, as an operator would paste it."""
    with write_transaction(ctx.engine) as s:
        endpoint = add_endpoint(s, receiver.url, events, ctx.clock.now(), allow_private=True)
        receiver.secret = endpoint.secret
        return endpoint.id
