"""The re-engagement email goes through the single-message path: a real SMTP server, suppression
checked right before the send, a refused send leaves the member chosen for the next run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from subscribers import lifecycle
from tests.delivery.factories import add_subscribers, make_campaign
from tracking import sunset
from tracking.engagement_models import Reengagement
from wildmail.runtime.mailer import MailError, send_one


def _choose(ctx, people: list[int], list_id: int | None, campaign_id: int) -> None:
    assert list_id is not None
    with ctx.session() as s:
        for sid in people:
            s.add(
                Reengagement(
                    subscriber_id=sid, list_id=list_id, campaign_id=campaign_id, state="due", silent=8,
                    created_at=ctx.clock.now(),
                )
            )  # fmt: skip
        s.commit()


def test_suppressed_people_get_nothing_and_a_refused_send_stays_due(ctx, smtp_server):
    c = make_campaign(ctx, emails=1)
    ana, ben = add_subscribers(ctx, [("ana@example.org", "Ana", None), ("ben@example.org", "Ben", None)])
    sunset.configure_list(ctx, "main", after=8)
    _choose(ctx, [ana, ben], c.list_id, c.id)
    with ctx.session() as s:
        lifecycle.suppress(s, "ben@example.org", "manual", ctx.clock.now())
        s.commit()
    settings = ctx.settings.with_overrides(smtp_port=smtp_server.port)

    smtp_server.fail("rcpt", 550, "5.7.1 relaying denied")
    with pytest.raises(MailError):
        sunset.send_due(ctx, settings, lambda m: send_one(settings, m))
    with ctx.session() as s:
        assert s.scalars(select(Reengagement.state).order_by(Reengagement.id)).all() == ["due", "due"]

    assert sunset.send_due(ctx, settings, lambda m: send_one(settings, m)) == 1
    assert smtp_server.recipients() == ["ana@example.org"]
    message = smtp_server.messages[0].message
    assert message["Subject"] == "Do you still want Main list?"
    assert "http://testserver/keep/" in message.get_body(("plain",)).get_content()
    with ctx.session() as s:
        rows = s.scalars(select(Reengagement)).all()
        assert [(r.subscriber_id, r.state) for r in rows] == [(ana, "asked")]  # Ben's was dropped
        assert rows[0].deadline == ctx.clock.now() + timedelta(days=14)


def test_a_list_switched_off_asks_nobody(ctx, smtp_server):
    c = make_campaign(ctx, emails=1)
    [ana] = add_subscribers(ctx, [("ana@example.org", "Ana", None)])
    sunset.configure_list(ctx, "main", after=8)
    _choose(ctx, [ana], c.list_id, c.id)
    sunset.configure_list(ctx, "main", after=0)
    settings = ctx.settings.with_overrides(smtp_port=smtp_server.port)
    assert sunset.send_due(ctx, settings, lambda m: send_one(settings, m)) == 0
    assert smtp_server.messages == []
    with ctx.session() as s:
        assert s.scalars(select(Reengagement)).all() == []
