"""The worker against a real SMTP server on loopback, with injected faults."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from delivery import ratelimit
from delivery.claim import claim, reap
from delivery.enqueue import tick
from delivery.file_transport import FileTransport
from delivery.ledger import Ledger
from delivery.lifecycle import schedule_campaign, test_send
from delivery.models import Delivery, RelayState
from delivery.retry import RetryPolicy
from delivery.smtp_transport import SmtpTransport
from delivery.worker import Worker, WorkerConfig, run_worker_once
from subscribers.addresses import address_hash
from subscribers.models import Subscriber, Suppression
from tests.delivery.conftest import BOTH_PATHS
from tests.delivery.factories import add_subscribers, make_campaign, set_status
from wildmail.core import tokens

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def queue(ctx, clock, people=3, **kw):
    make_campaign(ctx, **kw)
    ids = add_subscribers(ctx, people)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == len(ids)
    return ids


def states(ctx):
    with ctx.session() as s:
        return dict(s.execute(select(Delivery.subscriber_id, Delivery.state)).all())


def rows(ctx):
    with ctx.session() as s:
        return {d.subscriber_id: d for d in s.execute(select(Delivery)).scalars()}


def smtp(server, **kw):
    return SmtpTransport("127.0.0.1", server.port, timeout=kw.pop("timeout", 2.0), **kw)


def config(**kw):
    return WorkerConfig(retry=RetryPolicy(jitter=0.0), **kw)


def test_sends_each_queued_delivery_once_over_one_connection(ctx, clock, smtp_server, backend):
    ids = queue(ctx, clock, 5)
    before = smtp_server.connections  # the server's own start-up check connects once
    transport = smtp(smtp_server)
    one_at_a_time = []  # the unpipelined path's entry point: must stay unused against this relay
    real_send = transport.send

    def send(envelope, before_data):
        one_at_a_time.append(envelope.recipient)
        return real_send(envelope, before_data)

    transport.send = send  # type: ignore[method-assign]
    assert run_worker_once(ctx, transport, ctx.sender(), config()) == 5
    assert transport._conn is not None and transport._conn.has_extn("pipelining")
    assert run_worker_once(ctx, transport, ctx.sender(), config()) == 0
    transport.close()
    assert one_at_a_time == [], "the worker must stream (RFC 2920) to a relay offering PIPELINING"
    assert set(states(ctx).values()) == {"sent"}
    assert smtp_server.connections - before == 1
    assert sorted(smtp_server.recipients()) == sorted(f"reader{i}@example.org" for i in range(5))
    by_id = rows(ctx)
    for received in smtp_server.messages:
        msg = received.message
        sub = int(msg["To"].addresses[0].addr_spec[6:-12]) + ids[0]
        assert msg["Message-ID"] == by_id[sub].message_id
        url = msg["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
        assert tokens.parse_unsubscribe(ctx.settings.secret, url.rsplit("/", 1)[1]) == by_id[sub].id
    assert all(d.smtp_phase == "done" and d.sent_at == SLOT and d.lease_owner is None for d in by_id.values())


def test_4xx_then_success_is_sent_once_after_backoff(ctx, clock, smtp_server, backend):
    (sub,) = queue(ctx, clock, 1)
    smtp_server.fail("rcpt", 451, "try later", times=2)
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    d = rows(ctx)[sub]
    assert (
        d.state == "retry_wait"
        and d.smtp_phase == "rcpt"
        and d.next_attempt_at == SLOT + timedelta(minutes=1)
    )
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0  # not due yet
    clock.advance(minutes=1)
    run_worker_once(ctx, t, ctx.sender(), config())
    assert rows(ctx)[sub].next_attempt_at == clock.now() + timedelta(minutes=2)  # exponential
    clock.advance(minutes=2)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 1
    d = rows(ctx)[sub]
    assert d.state == "sent" and d.attempts == 3
    assert len(smtp_server.messages) == 1


@BOTH_PATHS
@pytest.mark.parametrize("phase", ["rcpt", "data"])
def test_5xx_bounces_suppresses_and_is_never_retried(ctx, clock, smtp_server, backend, phase):
    """A refusal about the recipient (5.1.1), at RCPT or after DATA (a relay that checks late)."""
    a, b = queue(ctx, clock, 2)
    if phase == "rcpt":
        smtp_server.hard_bounce.add("reader0@example.org")
    else:
        smtp_server.fail("data", 554, "5.1.1 <reader0@example.org>: no such mailbox")
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 1
    assert states(ctx) == {a: "bounced", b: "sent"}
    with ctx.session() as s:
        assert s.get(Subscriber, a).status == "bounced"
        assert s.execute(select(Suppression.address_hash)).scalars().all() == [
            address_hash("reader0@example.org")
        ]
    clock.advance(days=30)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    assert smtp_server.recipients() == ["reader1@example.org"]
    assert tick(ctx, ctx.message_ids).exited == 1


@BOTH_PATHS
def test_421_backs_off_the_whole_relay(ctx, clock, smtp_server, backend):
    queue(ctx, clock, 4)
    smtp_server.fail("mail", 421, "too busy")
    t = smtp(smtp_server)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    assert sorted(states(ctx).values()) == ["queued", "queued", "queued", "retry_wait"]
    status = ratelimit.relay_status(ctx, t.name)
    assert status is not None and status.paused(ctx.clock.now())
    assert status.backoff_until == SLOT + timedelta(minutes=5)
    other = smtp(smtp_server)  # another worker sharing the database also waits
    assert run_worker_once(ctx, other, ctx.sender(), config()) == 0
    assert smtp_server.messages == []
    clock.advance(minutes=5, seconds=1)
    assert run_worker_once(ctx, other, ctx.sender(), config()) == 4
    assert set(states(ctx).values()) == {"sent"}


@BOTH_PATHS
@pytest.mark.parametrize("fault", ["drop_rcpt", "timeout_rcpt", "drop_mail_fresh"])
def test_broken_conversation_before_data_is_retried(ctx, clock, smtp_server, backend, fault):
    (sub,) = queue(ctx, clock, 1)
    if fault == "drop_rcpt":
        smtp_server.drop("rcpt")
    elif fault == "timeout_rcpt":
        smtp_server.delay("rcpt", 1.5)
    else:
        smtp_server.drop("mail")
    t = smtp(smtp_server, timeout=0.5)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    assert rows(ctx)[sub].state == "retry_wait"
    clock.advance(minutes=2)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 1
    assert smtp_server.recipients() == ["reader0@example.org"]


@BOTH_PATHS
@pytest.mark.parametrize("fault", ["drop", "timeout"])
def test_broken_conversation_during_data_is_unknown_and_not_resent(ctx, clock, smtp_server, backend, fault):
    a, b = queue(ctx, clock, 2)
    if fault == "drop":
        smtp_server.drop("data")
    else:
        smtp_server.delay("data", 1.5)
    t = smtp(smtp_server, timeout=0.5)
    run_worker_once(ctx, t, ctx.sender(), config())
    if smtp_server.pipelining:
        # b's MAIL/RCPT/DATA went out behind a's content and were never answered: not delivered,
        # so retried after the back-off (never unknown)
        assert states(ctx) == {a: "unknown", b: "retry_wait"} and rows(ctx)[b].smtp_phase == "mail"
        clock.advance(minutes=2)
        assert run_worker_once(ctx, t, ctx.sender(), config()) == 1
    assert states(ctx) == {a: "unknown", b: "sent"}
    assert rows(ctx)[a].smtp_phase == "data"
    clock.advance(days=1)
    assert run_worker_once(ctx, t, ctx.sender(), config()) == 0
    resend = config(resend_unknown=True)
    assert resend.resend_unknown


def test_reaper_requeues_before_data_and_marks_unknown_inside_data(ctx, clock, backend):
    queue(ctx, clock, 3)
    held = claim(ctx, "crashed-worker", 10, timedelta(seconds=30))
    assert len(held) == 3
    crashed = Ledger(ctx, "crashed-worker")  # the worker's own DATA mark, then the worker dies
    assert crashed.mark_data(held[0].id)
    assert reap(ctx) == {"requeued": 0, "unknown": 0}  # leases still valid
    clock.advance(seconds=31)
    assert reap(ctx) == {"requeued": 2, "unknown": 1}
    by_id = {d.id: d for d in rows(ctx).values()}
    assert by_id[held[0].id].state == "unknown"
    assert {by_id[h.id].state for h in held[1:]} == {"queued"}
    # The crashed worker cannot take its row back once someone else holds it.
    again = claim(ctx, "new-worker", 10, timedelta(seconds=30))
    assert sorted(c.id for c in again) == sorted(h.id for h in held[1:])
    assert not Ledger(ctx, "crashed-worker").mark_data(held[1].id)


def test_unsubscribed_between_enqueue_and_send_is_not_mailed(ctx, clock, smtp_server, backend):
    a, b, c = queue(ctx, clock, 3)
    set_status(ctx, a, "unsubscribed")
    with ctx.session() as s:
        s.add(
            Suppression(address_hash=address_hash("reader1@example.org"), reason="complaint", created_at=SLOT)
        )
        s.commit()
    assert run_worker_once(ctx, smtp(smtp_server), ctx.sender(), config()) == 1
    assert states(ctx) == {a: "suppressed", b: "suppressed", c: "sent"}
    assert smtp_server.recipients() == ["reader2@example.org"]


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
def test_stop_releases_unsent_part_of_the_batch(ctx, clock, smtp_server, backend):
    queue(ctx, clock, 6)
    worker = Worker(ctx, smtp(smtp_server), ctx.sender(), config(batch=6))
    real_send = worker.transport.send
    calls = []

    def send_then_stop(envelope, before_data):
        calls.append(envelope.recipient)
        if len(calls) == 2:
            worker.stop.set()  # SIGTERM arrives while the second message is in flight
        return real_send(envelope, before_data)

    worker.transport.send = send_then_stop  # type: ignore[method-assign]
    assert worker.run_once() == 2
    assert Counter(states(ctx).values()) == {"sent": 2, "queued": 4}
    assert all(d.attempts == 0 for d in rows(ctx).values() if d.state == "queued")


def test_stop_while_streaming_finishes_the_message_in_flight_and_releases_the_rest(
    ctx, clock, smtp_server, backend
):
    queue(ctx, clock, 6)
    worker = Worker(ctx, smtp(smtp_server), ctx.sender(), config(batch=6))
    real_stream = worker.transport.send_stream  # type: ignore[attr-defined]

    def stream_then_stop(jobs, report):
        def report_then_stop(job, result):
            worker.stop.set()  # SIGTERM arrives as message 1 is reported: message 2 is in flight
            report(job, result)

        real_stream(jobs, report_then_stop)

    worker.transport.send_stream = stream_then_stop  # type: ignore[attr-defined]
    assert worker.run_once() == 2
    assert Counter(states(ctx).values()) == {"sent": 2, "queued": 4}
    assert all(d.attempts == 0 for d in rows(ctx).values() if d.state == "queued")
    assert len(smtp_server.messages) == 2


def test_rate_limit_is_shared_through_the_database(ctx, clock, smtp_server, backend):
    queue(ctx, clock, 10)
    t = smtp(smtp_server)
    cfg = config(rate_per_second=2.0)
    assert run_worker_once(ctx, t, ctx.sender(), cfg) == 0  # empty bucket to start with
    clock.advance(seconds=1)
    assert run_worker_once(ctx, t, ctx.sender(), cfg) == 2
    clock.advance(seconds=10)
    assert run_worker_once(ctx, t, ctx.sender(), cfg) == 2  # bucket holds at most one second of tokens
    with ctx.session() as s:
        assert s.get(RelayState, t.name).tokens == 0


def test_file_transport_and_test_send(ctx, clock, smtp_server, tmp_path, backend):
    queue(ctx, clock, 2)
    assert run_worker_once(ctx, FileTransport(tmp_path / "out"), ctx.sender(), config()) == 2
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2 and files[0].read_bytes().count(b"List-Unsubscribe-Post") == 1
    assert test_send(ctx, ctx.sender(), "leopard", "marketer@example.org", smtp(smtp_server)) == 3
    subjects = [m.message["Subject"] for m in smtp_server.messages]
    assert subjects == [f"[TEST] Part {n}: the leopard's forest" for n in (1, 2, 3)]
    assert len(states(ctx)) == 2  # test sends are not deliveries


class Crash(BaseException):
    """Stands in for the process dying (nothing after it runs)."""


def test_crash_with_a_mark_window_leaves_unknowns_never_duplicates(ctx, clock, smtp_server, backend):
    queue(ctx, clock, 6)
    real = smtp(smtp_server)
    calls = []

    class DiesInSecondMessage:
        name = real.name

        def send(self, envelope, before_data):
            calls.append(envelope.recipient)
            if len(calls) == 2:
                assert before_data()
                raise Crash  # killed after the window's mark, before DATA of message 2
            return real.send(envelope, before_data)

        def close(self):
            real.close()

    worker = Worker(
        ctx, DiesInSecondMessage(), ctx.sender(), config(batch=6, mark_window=4, lease=timedelta(seconds=30))
    )
    with pytest.raises(Crash):
        worker.run_once()
    clock.advance(seconds=31)
    assert reap(ctx) == {"requeued": 2, "unknown": 4}  # the window of 4 is reported, the rest requeued
    by_sub = states(ctx)
    assert Counter(by_sub.values()) == {"unknown": 4, "queued": 2}
    assert run_worker_once(ctx, smtp(smtp_server), ctx.sender(), config()) == 2
    assert len(smtp_server.messages) == 3  # message 1 (unknown, really sent) + the 2 requeued, no repeats
    assert len(set(smtp_server.recipients())) == 3


def test_lease_taken_mid_batch_stops_that_message_and_keeps_the_previous_sent(
    ctx, clock, smtp_server, backend
):
    """The one-statement hot path (previous ``sent`` + next ``data`` mark) is fenced by the lease."""
    queue(ctx, clock, 3)
    real = smtp(smtp_server)
    calls = []

    class StealsSecondLease:
        name = real.name

        def send(self, envelope, before_data):
            calls.append(envelope.recipient)
            if len(calls) == 2:  # another worker took this row over (its lease had expired)
                with ctx.engine.begin() as conn:
                    conn.execute(
                        update(Delivery)
                        .where(Delivery.message_id == envelope.message_id)
                        .values(lease_owner="other-worker")
                    )
            return real.send(envelope, before_data)

        def close(self):
            real.close()

    assert run_worker_once(ctx, StealsSecondLease(), ctx.sender(), config()) == 2
    real.close()
    assert len(calls) == 3 and len(smtp_server.messages) == 2
    assert sorted(smtp_server.recipients()) == sorted(calls[0:1] + calls[2:3])
    by_sub = rows(ctx)
    stolen = next(d for d in by_sub.values() if d.lease_owner == "other-worker")
    assert stolen.state == "sending" and stolen.smtp_phase == "none"
    assert sorted(d.state for d in by_sub.values()) == ["sending", "sent", "sent"]
    assert all(d.smtp_phase == "done" and d.sent_at == SLOT for d in by_sub.values() if d.state == "sent")
