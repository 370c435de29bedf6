"""A person who paused their emails gets nothing queued until the pause ends, then resumes where
they left off (the preferences page's "pause for a month")."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from subscribers import lifecycle
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, the campaign's weekly slot


def _positions(ctx) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    with ctx.session() as s:
        for sid, pos in s.execute(
            select(Delivery.subscriber_id, Delivery.position).order_by(Delivery.position)
        ):
            out.setdefault(sid, []).append(pos)
    return out


def test_paused_reader_is_skipped_and_keeps_their_place(ctx, clock) -> None:
    make_campaign(ctx, emails=3)
    paused, reading = add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    with ctx.session() as s, s.begin():
        lifecycle.pause(s, paused, SLOT + timedelta(days=10), "form", clock.now())
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == 1
    for days in (1, 7, 8):  # still paused: nothing for them, the other reader moves on
        clock.set(SLOT + timedelta(days=days))
        tick(ctx, ctx.message_ids)
    assert _positions(ctx) == {reading: [1, 2]}
    for days in (14, 21, 28):  # the pause ended on day 10: they start with email 1
        clock.set(SLOT + timedelta(days=days))
        tick(ctx, ctx.message_ids)
    got = _positions(ctx)
    assert got[reading] == [1, 2, 3] and got[paused] == [1, 2, 3]
    with ctx.session() as s:
        first = s.scalar(
            select(Delivery.queued_at).where(Delivery.subscriber_id == paused, Delivery.position == 1)
        )
    assert first is not None and first >= SLOT + timedelta(days=10)
