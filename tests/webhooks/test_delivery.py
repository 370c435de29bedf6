"""Signed delivery to a real receiver on loopback: retries on the schedule, failure, resend, 410."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.webhooks.conftest import register
from webhooks.addresses import WebhookError
from webhooks.dispatch import JITTER, SCHEDULE, DispatchConfig, Dispatcher
from webhooks.endpoints import add_endpoint, delivery_log, list_endpoints, resend
from webhooks.models import WebhookDelivery, WebhookEndpoint
from wildmail.core.db import write_transaction
from wildmail.core.outbox import EventType, emit

pytestmark = pytest.mark.postgres


def _emit(ctx, event_type=EventType.CAMPAIGN_PAUSED, data=None) -> None:
    with write_transaction(ctx.engine) as s:
        emit(s, event_type, data or {"campaign_id": 7, "slug": "leopard"}, ctx.clock.now())


def _deliveries(ctx) -> list[WebhookDelivery]:
    with ctx.session() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _past_wait(ctx, failures: int) -> None:
    """Move the clock just past the longest jittered wait after ``failures`` failures."""
    ctx.clock.advance(SCHEDULE[failures - 1] * (1 + JITTER) + timedelta(seconds=1))


def test_a_signed_event_is_retried_after_500s_then_delivered(hooks_ctx, dispatcher, receiver) -> None:
    register(hooks_ctx, receiver)
    receiver.answers = [500, 500, 500]
    _emit(hooks_ctx)
    start = hooks_ctx.clock.now()
    assert dispatcher.until_idle() == {"pending": 1}
    (row,) = _deliveries(hooks_ctx)
    assert row.attempts == 1 and row.last_status_code == 500 and row.last_error == "HTTP 500"
    low, high = SCHEDULE[0] * (1 - JITTER), SCHEDULE[0] * (1 + JITTER)
    assert row.next_attempt_at is not None and start + low <= row.next_attempt_at <= start + high
    assert dispatcher.until_idle() == {}  # not due yet: nothing is sent early
    for failures in (1, 2, 3):
        _past_wait(hooks_ctx, failures)
        dispatcher.until_idle()
    (row,) = _deliveries(hooks_ctx)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 4, 200)
    assert row.response_ms is not None
    assert [r.answered for r in receiver.received] == [500, 500, 500, 200]
    assert all(r.signature_ok for r in receiver.received)
    assert len({r.msg_id for r in receiver.received}) == 1  # one message, retried
    assert len({r.body for r in receiver.received}) == 1  # the same bytes every time
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]  # each attempt is signed at its own time
    document = receiver.received[0].document
    assert document["type"] == "campaign.paused"
    assert document["data"] == {"campaign_id": 7, "slug": "leopard"}
    assert document["timestamp"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert document["timestamp"].endswith("Z")


def test_a_wrong_secret_does_not_verify(hooks_ctx, dispatcher, receiver) -> None:
    register(hooks_ctx, receiver)
    receiver.secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    _emit(hooks_ctx)
    dispatcher.until_idle()
    assert receiver.received and not receiver.received[0].signature_ok


def test_failed_after_the_whole_schedule_then_resend_delivers(hooks_ctx, dispatcher, receiver) -> None:
    endpoint_id = register(hooks_ctx, receiver)
    receiver.default = 503
    _emit(hooks_ctx)
    start = hooks_ctx.clock.now()
    dispatcher.until_idle()
    for failures in range(1, len(SCHEDULE) + 1):
        _past_wait(hooks_ctx, failures)
        dispatcher.until_idle()
    (row,) = _deliveries(hooks_ctx)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", len(SCHEDULE) + 1, None)
    elapsed = row.last_attempt_at - start
    assert timedelta(hours=24) < elapsed < timedelta(hours=32)  # about a day of retries
    assert len(receiver.received) == len(SCHEDULE) + 1
    hooks_ctx.clock.advance(days=3)
    assert dispatcher.until_idle() == {}  # failed is final
    with hooks_ctx.session() as s:
        (summary,) = list_endpoints(s)
    assert summary.counts == {"pending": 0, "delivered": 0, "failed": 1}

    receiver.default = 204
    with write_transaction(hooks_ctx.engine) as s:
        fresh = resend(s, row.id, hooks_ctx.clock.now())
    assert dispatcher.until_idle() == {"delivered": 1}
    with hooks_ctx.session() as s:
        log = delivery_log(s, endpoint_id)
    assert [(d.id, d.status) for d in log] == [(fresh.id, "delivered"), (row.id, "failed")]
    assert receiver.received[-1].msg_id == receiver.received[0].msg_id  # the same message again


def test_410_gone_disables_the_endpoint(hooks_ctx, dispatcher, receiver) -> None:
    endpoint_id = register(hooks_ctx, receiver)
    receiver.answers = [410]
    _emit(hooks_ctx)
    assert dispatcher.until_idle() == {"failed": 1}
    with hooks_ctx.session() as s:
        endpoint = s.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None and not endpoint.enabled and "410" in endpoint.disabled_reason
    _emit(hooks_ctx, EventType.COMPLAINT, {"subscriber_id": 1})
    assert dispatcher.until_idle() == {}  # a disabled endpoint gets no new deliveries
    assert [d.status for d in _deliveries(hooks_ctx)] == ["failed"]
    assert [r.answered for r in receiver.received] == [410]


def test_only_subscribed_events_fan_out(hooks_ctx, dispatcher, receiver) -> None:
    register(hooks_ctx, receiver, "bounce,complaint")
    _emit(hooks_ctx)  # campaign.paused: not subscribed
    _emit(hooks_ctx, EventType.BOUNCE, {"subscriber_id": 3, "kind": "hard"})
    assert dispatcher.until_idle() == {"delivered": 1}
    assert [r.document["type"] for r in receiver.received] == ["bounce"]


def test_an_unanswering_endpoint_times_out_and_is_retried(hooks_ctx, receiver) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with write_transaction(hooks_ctx.engine) as s:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
            add_endpoint(s, url, "*", hooks_ctx.clock.now(), allow_private=True)
        _emit(hooks_ctx)
        quick = Dispatcher(hooks_ctx, DispatchConfig(timeout=0.5, allow_private=True))
        try:
            assert quick.until_idle() == {"pending": 1}
        finally:
            quick.close()
    finally:
        listener.close()
    (row,) = _deliveries(hooks_ctx)
    assert row.last_status_code is None and "no answer within 0.5 s" in row.last_error


def test_private_addresses_are_refused_unless_allowed(hooks_ctx, receiver) -> None:
    now = hooks_ctx.clock.now()
    with write_transaction(hooks_ctx.engine) as s:
        for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/"):
            with pytest.raises(WebhookError, match="webhooks_allow_private"):
                add_endpoint(s, url, "*", now, allow_private=False)
        for url, why in (
            ("ftp://example.org/x", "http:// or https://"),
            ("https://user:pw@example.org/x", "no user name"),
            ("https://example.org/a b", "not a URL"),
            ("http:///nohost", "with a host"),
        ):
            with pytest.raises(WebhookError, match=why):
                add_endpoint(s, url, "*", now, allow_private=True)
        with pytest.raises(WebhookError, match="unknown event type 'bounced'"):
            add_endpoint(s, "https://example.org/x", "bounced", now)
    # Registered while allowed, then the setting is turned off: every attempt refuses to connect.
    register(hooks_ctx, receiver)
    _emit(hooks_ctx)
    strict = Dispatcher(hooks_ctx, DispatchConfig(timeout=5, allow_private=False))
    try:
        assert strict.until_idle() == {"pending": 1}
    finally:
        strict.close()
    assert receiver.received == []
    (row,) = _deliveries(hooks_ctx)
    assert "private, loopback or reserved" in row.last_error


def test_secrets_are_fresh_and_long_enough(hooks_ctx) -> None:
    with write_transaction(hooks_ctx.engine) as s:
        a = add_endpoint(s, "https://a.example.org/h", "*", hooks_ctx.clock.now())
        b = add_endpoint(s, "https://b.example.org/h", "*", hooks_ctx.clock.now())
    assert a.secret.startswith("whsec_") and a.secret != b.secret
    assert len(base64.b64decode(a.secret.removeprefix("whsec_"))) >= 32
