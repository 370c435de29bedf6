"""Unsubscribe: GET shows a page and changes nothing; POST (RFC 8058 or the button) acts at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from campaigns.models import Enrolment
from delivery.models import Delivery
from subscribers.addresses import hash_of
from subscribers.models import ConsentEvent, Subscriber, Suppression
from tests.tracking.conftest import flush
from wildmail.core.db import make_engine

pytestmark = pytest.mark.postgres

GMAIL_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "User-Agent": "Mozilla/5.0 (compatible; Google-Mail-Unsubscribe)",
}


def _get(s: Session, model: Any, ident: int) -> Any:
    return s.get(model, ident)


def _status(engine, subscriber_id):
    with Session(engine) as s:
        return _get(s, Subscriber, subscriber_id).status


def test_get_shows_a_confirmation_page_and_changes_nothing(client, world, engine):
    for _ in range(2):
        r = client.get(world.unsubscribe_path())
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert client.head(world.unsubscribe_path()).status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in r.text
    assert "r" + "*" * 15 + "@example.org" in r.text
    assert "reader0.leopards@example.org" not in r.text
    assert _status(engine, world.subscribers[0]) == "active"
    flush(client)
    assert world.events() == []


def test_rfc8058_post_exactly_as_gmail_sends_it(client, world, engine, settings):
    queued_id = _queue_second_email(engine, world)
    r = client.post(world.unsubscribe_path(), content=b"List-Unsubscribe=One-Click", headers=GMAIL_HEADERS)
    assert r.status_code == 200
    # read right after the response, through a separate engine (another connection)
    other = make_engine(settings.database_url)
    try:
        with Session(other) as s:
            sub = _get(s, Subscriber, world.subscribers[0])
            assert sub.status == "unsubscribed" and sub.unsubscribed_at is not None
            consent = s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == sub.id)).all()
            assert [(c.from_status, c.to_status, c.source) for c in consent] == [
                ("active", "unsubscribed", "one-click")
            ]
            assert (
                s.scalar(select(Suppression.reason).where(Suppression.address_hash == hash_of(sub.email)))
                == "unsubscribed"
            )
            enrol = s.scalars(select(Enrolment).where(Enrolment.subscriber_id == sub.id)).one()
            assert (enrol.status, enrol.exit_reason, enrol.next_send_at) == ("exited", "unsubscribed", None)
            assert _get(s, Delivery, queued_id).state == "suppressed"
            assert _get(s, Delivery, world.deliveries[0]).state == "sent"
            kinds = s.execute(text("SELECT kind, classification, delivery_id FROM events")).all()
            assert [tuple(k) for k in kinds] == [("unsubscribe", "human", world.deliveries[0])]
            assert _get(s, Subscriber, world.subscribers[1]).status == "active"
    finally:
        other.dispose()


def _queue_second_email(engine, world) -> int:
    from campaigns.models import Email

    with Session(engine) as s:
        d0 = _get(s, Delivery, world.deliveries[0])
        e2 = Email(campaign_id=world.campaign_id, position=2, title="Two", subject="Two")
        s.add(e2)
        s.flush()
        d = Delivery(
            subscriber_id=d0.subscriber_id,
            email_id=e2.id,
            campaign_id=world.campaign_id,
            position=2,
            state="queued",
            next_attempt_at=d0.sent_at,
            message_id="<two@wildmail.test>",
            queued_at=d0.sent_at,
            updated_at=d0.sent_at,
        )
        s.add(d)
        s.commit()
        return d.id


def test_multipart_one_click_post_works(client, world, engine):
    r = client.post(world.unsubscribe_path(), files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert _status(engine, world.subscribers[0]) == "unsubscribed"


def test_page_button_unsubscribes_and_offers_resubscribe(client, world, engine):
    r = client.post(world.unsubscribe_path(), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert "You are unsubscribed" in r.text
    assert 'href="/subscribe/leopards-list"' in r.text
    assert _status(engine, world.subscribers[0]) == "unsubscribed"
    again = client.get(world.unsubscribe_path())
    assert "You are unsubscribed" in again.text and "<form" not in again.text


def test_repeated_post_is_harmless(client, world, engine):
    for _ in range(3):
        assert (
            client.post(
                world.unsubscribe_path(), content=b"List-Unsubscribe=One-Click", headers=GMAIL_HEADERS
            ).status_code
            == 200
        )
    with Session(engine) as s:
        assert len(s.scalars(select(ConsentEvent)).all()) == 1
        assert len(s.scalars(select(Suppression)).all()) == 1
    assert len(world.events(kind="unsubscribe")) == 1


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"List-Unsubscribe=Two-Clicks", "application/x-www-form-urlencoded"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"\xff\xfe", "application/octet-stream"),
    ],
)
def test_post_without_the_one_click_body_changes_nothing(client, world, engine, body, ctype):
    r = client.post(world.unsubscribe_path(), content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400
    assert _status(engine, world.subscribers[0]) == "active"


def test_aggregate_only_campaign_records_unsubscribe_without_identity(client, engine, settings, clock):
    from tests.tracking.conftest import make_world

    world = make_world(engine, settings.secret, clock.now(), track_identity=False, slug="quiet")
    client.post(world.unsubscribe_path(), data={"List-Unsubscribe": "One-Click"})
    [event] = world.events()
    assert (event.kind, event.delivery_id, event.campaign_id) == ("unsubscribe", None, world.campaign_id)
    assert _status(engine, world.subscribers[0]) == "unsubscribed"
