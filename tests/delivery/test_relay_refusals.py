"""A relay that refuses everyone, or keeps dropping the connection, must not wipe the list (issue 14).

Real SMTP server on loopback, on both sending paths: one message at a time (``plain``) and
MAIL/RCPT/DATA streamed with the previous message's content (``pipelined``, RFC 2920).
"""

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from delivery import ratelimit
from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from delivery.retry import RetryPolicy
from delivery.smtp_transport import SmtpTransport
from delivery.worker import Worker, WorkerConfig, run_worker_once
from subscribers.addresses import address_hash
from subscribers.models import ConsentEvent, Subscriber, Suppression
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.runtime.smtp_sink import RecordingSMTPServer

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["plain", "pipelined"])
def relay(request: pytest.FixtureRequest) -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer(pipelining=request.param == "pipelined").start()
    yield server
    server.stop()


def queue(ctx, clock, people):
    make_campaign(ctx, emails=1)
    ids = add_subscribers(ctx, people)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == len(ids)
    return ids


def transport(server, timeout=2.0):
    t = SmtpTransport("127.0.0.1", server.port, timeout=timeout)
    return t


def config(**kw):
    return WorkerConfig(retry=RetryPolicy(jitter=0.0), **kw)


def send_all(ctx, server, passes=10, **kw):
    """Run worker passes until nothing more is claimed (or the relay is paused)."""
    t = transport(server)
    try:
        for _ in range(passes):
            worker = Worker(ctx, t, ctx.sender(), config(**kw))
            try:
                worker.run_once()
                worker.settle_held()
            finally:
                worker.ledger.close()
            if worker.last_claimed == 0:
                break
    finally:
        t.close()
    return t.name


def damage(ctx):
    """What a refusal may have done to the list: suppressions, bounced people, bounced deliveries."""
    with ctx.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Suppression)),
            s.scalar(select(func.count()).where(Subscriber.status == "bounced")),
            s.scalar(select(func.count()).where(Delivery.state == "bounced")),
        )


def delivery_states(ctx):
    with ctx.session() as s:
        return Counter(s.execute(select(Delivery.state)).scalars())


def attempts(ctx):
    with ctx.session() as s:
        return set(s.execute(select(Delivery.attempts)).scalars())


@pytest.mark.parametrize(
    "phase,code,reply",
    [
        ("rcpt", 554, "5.7.1 <{rcpt}>: Relay access denied"),
        ("rcpt", 550, "5.7.1 Relaying denied"),
        ("rcpt", 530, "5.7.0 Authentication required"),
        ("rcpt", 550, "relay not permitted"),  # no enhanced code: the text decides
        ("rcpt", 550, "5.1.1 <{rcpt}>: User unknown"),  # recipient-like, but said to everyone
        ("mail", 553, "5.1.8 Sender address rejected: Domain not found"),
        ("data", 554, "5.7.1 Message rejected as spam"),
        ("data", 554, "Message refused: spam content"),
        ("data", 550, "5.6.0 Content rejected"),
    ],
)
def test_a_relay_refusing_every_message_suppresses_nobody_and_pauses(
    ctx, clock, relay, backend, caplog, phase, code, reply
):
    queue(ctx, clock, 200)
    relay.fail(phase, code, reply.replace("{rcpt}", "someone@example.org"), times=10_000)
    with caplog.at_level(logging.WARNING, logger="wildmail.worker"):
        name = send_all(ctx, relay)
    assert damage(ctx) == (0, 0, 0)
    states = delivery_states(ctx)
    assert set(states) <= {"queued", "retry_wait"} and states.total() == 200
    assert attempts(ctx) == {0}  # waiting for a paused relay never brings the give-up closer
    status = ratelimit.relay_status(ctx, name)
    assert status is not None and status.paused(clock.now()) and status.alert
    assert "@" not in status.alert  # addresses are not copied into the alert
    assert status.alert_since == SLOT and status.backoff_until == SLOT + timedelta(minutes=15)
    assert [r.levelno for r in caplog.records if "paused until" in r.getMessage()] == [logging.WARNING]
    assert relay.messages == []
    # When the pause ends and the relay still refuses, the next pause is twice as long.
    clock.set(status.backoff_until + timedelta(seconds=1))
    send_all(ctx, relay)
    again = ratelimit.relay_status(ctx, name)
    assert again is not None and again.pauses == 2
    assert again.backoff_until == clock.now() + timedelta(minutes=30) and again.alert_since == SLOT
    assert damage(ctx) == (0, 0, 0)


