"""The circuit breaker also judges hard bounces refused at RCPT (they never reach the intake):
the scheduler's tick sweeps the running campaigns."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

import scheduler
from campaigns.models import Campaign
from delivery.leader import LeaderLock
from delivery.models import Delivery
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h

pytestmark = pytest.mark.postgres


def test_the_tick_pauses_a_campaign_whose_relay_refused_too_many(ctx) -> None:
    campaign = make_campaign(ctx, emails=1)
    ids = h.sent_deliveries(ctx, campaign.id, add_subscribers(ctx, 20))
    ctx.settings = ctx.settings.with_overrides(breaker_min_deliveries=20)
    lock = LeaderLock(ctx.engine)
    with Session(ctx.engine) as s:  # one refused at RCPT: 5%, not over the limit
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(state="bounced"))
        s.commit()
    assert scheduler.leader_tick(ctx, lock)
    with Session(ctx.engine) as s:
        assert s.get(Campaign, campaign.id).status == "running"  # type: ignore[union-attr]
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(state="bounced"))
        s.commit()
    assert scheduler.leader_tick(ctx, lock)
    with Session(ctx.engine) as s:
        c = s.get(Campaign, campaign.id)
        assert c is not None and c.status == "paused"
        assert c.pause_reason == "circuit breaker: hard bounces 2 of 20 sends (10.00%) over the 5.00% limit"
    lock.release()
