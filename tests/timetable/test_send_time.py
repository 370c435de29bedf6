"""Send-time optimisation on the fake clock: real tick, worker, SMTP server and HTTP opens.

A weekly Monday 09:00 UTC series with STO on (window 07-20). Over three weeks, one reader of the
STO half opens every email at 18:05 in a browser; another of that half opens only through Apple's
privacy proxy (machine opens); a third opens twice only; a reader of the control half opens like
the first. From week 4 the first gets the series at 18:00, everyone else still at 09:00, and each
still gets one email a week.
"""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from campaigns.models import Enrolment
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from stats.engagement import send_time
from tests.delivery.factories import add_subscribers, make_campaign
from tests.timetable.engagement_helpers import APPLE_PROXY, inbox, open_pixel, run_at
from tracking import sendtime
from tracking.engagement_models import SendTimeProfile

pytestmark = pytest.mark.postgres
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings, smtp_server):
    return settings.with_overrides(smtp_port=smtp_server.port)


def _people_by_arm(ctx, campaign_id: int) -> dict[str, list[int]]:
    with ctx.session() as s:
        rows = s.execute(
            select(Enrolment.sto_arm, Enrolment.subscriber_id)
            .where(Enrolment.campaign_id == campaign_id)
            .order_by(Enrolment.subscriber_id)
        ).all()
    out: dict[str, list[int]] = {}
    for arm, sid in rows:
        out.setdefault(arm, []).append(sid)
    return out


def _send_times(ctx, subscriber_id: int) -> list[datetime]:
    with ctx.session() as s:
        return list(
            s.scalars(
                select(Delivery.queued_at)
                .where(Delivery.subscriber_id == subscriber_id)
                .order_by(Delivery.queued_at)
            )
        )


def test_sto_moves_only_readers_with_enough_human_opens_and_keeps_one_a_week(
    ctx, clock, smtp_server, client, backend
):
    c = make_campaign(ctx, emails=6, weekday=0, hour=9)
    ids = add_subscribers(ctx, 24)
    emails = {sid: f"reader{i}@example.org" for i, sid in enumerate(ids)}
    c = sendtime.switch(ctx, "leopard", enabled=True, window="7-20")
    assert len(c.sto_key) == 32 and c.sto_since == clock.now()
    schedule_campaign(ctx, "leopard")
    assert run_at(ctx, clock, smtp_server, MONDAY) == 24  # email 1 at 09:00; the halves are recorded
    arms = _people_by_arm(ctx, c.id)
    assert set(arms) == {"sto", "control"} and len(arms["sto"]) + len(arms["control"]) == 24
    for sid in ids:  # the half is the keyed hash of the id, as recorded
        assert sid in arms[sendtime.arm_of(c.sto_key, sid)]
    reader, machine_only, too_few = arms["sto"][:3]
    control = arms["control"][0]
    for week in range(3):
        monday = MONDAY + timedelta(weeks=week)
        if week:
            assert run_at(ctx, clock, smtp_server, monday) == 24
        clock.set(monday + timedelta(hours=9, minutes=5))  # 18:05 UTC, the readers' evening
        watched = (reader, machine_only, too_few, control)
        latest = {sid: inbox(smtp_server, emails[sid])[-1] for sid in watched}
        open_pixel(client, latest[reader])
        open_pixel(client, latest[control])
        open_pixel(client, latest[machine_only], agent=APPLE_PROXY)
        if week < 2:
            open_pixel(client, latest[too_few])
        run_at(ctx, clock, smtp_server, monday + timedelta(hours=10))  # 19:00: the opens are folded
    with ctx.session() as s:
        profiles = {p.subscriber_id: p for p in s.scalars(select(SendTimeProfile))}
        slots = dict(s.execute(select(Enrolment.subscriber_id, Enrolment.next_send_at)).tuples().all())
    assert profiles[reader].preferred_hour == 18 and profiles[reader].human_events == 3
    assert profiles[control].preferred_hour == 18  # learnt, but the control half never moves
    assert profiles[machine_only].human_events == 0 and profiles[machine_only].machine_opens == 3
    assert profiles[too_few].human_events == 2 and profiles[too_few].preferred_hour is None
    week4 = MONDAY + timedelta(weeks=3)
    assert slots[reader] == week4 + timedelta(hours=9)
    assert {slots[sid] for sid in (machine_only, too_few, control)} == {week4}

    assert run_at(ctx, clock, smtp_server, week4) == 23  # everyone but the reader at 09:00
    assert run_at(ctx, clock, smtp_server, week4 + timedelta(hours=9)) == 1  # the reader at 18:00
    assert run_at(ctx, clock, smtp_server, week4 + timedelta(weeks=1)) == 23
    assert run_at(ctx, clock, smtp_server, week4 + timedelta(weeks=1, hours=9)) == 1

    reader_times = _send_times(ctx, reader)
    assert [t.hour for t in reader_times] == [9, 9, 9, 18, 18]
    for sid in ids:
        times = _send_times(ctx, sid)
        assert len(times) == 5
        assert all(later - earlier >= timedelta(days=6) for earlier, later in pairwise(times))
    assert [t.hour for t in _send_times(ctx, control)] == [9] * 5
    assert inbox(smtp_server, emails[reader])[-1].message["Subject"].startswith("Part 5")

    figures = send_time(ctx.engine, c, clock.now())
    sto, ctl = figures.halves
    assert (sto.arm, ctl.arm) == ("sto", "control")
    assert sto.people == len(arms["sto"]) and ctl.people == len(arms["control"])
    assert sto.delivered == 5 * sto.people and ctl.delivered == 5 * ctl.people
    assert (sto.human_openers, ctl.human_openers) == (3 + 2, 3)  # machine opens never count
    assert sto.open_rate == round(5 / sto.delivered, 4)


def test_bad_windows_are_refused_and_the_estimate_is_smoothed_on_the_circle(ctx, clock):
    make_campaign(ctx, emails=1)
    with pytest.raises(sendtime.StoError, match="'20-7'"):
        sendtime.switch(ctx, "leopard", enabled=True, window="20-7")
    with pytest.raises(sendtime.StoError, match="no campaign named 'tiger'"):
        sendtime.switch(ctx, "tiger", enabled=True)
    assert sendtime.preferred_hour([0] * 23 + [5]) == 23
    assert sendtime.preferred_hour([2] + [0] * 22 + [2]) == 0  # 23 and 0 are neighbours; ties: earliest
    evening = [0, 0, 0, 2] + [0] * 13 + [1, 1, 1, 1] + [0] * 3  # 03:00 twice, 17:00-20:00 once each
    assert sendtime.preferred_hour(evening) == 18  # the cluster beats the single busiest hour
    assert sendtime.preferred_hour([0] * 5 + [1, 0, 1] + [0] * 16) is None  # fewer than 3 events
    assert sendtime.preferred_hour([0] * 5 + [1, 0, 1] + [0] * 16, min_events=2) == 5
