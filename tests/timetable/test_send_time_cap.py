"""Send-time optimisation never breaks the frequency cap: two series on one list (Mondays and
Tuesdays at 09:00), the second with STO moving half of its readers to 03:00, through the real tick
and engagement step. The cap holds the second series until the first is done; then its STO half
moves to 03:00 and every gap between two emails to a person stays at least six days."""

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from scheduler import run_engagement
from tests.delivery.factories import add_subscribers, make_campaign
from tracking import sendtime
from tracking.engagement_models import SendTimeProfile

pytestmark = pytest.mark.postgres


def test_moved_slots_still_keep_one_email_a_week_across_series(ctx, clock, backend):
    a = make_campaign(ctx, slug="leopard", emails=2, weekday=0, hour=9)
    b = make_campaign(ctx, slug="tiger", emails=3, weekday=1, hour=9)
    people = add_subscribers(ctx, 12)
    with ctx.session() as s:  # every reader has read at 03:00 five times (learnt earlier)
        s.add_all(
            SendTimeProfile(
                subscriber_id=sid, hours=[0, 0, 0, 5] + [0] * 20, human_events=5, machine_opens=0,
                preferred_hour=3, updated_at=clock.now(),
            )
            for sid in people
        )  # fmt: skip
        s.commit()
    sendtime.switch(ctx, "tiger", enabled=True, window="0-24")
    schedule_campaign(ctx, "leopard")
    schedule_campaign(ctx, "tiger")
    midnight = clock.now().replace(hour=0)
    for day in range(7 * 6):  # the scheduler's tick at the two slot hours of every day, six weeks
        for hour in (3, 9):
            clock.set(midnight + timedelta(days=day, hours=hour))
            tick(ctx, ctx.message_ids)
            run_engagement(ctx)
    with ctx.session() as s:
        rows = s.execute(
            select(Delivery.subscriber_id, Delivery.queued_at, Delivery.campaign_id).order_by(
                Delivery.queued_at
            )
        ).all()
    history: dict[int, list[tuple[datetime, int]]] = {}
    for sid, at, campaign in rows:
        history.setdefault(sid, []).append((at, campaign))
    moved = {sid for sid, at, campaign in rows if campaign == b.id and at.hour == 3}
    assert moved and moved < set(people)  # the STO half of the second series only, at 03:00
    assert all(len(sends) == 5 for sends in history.values())  # both series whole
    for sid, sends in history.items():
        gaps = [later - earlier for (earlier, _), (later, _) in pairwise(sends)]
        assert all(gap >= timedelta(days=6) for gap in gaps), (sid, sends)
        assert {c for _, c in sends} <= {a.id, b.id}
