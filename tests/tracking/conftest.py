"""Rows for tracking tests: one campaign with an email, its links and sent deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Enrolment, Link
from delivery.models import Delivery
from subscribers.models import ListMembership, Subscriber, SubscriberList
from tracking.models import Event
from wildmail.core import tokens

GMAIL_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
BROWSER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)


@dataclass
class World:
    engine: Engine
    key: bytes
    campaign_id: int
    email_id: int
    links: dict[str, int]
    deliveries: list[int] = field(default_factory=list)
    subscribers: list[int] = field(default_factory=list)

    def open_path(self, i: int = 0) -> str:
        return tokens.open_url("", self.key, self.deliveries[i])

    def click_path(self, link: str, i: int = 0) -> str:
        return tokens.click_url("", self.key, self.deliveries[i], self.links[link])

    def unsubscribe_path(self, i: int = 0) -> str:
        return tokens.unsubscribe_url("", self.key, self.deliveries[i])

    def events(self, **where) -> list[Event]:
        with Session(self.engine) as s:
            q = select(Event).order_by(Event.id)
            for key, value in where.items():
                q = q.where(getattr(Event, key) == value)
            return list(s.scalars(q))


def make_world(
    engine: Engine,
    key: bytes,
    now: datetime,
    *,
    recipients: int = 2,
    sent_ago: timedelta = timedelta(hours=1),
    track_identity: bool = True,
    slug: str = "leopards",
) -> World:
    with Session(engine, expire_on_commit=False) as s:
        lst = SubscriberList(slug=f"{slug}-list", name="Big cats", double_opt_in=True, created_at=now)
        s.add(lst)
        s.flush()
        c = Campaign(
            slug=slug,
            title="Leopard weeks",
            created_at=now,
            updated_at=now,
            track_identity=track_identity,
            list_id=lst.id,
            donation_url="https://give.example/leopard",
        )
        e = Email(campaign=c, position=1, title="One", subject="One")
        s.add_all([c, e])
        s.flush()
        links = {
            "content": Link(
                email_id=e.id, position=1, url="https://example.org/read?x=1#top", kind="content"
            ),
            "donation": Link(
                email_id=e.id, position=2, url="https://give.example/leopard?ref=mail", kind="donation"
            ),
            "honeypot": Link(email_id=e.id, position=3, url="https://example.org/h", kind="honeypot"),
        }
        s.add_all(links.values())
        s.flush()
        world = World(engine, key, c.id, e.id, {k: v.id for k, v in links.items()})
        for i in range(recipients):
            sub = Subscriber(
                email=f"reader{i}.{slug}@example.org", status="active", created_at=now, updated_at=now
            )
            s.add(sub)
            s.flush()
            s.add(ListMembership(subscriber_id=sub.id, list_id=lst.id, created_at=now))
            s.add(
                Enrolment(
                    subscriber_id=sub.id,
                    campaign_id=c.id,
                    next_position=2,
                    next_send_at=now + timedelta(days=7),
                    created_at=now,
                )
            )
            d = Delivery(
                subscriber_id=sub.id,
                email_id=e.id,
                campaign_id=c.id,
                position=1,
                state="sent",
                next_attempt_at=now - sent_ago,
                message_id=f"<{slug}.{i}@wildmail.test>",
                queued_at=now - sent_ago,
                sent_at=now - sent_ago,
                updated_at=now - sent_ago,
            )
            s.add(d)
            s.flush()
            world.deliveries.append(d.id)
            world.subscribers.append(sub.id)
        s.commit()
    return world


@pytest.fixture
def world(engine, settings, clock) -> World:
    return make_world(engine, settings.secret, clock.now())


def flush(client) -> None:
    assert client.app.state.tracker.writer.flush(timeout=10)
