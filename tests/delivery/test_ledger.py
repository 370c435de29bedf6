"""The worker's hot-path writes (``delivery.ledger``): fenced marks, and a lost connection."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from delivery.claim import claim
from delivery.enqueue import tick
from delivery.ledger import Ledger, Outcome
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery, DeliveryState, SmtpPhase
from tests.delivery import reference_marks as reference
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.core.db import write_transaction

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def claimed(ctx, clock, people, owner="me"):
    make_campaign(ctx)
    add_subscribers(ctx, people)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    tick(ctx, ctx.message_ids)
    return claim(ctx, owner, people, timedelta(minutes=5))


def phases(ctx):
    with ctx.session() as s:
        return dict(s.execute(select(Delivery.id, Delivery.state + "/" + Delivery.smtp_phase)).all())


def test_sent_and_next_mark_are_one_write_fenced_by_the_owner(ctx, clock, backend):
    first, second, third = claimed(ctx, clock, 3)
    ledger = Ledger(ctx, "me")
    assert ledger.mark_data(first.id)
    ledger.pending.append(Outcome(first.id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
    assert ledger.mark_data(second.id)
    assert phases(ctx) == {first.id: "sent/done", second.id: "sending/data", third.id: "sending/none"}
    ledger.pending.append(Outcome(second.id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
    other = Ledger(ctx, "someone-else")
    other.pending.append(Outcome(second.id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
    assert not other.mark_data(third.id)  # not its lease: neither row changes
    assert phases(ctx)[third.id] == "sending/none" and phases(ctx)[second.id] == "sending/data"
    other.pending.clear()
    other.close()
    ledger.close()


@pytest.mark.postgres_only  # a connection the server drops (SQLite has no server)
def test_a_lost_database_connection_costs_one_mark_then_a_new_one_is_used(ctx, clock, backend):
    first, second = claimed(ctx, clock, 2)
    ledger = Ledger(ctx, "me")
    assert ledger.mark_data(first.id)
    pid = ledger.store.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    ledger.store.connection().commit()
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    ledger.pending.append(Outcome(first.id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
    with pytest.raises(Exception):  # noqa: B017 - the driver's error for a dropped connection
        ledger.mark_data(second.id)
    assert ledger.mark_data(second.id)  # the pending outcome was kept and is written now
    assert phases(ctx) == {first.id: "sent/done", second.id: "sending/data"}
    ledger.close()


COLUMNS = (
    Delivery.state,
    Delivery.smtp_phase,
    Delivery.sent_at,
    Delivery.updated_at,
    Delivery.last_reply,
    Delivery.lease_owner,
    Delivery.lease_expires_at,
)


def rows(ctx, ids):
    query = select(Delivery.id, *COLUMNS).where(Delivery.id.in_(ids))
    with ctx.session() as s:
        found = {r[0]: tuple(r[1:]) for r in s.execute(query)}
    return [found[i] for i in ids]


def two_halves(ctx, clock):
    """Eight leased rows in two halves of four; the last of each half leased by another worker."""
    held = [c.id for c in claimed(ctx, clock, 8)]
    ours, theirs = held[:4], held[4:]
    with write_transaction(ctx.engine) as s:
        s.execute(update(Delivery).where(Delivery.id.in_([ours[3], theirs[3]])).values(lease_owner="other"))
    return ours, theirs


def test_one_statement_marks_write_what_the_orm_reference_writes(ctx, clock, backend):
    ours, theirs = two_halves(ctx, clock)
    ledger = Ledger(ctx, "me")
    for step in range(4):
        clock.advance(timedelta(seconds=1 + step))
        got = ledger.mark_data(ours[step])  # the previous message's ``sent`` in the same statement
        with write_transaction(ctx.engine) as s:
            if step:
                reference.mark_sent(s, "me", theirs[step - 1], f"250 ok {step - 1}", clock.now())
            expected = reference.mark_data(s, "me", theirs[step], clock.now())
        assert got == expected == (step < 3)
        if got:
            ledger.pending.append(Outcome(ours[step], DeliveryState.SENT, SmtpPhase.DONE, f"250 ok {step}"))
    ledger.close()
    assert rows(ctx, ours) == rows(ctx, theirs)
    assert [r[:2] for r in rows(ctx, ours)] == [("sent", "done")] * 3 + [("sending", "none")]


def test_window_marks_write_what_the_orm_reference_writes(ctx, clock, backend):
    ours, theirs = two_halves(ctx, clock)
    ledger = Ledger(ctx, "me")
    clock.advance(timedelta(seconds=1))
    assert ledger.mark_data(ours[0], ours)  # one transaction marks the three rows still ours
    with write_transaction(ctx.engine) as s:
        assert [reference.mark_data(s, "me", i, clock.now()) for i in theirs] == [True] * 3 + [False]
    for step in range(3):
        clock.advance(timedelta(seconds=2))
        assert ledger.mark_data(ours[step], ours[step:])  # marked already: no write
        ledger.pending.append(Outcome(ours[step], DeliveryState.SENT, SmtpPhase.DONE, f"250 ok {step}"))
    assert rows(ctx, ours) == rows(ctx, theirs)
    assert not ledger.mark_data(ours[3], ours[3:])  # the three ``sent`` rows in the same transaction
    with write_transaction(ctx.engine) as s:
        for step in range(3):
            assert reference.mark_sent(s, "me", theirs[step], f"250 ok {step}", clock.now())
        assert not reference.mark_data(s, "me", theirs[3], clock.now())
    ledger.close()
    assert rows(ctx, ours) == rows(ctx, theirs)
    assert [r[:2] for r in rows(ctx, ours)] == [("sent", "done")] * 3 + [("sending", "none")]
