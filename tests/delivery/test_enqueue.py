"""The tick's bulk step on PostgreSQL: advancing enrolments rewrites rows in place (HOT updates)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from campaigns.models import Campaign, Enrolment
from delivery.enqueue import TickReport, enqueue_campaign
from delivery.lifecycle import schedule_campaign
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.runtime.context import AppContext

pytestmark = pytest.mark.postgres_only
SLOT = datetime(2026, 1, 5, 9, tzinfo=UTC)
READERS = 400  # several pages of enrolments, so a full page without room would show


def _step(ctx: AppContext, now: datetime) -> tuple[TickReport, int, int]:
    """One campaign step in a transaction: (report, enrolment rows updated, of which HOT)."""
    counters = text(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'enrolments'"
    )
    report = TickReport()
    with ctx.session() as s:
        c = s.execute(select(Campaign)).scalar_one()
        updated_before, hot_before = s.execute(counters).one()  # may hold earlier unflushed counts
        enqueue_campaign(s, c, now, ctx.message_ids, report)
        updated, hot = s.execute(counters).one()
        s.commit()
    return report, updated - updated_before, hot - hot_before


def test_every_step_updates_enrolments_in_place(ctx: AppContext, clock, backend: str) -> None:
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, READERS)
    schedule_campaign(ctx, "leopard")

    report, updated, hot = _step(ctx, SLOT)
    assert report.queued == report.advanced == READERS
    assert updated == hot == READERS

    # A week passes before the next step, and autovacuum with it: the first step's old row versions
    # go, so the page has room again (without this, a busy server's horizon can keep them).
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM enrolments"))
    report, updated, hot = _step(ctx, SLOT + timedelta(days=7))  # the last email: all finish
    assert report.queued == report.advanced == READERS
    assert updated == hot == READERS
    with ctx.session() as s:
        statuses = s.execute(select(Enrolment.status, Enrolment.next_position)).all()
    assert set(statuses) == {("finished", 3)}
