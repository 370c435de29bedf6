"""The worker's hot-path writes (``delivery.ledger``): fenced marks, and a lost connection."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from delivery.claim import claim
from delivery.enqueue import tick
from delivery.ledger import Ledger, Outcome
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery, DeliveryState, SmtpPhase
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def claimed(ctx, clock, people, owner="me"):
    make_campaign(ctx)
    add_subscribers(ctx, people)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    tick(ctx)
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
    pid = ledger._connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    ledger._connection().commit()
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    ledger.pending.append(Outcome(first.id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
    with pytest.raises(Exception):  # noqa: B017 - the driver's error for a dropped connection
        ledger.mark_data(second.id)
    assert ledger.mark_data(second.id)  # the pending outcome was kept and is written now
    assert phases(ctx) == {first.id: "sent/done", second.id: "sending/data"}
    ledger.close()
