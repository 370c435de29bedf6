"""Pause for a month from the preferences page: held deliveries, consent history, ending early."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from delivery.models import Delivery
from subscribers.models import ConsentEvent, Subscriber
from tests.tracking.test_preferences import _csrf, _path, _queue, otters  # noqa: F401 (fixture)
from tracking.preferences import PAUSE

pytestmark = pytest.mark.postgres


def _subscriber(engine, subscriber_id: int) -> Subscriber:
    with Session(engine) as s:
        sub = s.get(Subscriber, subscriber_id)
        assert sub is not None
        s.expunge(sub)
        return sub


def _attempt_at(engine, delivery_id: int):
    with Session(engine) as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        return d.state, d.next_attempt_at


def test_pause_holds_queued_mail_for_a_month_and_resume_releases_it(client, world, engine, otters, clock):
    reader = world.subscribers[0]
    page = client.get(_path(world)).text
    assert "Pause for a month" in page
    r = client.post(_path(world), data={"csrf_token": _csrf(client, world), "action": "pause"})
    until = clock.now() + PAUSE
    assert r.status_code == 200 and f"until {until.day} {until.strftime('%B %Y')}" in r.text
    assert "Start my emails again now" in r.text
    sub = _subscriber(engine, reader)
    assert sub.status == "active" and sub.paused_until == until
    assert _attempt_at(engine, otters.otter_queued) == ("queued", until)
    with Session(engine) as s:
        detail = s.scalars(
            select(ConsentEvent.detail)
            .where(ConsentEvent.subscriber_id == reader)
            .order_by(ConsentEvent.id.desc())
        ).first()
    assert detail == f"paused until {until.date().isoformat()}"

    clock.advance(days=3)
    r = client.post(_path(world), data={"csrf_token": _csrf(client, world), "action": "resume"})
    assert r.status_code == 200 and "Welcome back" in r.text and "Pause for a month" in r.text
    assert _subscriber(engine, reader).paused_until is None
    assert _attempt_at(engine, otters.otter_queued) == ("queued", clock.now())


def test_an_ended_pause_is_not_shown(client, world, engine, otters, clock):
    client.post(_path(world), data={"csrf_token": _csrf(client, world), "action": "pause"})
    clock.advance(PAUSE + timedelta(minutes=1))
    page = client.get(_path(world)).text
    assert "Your emails are paused" not in page and "Pause for a month" in page
