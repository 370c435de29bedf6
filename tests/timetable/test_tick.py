"""The tick against a real database with a fake clock: due sends, catch-up, pause, exits, zones."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from campaigns.models import Enrolment
from delivery.claim import claim
from delivery.enqueue import tick
from delivery.lifecycle import (
    CampaignError,
    campaign_status,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
)
from delivery.models import Delivery
from tests.delivery.factories import add_subscribers, make_campaign, set_status
from wildmail.core.message_ids import delivery_message_id

pytestmark = pytest.mark.postgres


def utc(*args):
    return datetime(*args[:6]).replace(tzinfo=UTC)  # type: ignore[arg-type]


def deliveries(ctx):
    with ctx.session() as s:
        return s.execute(
            select(
                Delivery.subscriber_id, Delivery.position, Delivery.queued_at, Delivery.message_id
            ).order_by(Delivery.queued_at, Delivery.subscriber_id)
        ).all()


def enrolments(ctx):
    with ctx.session() as s:
        return {e.subscriber_id: e for e in s.execute(select(Enrolment)).scalars()}


def test_schedule_enrols_active_members_and_sends_at_the_slot_once(ctx, clock, backend):
    make_campaign(ctx, emails=3)
    ids = add_subscribers(ctx, 4)
    add_subscribers(ctx, [("pending@example.org", "P", None)], status="pending")
    assert schedule_campaign(ctx, "leopard") == 4
    assert tick(ctx, ctx.message_ids).queued == 0  # 08:00, slot is 09:00
    clock.set(utc(2026, 1, 5, 9))
    report = tick(ctx, ctx.message_ids)
    assert report.queued == 4 and report.advanced == 4
    assert tick(ctx, ctx.message_ids).queued == 0  # idempotent
    rows = deliveries(ctx)
    assert sorted(r.subscriber_id for r in rows) == ids
    c_id = campaign_status(ctx, "leopard")
    assert c_id.positions == {2: 4}
    first = rows[0]
    assert first.message_id == delivery_message_id(
        ctx.settings.secret, "wildmail.test", 1, 1, first.subscriber_id
    )
    for week in (1, 2, 3):
        clock.set(utc(2026, 1, 5, 9) + timedelta(weeks=week))
        tick(ctx, ctx.message_ids)
    rows = deliveries(ctx)
    assert len(rows) == 12
    assert {(r.subscriber_id, r.position) for r in rows} == {(i, p) for i in ids for p in (1, 2, 3)}
    assert {r.queued_at for r in rows} == {utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), utc(2026, 1, 19, 9)}
    assert all(e.status == "finished" for e in enrolments(ctx).values())
    with pytest.raises(CampaignError):
        schedule_campaign(ctx, "leopard")


def test_subscribers_in_utc_plus_14_and_minus_10(ctx, clock, backend):
    make_campaign(ctx, emails=2)
    kiri, hono = add_subscribers(
        ctx, [("kiri@example.org", "K", "Pacific/Kiritimati"), ("hono@example.org", "H", "Pacific/Honolulu")]
    )
    schedule_campaign(ctx, "leopard")
    for hour in range(0, 24 * 14):
        clock.set(utc(2026, 1, 5, 8) + timedelta(hours=hour))
        tick(ctx, ctx.message_ids)
    sent = {(r.subscriber_id, r.position): r.queued_at for r in deliveries(ctx)}
    assert sent == {
        (hono, 1): utc(2026, 1, 5, 19),
        (hono, 2): utc(2026, 1, 12, 19),
        (kiri, 1): utc(2026, 1, 11, 19),
        (kiri, 2): utc(2026, 1, 18, 19),
    }
    for (who, _), when in sent.items():
        local = when.astimezone(ZoneInfo("Pacific/Kiritimati" if who == kiri else "Pacific/Honolulu"))
        assert (local.weekday(), local.hour) == (0, 9)


def test_daylight_saving_change_keeps_nine_local(ctx, clock, backend):
    clock.set(utc(2026, 3, 16, 12))
    make_campaign(ctx, emails=3, weekday=6, tz="Europe/Berlin")  # Sundays 09:00 Berlin
    add_subscribers(ctx, [("anna@example.org", "Anna", None), ("ny@example.org", "Ny", "America/New_York")])
    schedule_campaign(ctx, "leopard")
    for hour in range(0, 24 * 21):
        clock.set(utc(2026, 3, 16, 12) + timedelta(hours=hour))
        tick(ctx, ctx.message_ids)
    times = [r.queued_at for r in deliveries(ctx) if r.subscriber_id == 1]
    assert times == [utc(2026, 3, 22, 8), utc(2026, 3, 29, 7), utc(2026, 4, 5, 7)]
    ny = [r.queued_at for r in deliveries(ctx) if r.subscriber_id == 2]
    assert ny == [utc(2026, 3, 22, 13), utc(2026, 3, 29, 13), utc(2026, 4, 5, 13)]  # EDT since 8 March


def test_scheduler_down_three_weeks_sends_no_burst(ctx, clock, backend):
    make_campaign(ctx, emails=4, grace_hours=24)
    add_subscribers(ctx, 3)
    schedule_campaign(ctx, "leopard")
    clock.set(utc(2026, 1, 5, 9, 0, 30))
    assert tick(ctx, ctx.message_ids).queued == 3
    clock.set(utc(2026, 1, 5, 9) + timedelta(weeks=3, hours=2))  # down for three weeks
    report = tick(ctx, ctx.message_ids)
    assert report.queued == 0 and report.rescheduled == 3
    assert {e.next_send_at for e in enrolments(ctx).values()} == {utc(2026, 2, 2, 9)}
    clock.set(utc(2026, 2, 2, 9))
    assert tick(ctx, ctx.message_ids).queued == 3
    assert sorted({r.position for r in deliveries(ctx)}) == [1, 2]


def test_short_downtime_within_grace_sends_late_and_keeps_the_gap(ctx, clock, backend):
    make_campaign(ctx, emails=3, grace_hours=48, min_gap_hours=72)
    add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(utc(2026, 1, 6, 20))  # 35 h late: inside grace
    assert tick(ctx, ctx.message_ids).queued == 2
    assert {e.next_send_at for e in enrolments(ctx).values()} == {utc(2026, 1, 12, 9)}


def test_minimum_gap_with_a_daily_cadence(ctx, clock, backend):
    make_campaign(ctx, emails=3, cadence_days=1, min_gap_hours=72)
    add_subscribers(ctx, 1)
    schedule_campaign(ctx, "leopard")
    for hour in range(0, 24 * 12):
        clock.set(utc(2026, 1, 5, 8) + timedelta(hours=hour))
        tick(ctx, ctx.message_ids)
    times = [r.queued_at for r in deliveries(ctx)]
    assert times == [utc(2026, 1, 5, 9), utc(2026, 1, 8, 9), utc(2026, 1, 11, 9)]


def test_pause_holds_queued_and_resume_continues_at_next_slot(ctx, clock, backend):
    make_campaign(ctx, emails=3)
    add_subscribers(ctx, 3)
    schedule_campaign(ctx, "leopard")
    clock.set(utc(2026, 1, 5, 9))
    tick(ctx, ctx.message_ids)
    pause_campaign(ctx, "leopard")
    assert claim(ctx, "w1", 10, timedelta(minutes=5)) == []  # queued rows are held
    clock.set(utc(2026, 1, 12, 9))
    assert tick(ctx, ctx.message_ids).queued == 0  # paused: the week-2 slot passes
    clock.set(utc(2026, 1, 12, 15))
    assert resume_campaign(ctx, "leopard") == 3
    assert (
        tick(ctx, ctx.message_ids).queued == 0
    )  # no burst on resume (still inside grace, but moved to next slot)
    assert {e.next_send_at for e in enrolments(ctx).values()} == {utc(2026, 1, 19, 9)}
    assert len(claim(ctx, "w1", 10, timedelta(minutes=5))) == 3  # held week-1 rows are released
    clock.set(utc(2026, 1, 19, 9))
    assert tick(ctx, ctx.message_ids).queued == 3
    assert sorted(r.position for r in deliveries(ctx)) == [1, 1, 1, 2, 2, 2]
    with pytest.raises(CampaignError):
        resume_campaign(ctx, "leopard")


def test_late_joiners_start_at_one_and_departures_exit(ctx, clock, backend):
    make_campaign(ctx, emails=3)
    first = add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(utc(2026, 1, 5, 9))
    tick(ctx, ctx.message_ids)
    clock.set(utc(2026, 1, 7, 12))
    late = add_subscribers(ctx, [("late@example.org", "Late", None)])[0]
    set_status(ctx, first[0], "unsubscribed")
    report = tick(ctx, ctx.message_ids)
    assert report.enrolled == 1 and report.exited == 1
    e = enrolments(ctx)
    assert e[first[0]].status == "exited" and e[first[0]].exit_reason == "unsubscribed"
    assert e[late].next_position == 1 and e[late].next_send_at == utc(2026, 1, 12, 9)
    clock.set(utc(2026, 1, 12, 9))
    tick(ctx, ctx.message_ids)
    week2 = {(r.subscriber_id, r.position) for r in deliveries(ctx) if r.queued_at == clock.now()}
    assert week2 == {(first[1], 2), (late, 1)}


@pytest.mark.parametrize("stop", [True, False])
def test_donation_click_keeps_the_series_and_flags_the_ask(ctx, clock, backend, stop):
    c = make_campaign(ctx, emails=3, stop_donation_after_click=stop)
    a, b = add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(utc(2026, 1, 5, 9))
    tick(ctx, ctx.message_ids)
    claim(ctx, "w", 10, timedelta(minutes=5))  # email 1 is out of the way
    with ctx.session() as s, s.begin():  # what tracking records for a person's donation click
        s.execute(
            update(Enrolment)
            .where(Enrolment.subscriber_id == a, Enrolment.campaign_id == c.id)
            .values(donation_clicked=True)
        )
    clock.set(utc(2026, 1, 12, 9))
    report = tick(ctx, ctx.message_ids)
    assert report.exited == 0
    assert sorted(r.subscriber_id for r in deliveries(ctx) if r.position == 2) == [a, b]
    e = enrolments(ctx)
    assert (e[a].status, e[a].exit_reason, e[a].next_position) == ("active", "", 3)
    claimed = {x.subscriber_id: x.ask_donation for x in claim(ctx, "w", 10, timedelta(minutes=5))}
    assert claimed == {a: not stop, b: True}


def test_broadcast_waits_for_its_start_date(ctx, clock, backend):
    make_campaign(ctx, emails=2, mode="broadcast", start_date=date(2026, 1, 14), weekday=2)
    add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    assert {e.next_send_at for e in enrolments(ctx).values()} == {utc(2026, 1, 14, 9)}
    with ctx.session() as s:
        assert s.execute(select(func.count()).select_from(Delivery)).scalar() == 0