def test_genuine_recipient_refusals_in_a_mixed_list_suppress_exactly_those(ctx, clock, relay, backend):
    ids = queue(ctx, clock, 30)
    # Two side by side (a short streak broken by the next accepted message), one alone, one last.
    genuine = {"reader3@example.org", "reader4@example.org", "reader17@example.org", "reader29@example.org"}
    relay.hard_bounce.update(genuine)
    name = send_all(ctx, relay)
    with ctx.session() as s:
        suppressed = set(s.execute(select(Suppression.address_hash)).scalars())
        bounced = set(s.execute(select(Subscriber.email).where(Subscriber.status == "bounced")).scalars())
        events = s.execute(select(ConsentEvent.to_status, ConsentEvent.source)).all()
    assert suppressed == {address_hash(a) for a in genuine}
    assert bounced == genuine
    assert events == [("bounced", "bounce")] * 4
    assert delivery_states(ctx) == {"sent": len(ids) - 4, "bounced": 4}
    status = ratelimit.relay_status(ctx, name)
    assert status is None or (status.alert == "" and status.backoff_until is None)


def test_a_refusal_streak_is_carried_over_a_batch_end(ctx, clock, relay, backend):
    """Batches of 3: the streak of a relay answering ``5.1.1`` to everyone spans two batches."""
    queue(ctx, clock, 12)
    relay.fail("rcpt", 550, "5.1.1 mailbox unavailable", times=10_000)
    t = transport(relay)
    worker = Worker(ctx, t, ctx.sender(), config(batch=3))
    try:
        worker.run_once()
        assert len(worker.held) == 3 and damage(ctx) == (0, 0, 0)  # nothing judged yet
        worker.run_once()
        assert worker.held == []
    finally:
        worker.ledger.close()
        t.close()
    assert damage(ctx) == (0, 0, 0)
    assert delivery_states(ctx) == {"retry_wait": 5, "queued": 7}
    status = ratelimit.relay_status(ctx, t.name)
    assert status is not None and "5 different recipients" in status.alert


def test_a_stopping_worker_hands_an_unjudged_streak_back_to_the_queue(ctx, clock, relay, backend):
    queue(ctx, clock, 6)
    relay.fail("rcpt", 550, "5.1.1 mailbox unavailable", times=10_000)

    class StopsAfterOneBatch(Worker):
        def run_once(self):
            sent = super().run_once()
            self.stop.set()  # SIGTERM arrives between two batches
            return sent

    worker = StopsAfterOneBatch(ctx, transport(relay), ctx.sender(), config(batch=3))
    worker.run()
    assert damage(ctx) == (0, 0, 0)
    assert delivery_states(ctx) == {"queued": 6} and attempts(ctx) == {0}


def test_a_relay_dropping_every_connection_after_data_is_paused_with_a_warning(
    ctx, clock, relay, backend, caplog
):
    queue(ctx, clock, 20)
    relay.drop("data", times=10_000)
    with caplog.at_level(logging.WARNING, logger="wildmail.worker"):
        run_worker_once(ctx, transport(relay, timeout=1.0), ctx.sender(), config())
    states = delivery_states(ctx)
    assert states["unknown"] == 5 and "sent" not in states
    status = ratelimit.relay_status(ctx, transport(relay).name)
    assert status is not None and status.paused(clock.now())
    assert status.alert.startswith("5 messages in a row ended unknown")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("paused until" in w and "unknown" in w for w in warnings)
    # Nothing is sent while it is paused, by this worker or another.
    assert run_worker_once(ctx, transport(relay), ctx.sender(), config()) == 0


def test_an_accepted_message_ends_the_alert_and_resume_lifts_the_pause(ctx, clock, relay, backend):
    queue(ctx, clock, 10)
    relay.fail("rcpt", 554, "5.7.1 Relay access denied", times=1)
    name = send_all(ctx, relay)
    paused = ratelimit.relay_status(ctx, name)
    assert paused is not None and paused.alert and paused.paused(clock.now())
    resumed = ratelimit.resume(ctx, name)
    assert not resumed.paused(clock.now()) and resumed.alert == ""
    send_all(ctx, relay)
    assert delivery_states(ctx) == {"sent": 9, "retry_wait": 1}  # the refused one waits its pause out
    after = ratelimit.relay_status(ctx, name)
    assert after is not None and after.pauses == 0 and after.alert_since is None
    with pytest.raises(ratelimit.UnknownRelay, match=r"known relays: 127\.0\.0\.1"):
        ratelimit.resume(ctx, "nowhere:25")
