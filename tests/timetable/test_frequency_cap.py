"""The promise across series: a person gets at most one email per cadence from all running
series together (the list's frequency cap, one a week by default); a second series waits for the
next free slot, and ``status`` says so. On the fake clock, through the real tick."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select, update

from delivery.enqueue import tick
from delivery.lifecycle import campaign_status, schedule_campaign
from delivery.models import Delivery
from subscribers.models import SubscriberList
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres

MONDAY_0900 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def sends(ctx) -> dict[int, list[tuple[datetime, int]]]:
    """Per subscriber: (queued at, campaign id) in time order."""
    out: dict[int, list[tuple[datetime, int]]] = {}
    with ctx.session() as s:
        for sub, at, campaign in s.execute(
            select(Delivery.subscriber_id, Delivery.queued_at, Delivery.campaign_id).order_by(
                Delivery.queued_at
            )
        ):
            out.setdefault(sub, []).append((at, campaign))
    return out


def run_weeks(ctx, clock, weeks: int, hours=range(0, 24 * 7, 1)) -> None:
    start = clock.now()
    for week in range(weeks):
        for hour in hours:
            clock.set(start + timedelta(weeks=week, hours=hour))
            tick(ctx, ctx.message_ids)


def test_two_series_on_one_list_never_mail_a_person_twice_in_a_week(ctx, clock, backend):
    a = make_campaign(ctx, slug="leopard", emails=2, weekday=0, hour=9)
    b = make_campaign(ctx, slug="tiger", emails=2, weekday=2, hour=9, tz="Europe/Paris")
    people = add_subscribers(ctx, [("ana@example.org", "A", None), ("ben@example.org", "B", "Asia/Tokyo")])
    schedule_campaign(ctx, "leopard")  # Monday 08:00 UTC: Ana's first slot is in an hour, Ben's
    schedule_campaign(ctx, "tiger")  # (Tokyo) next week; tiger is on Wednesdays for both
    run_weeks(ctx, clock, 1, range(0, 3 * 24))  # to Wednesday night
    status = campaign_status(ctx, "tiger")
    assert status.held == 1 and status.positions == {1: 1, 2: 1}  # Ana waits; Ben had no email yet
    run_weeks(ctx, clock, 6, range(0, 24 * 7, 3))
    mailed = sends(ctx)
    assert sorted(mailed) == people
    for person, history in mailed.items():
        assert [c for _, c in history].count(a.id) == 2 and [c for _, c in history].count(b.id) == 2
        gaps = [later - earlier for (earlier, _), (later, _) in pairwise(history)]
        assert all(gap >= timedelta(days=6) for gap in gaps), (person, history)
    ana, ben = (mailed[p] for p in people)
    assert [c for _, c in ana] == [a.id, a.id, b.id, b.id]  # the second series waited its turn
    assert next(c for _, c in ben) == b.id  # tiger came first for Ben; leopard then waited for it
    assert campaign_status(ctx, "tiger").held == 0


def test_same_slot_series_take_turns_and_a_list_without_cap_sends_both(ctx, clock, backend):
    make_campaign(ctx, slug="leopard", emails=1, weekday=0, hour=9)
    make_campaign(ctx, slug="tiger", emails=1, weekday=0, hour=9)
    add_subscribers(ctx, 3)
    schedule_campaign(ctx, "leopard")
    schedule_campaign(ctx, "tiger")
    clock.set(MONDAY_0900)
    report = tick(ctx, ctx.message_ids)
    assert (report.queued, report.held) == (3, 3)
    clock.set(MONDAY_0900 + timedelta(weeks=1))
    assert tick(ctx, ctx.message_ids).queued == 3  # tiger, a week later at its own slot
    assert all(len(h) == 2 and h[1][0] - h[0][0] == timedelta(weeks=1) for h in sends(ctx).values())


def test_a_list_with_no_cap_keeps_each_series_own_timetable(ctx, clock, backend):
    make_campaign(ctx, slug="leopard", emails=1, weekday=0, hour=9)
    make_campaign(ctx, slug="tiger", emails=1, weekday=0, hour=9)
    add_subscribers(ctx, 2)
    with ctx.session() as s:
        s.execute(update(SubscriberList).values(frequency_cap_days=0))
        s.commit()
    schedule_campaign(ctx, "leopard")
    schedule_campaign(ctx, "tiger")
    clock.set(MONDAY_0900)
    report = tick(ctx, ctx.message_ids)
    assert (report.queued, report.held) == (4, 0)
