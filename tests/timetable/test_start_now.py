"""Starting a campaign now, or from a chosen day: the preview, then the timetable on the fake clock."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.models import Enrolment
from delivery.enqueue import tick
from delivery.lifecycle import CampaignError, campaign_status, schedule_campaign, schedule_preview
from delivery.models import Delivery
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres

MONDAY_0800 = datetime(2026, 1, 5, 8, tzinfo=UTC)  # the clock fixture's start


def queued(ctx):
    with ctx.session() as s:
        return s.execute(
            select(Delivery.subscriber_id, Delivery.position, Delivery.queued_at).order_by(
                Delivery.queued_at, Delivery.subscriber_id
            )
        ).all()


def test_now_makes_email_1_due_at_once_and_later_emails_weekly_from_it(ctx, clock, backend):
    make_campaign(ctx, emails=3, weekday=1, hour=9)  # Tuesdays 09:00 UTC
    ids = add_subscribers(ctx, [("a@example.org", "A", None), ("b@example.org", "B", "Asia/Tokyo")])
    clock.advance(minutes=20)  # Monday 08:20
    now = clock.now()
    preview = schedule_preview(ctx, "leopard", now)
    assert (preview.recipients, preview.first_send, preview.last_first_send) == (2, now, now)
    assert preview.at_once and (preview.weekday, preview.hour) == (0, 9)
    assert campaign_status(ctx, "leopard").status == "draft"  # the preview changed nothing

    assert schedule_campaign(ctx, "leopard", start=now) == 2
    assert tick(ctx, ctx.message_ids).queued == 2
    assert {(r.subscriber_id, r.position, r.queued_at) for r in queued(ctx)} == {(i, 1, now) for i in ids}
    assert campaign_status(ctx, "leopard").status == "running"
    for week in (1, 2):
        clock.set(MONDAY_0800 + timedelta(weeks=week, hours=1))
        tick(ctx, ctx.message_ids)
    rows = queued(ctx)
    assert [r.queued_at for r in rows if r.subscriber_id == ids[0]] == [
        now,
        datetime(2026, 1, 12, 9, tzinfo=UTC),
        datetime(2026, 1, 19, 9, tzinfo=UTC),
    ]
    # Tokyo's Monday 09:00 is 00:00 UTC, already past at 09:00 UTC on each Monday.
    assert [r.queued_at for r in rows if r.subscriber_id == ids[1]] == [
        now,
        datetime(2026, 1, 12, 9, tzinfo=UTC),
        datetime(2026, 1, 19, 9, tzinfo=UTC),
    ]
    with ctx.session() as s:
        assert {e.status for e in s.execute(select(Enrolment)).scalars()} == {"finished"}


def test_a_start_day_gives_the_first_slot_on_or_after_it_in_each_zone(ctx, clock, backend):
    make_campaign(ctx, emails=2, weekday=1, hour=9)
    add_subscribers(ctx, [("a@example.org", "A", None), ("p@example.org", "P", "Europe/Paris")])
    preview = schedule_preview(ctx, "leopard", date(2026, 1, 8))  # a Thursday: next Tuesday
    assert preview.recipients == 2 and not preview.at_once
    assert preview.first_send == datetime(2026, 1, 13, 8, tzinfo=UTC)  # 09:00 in Paris
    assert preview.last_first_send == datetime(2026, 1, 13, 9, tzinfo=UTC)
    assert schedule_campaign(ctx, "leopard", start=date(2026, 1, 8)) == 2
    assert tick(ctx, ctx.message_ids).queued == 0
    clock.set(datetime(2026, 1, 13, 9, tzinfo=UTC))
    assert tick(ctx, ctx.message_ids).queued == 2


def test_a_start_day_in_the_past_or_a_running_campaign_is_refused(ctx, clock, backend):
    make_campaign(ctx, emails=2)
    add_subscribers(ctx, 1)
    with pytest.raises(CampaignError, match="in the past"):
        schedule_preview(ctx, "leopard", date(2026, 1, 4))
    schedule_campaign(ctx, "leopard", start=clock.now())
    with pytest.raises(CampaignError, match="already scheduled"):
        schedule_preview(ctx, "leopard", clock.now())
