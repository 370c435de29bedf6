"""The preferences page behind an unsubscribe token, over real HTTP through the app."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Enrolment
from delivery.models import Delivery
from subscribers import lifecycle
from subscribers.addresses import hash_of
from subscribers.models import ConsentEvent, ListMembership, Subscriber, SubscriberList, Suppression
from tracking.models import Event
from tracking.preferences import PAUSE
from wildmail.core import tokens

pytestmark = pytest.mark.postgres

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Otters:
    """A second list with its own campaign, plus a queued delivery of each campaign for reader 0."""

    list_id: int
    campaign_id: int
    leopard_queued: int
    otter_queued: int
    stranger_list_id: int


def _queue(s: Session, subscriber_id: int, campaign_id: int, position: int, now) -> int:
    email = Email(campaign_id=campaign_id, position=position, title="Next", subject="Next")
    s.add(email)
    s.flush()
    d = Delivery(
        subscriber_id=subscriber_id,
        email_id=email.id,
        campaign_id=campaign_id,
        position=position,
        state="queued",
        next_attempt_at=now,
        message_id=f"<q{campaign_id}.{position}@wildmail.test>",
        queued_at=now,
        updated_at=now,
    )
    s.add(d)
    s.flush()
    return d.id


@pytest.fixture
def otters(engine, world, clock) -> Otters:
    now = clock.now()
    reader = world.subscribers[0]
    with Session(engine) as s:
        lst = SubscriberList(slug="otters-list", name="River otters", double_opt_in=True, created_at=now)
        stranger = SubscriberList(slug="bats-list", name="Bats", double_opt_in=True, created_at=now)
        s.add_all([lst, stranger])
        s.flush()
        c = Campaign(slug="otters", title="Otter weeks", created_at=now, updated_at=now, list_id=lst.id)
        s.add(c)
        s.flush()
        s.add(ListMembership(subscriber_id=reader, list_id=lst.id, created_at=now))
        s.add(
            Enrolment(
                subscriber_id=reader,
                campaign_id=c.id,
                next_position=1,
                next_send_at=now + timedelta(days=1),
                created_at=now,
            )
        )
        result = Otters(
            list_id=lst.id,
            campaign_id=c.id,
            leopard_queued=_queue(s, reader, world.campaign_id, 2, now),
            otter_queued=_queue(s, reader, c.id, 1, now),
            stranger_list_id=stranger.id,
        )
        s.commit()
    return result


def _path(world, i: int = 0) -> str:
    return f"{world.unsubscribe_path(i)}/preferences"


def _csrf(client, world) -> str:
    r = client.get(_path(world))
    assert r.status_code == 200
    match = CSRF.search(r.text)
    assert match is not None
    return str(match.group(1))


def _memberships(engine, subscriber_id: int) -> set[int]:
    with Session(engine) as s:
        rows = s.scalars(select(ListMembership.list_id).where(ListMembership.subscriber_id == subscriber_id))
        return set(rows)


def _enrolments(engine, subscriber_id: int) -> dict[int, tuple[str, str, object]]:
    with Session(engine) as s:
        rows = s.scalars(select(Enrolment).where(Enrolment.subscriber_id == subscriber_id))
        return {e.campaign_id: (e.status, e.exit_reason, e.next_send_at) for e in rows}


def _state(engine, delivery_id: int) -> str:
    with Session(engine) as s:
        d = s.get(Delivery, delivery_id)
        assert d is not None
        return d.state


def _status(engine, subscriber_id: int) -> str:
    with Session(engine) as s:
        sub = s.get(Subscriber, subscriber_id)
        assert sub is not None
        return sub.status


def test_page_shows_masked_address_lists_and_status(client, world, otters):
    r = client.get(_path(world))
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert r.headers["cache-control"] == "no-store"
    assert "r" + "*" * 15 + "@example.org" in r.text
    assert "reader0.leopards@example.org" not in r.text
    for list_id, name in ((otters.list_id, "River otters"), (world_list_id(world), "Big cats")):
        assert f'name="keep" value="{list_id}" checked' in r.text
        assert name in r.text
    assert "Bats" not in r.text  # only the lists they are on
    assert '<strong class="status">active</strong>' in r.text
    assert 'value="leave-everything"' in r.text and "Leave everything" in r.text
    assert "wm_csrf" in r.headers["set-cookie"]
    assert client.head(_path(world)).status_code == 200


def world_list_id(world) -> int:
    with Session(world.engine) as s:
        c = s.get(Campaign, world.campaign_id)
        assert c is not None and c.list_id is not None
        return c.list_id


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_or_unknown_token_is_a_plain_404(client, world, engine, method):
    good = world.unsubscribe_path().removeprefix("/u/")
    body, mac = good.split(".")
    tampered = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    unknown = tokens.unsubscribe_url("", world.key, 999_999).removeprefix("/u/")
    click = tokens.click_url("", world.key, world.deliveries[0], 1).removeprefix("/c/")
    for token in (tampered, unknown, click, "x", "a.b"):
        r = getattr(client, method)(f"/u/{token}/preferences")
        assert r.status_code == 404, token
        assert r.headers["content-type"].startswith("text/plain")
        assert "Not found" in r.text
    assert _status(engine, world.subscribers[0]) == "active"


def test_post_without_a_valid_csrf_token_is_403_and_changes_nothing(client, world, engine, otters):
    reader = world.subscribers[0]
    before = _memberships(engine, reader)
    token = _csrf(client, world)
    cases = [
        {"action": "save"},  # no token, the cookie is set
        {"action": "leave-everything", "csrf_token": "forged.token"},
        {"action": "save", "csrf_token": token + "x"},
    ]
    for data in cases:
        r = client.post(_path(world), data=data)
        assert r.status_code == 403, data
        assert "The form expired" in r.text
    client.cookies.clear()  # a token made for another browser's cookie
    r = client.post(_path(world), data={"action": "leave-everything", "csrf_token": token})
    assert r.status_code == 403
    assert _memberships(engine, reader) == before
    assert _status(engine, reader) == "active"
    assert {s for s, _, _ in _enrolments(engine, reader).values()} == {"active"}
    assert _state(engine, otters.otter_queued) == "queued"


def test_unticking_one_list_leaves_only_that_list_and_its_campaigns(client, world, engine, otters, clock):
    reader = world.subscribers[0]
    leopards = world_list_id(world)
    token = _csrf(client, world)
    keep = [str(leopards), str(otters.stranger_list_id)]  # a list they are not on is never joined
    r = client.post(_path(world), data={"csrf_token": token, "keep": keep, "action": "save"})
    assert r.status_code == 200
    assert "You left “River otters”" in r.text
    assert f'value="{otters.list_id}"' not in r.text
    assert _memberships(engine, reader) == {leopards}
    enrolments = _enrolments(engine, reader)
    assert enrolments[otters.campaign_id] == ("exited", "left_list", None)
    assert enrolments[world.campaign_id][:2] == ("active", "")
    assert _state(engine, otters.otter_queued) == "suppressed"
    assert _state(engine, otters.leopard_queued) == "queued"
    assert _status(engine, reader) == "active"
    with Session(engine) as s:
        consent = s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == reader)).all()
        assert [(c.from_status, c.to_status, c.source, c.detail) for c in consent] == [
            ("active", "active", "form", "left list otters-list")
        ]
        assert s.scalars(select(Suppression)).all() == []
    assert _memberships(engine, world.subscribers[1]) == {leopards}
    # saving the same choices again changes nothing
    r = client.post(_path(world), data={"csrf_token": token, "keep": [str(leopards)], "action": "save"})
    assert r.status_code == 200 and "Nothing changed" in r.text
    assert _memberships(engine, reader) == {leopards}


def test_bad_list_id_is_a_400_and_changes_nothing(client, world, engine, otters):
    token = _csrf(client, world)
    r = client.post(_path(world), data={"csrf_token": token, "keep": ["abc"], "action": "save"})
    assert r.status_code == 400
    assert otters.list_id in _memberships(engine, world.subscribers[0])


def test_leave_everything_unsubscribes_and_suppresses(client, world, engine, otters):
    reader = world.subscribers[0]
    token = _csrf(client, world)
    r = client.post(_path(world), data={"csrf_token": token, "action": "leave-everything"})
    assert r.status_code == 200
    assert "no more emails" in r.text
    assert 'href="/subscribe/otters-list"' in r.text and 'href="/subscribe/leopards-list"' in r.text
    assert "<form" not in r.text
    # committed before the response: a fresh session sees everything
    with Session(engine) as s:
        sub = s.get(Subscriber, reader)
        assert sub is not None and sub.status == "unsubscribed" and sub.unsubscribed_at is not None
        consent = s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == reader)).all()
        assert [(c.from_status, c.to_status, c.source) for c in consent] == [
            ("active", "unsubscribed", "form")
        ]
        reason = s.scalar(select(Suppression.reason).where(Suppression.address_hash == hash_of(sub.email)))
        assert reason == "unsubscribed"
        kinds = [(e.kind, e.reason) for e in s.scalars(select(Event))]
        assert kinds == [("unsubscribe", "form")]
    assert {v[:2] for v in _enrolments(engine, reader).values()} == {("exited", "unsubscribed")}
    assert _state(engine, otters.otter_queued) == "suppressed"
    assert _state(engine, otters.leopard_queued) == "suppressed"
    assert _status(engine, world.subscribers[1]) == "active"


def test_unsubscribe_pages_link_to_preferences_and_keep_resubscribe(client, world):
    link = f'href="{_path(world)}"'
    before = client.get(world.unsubscribe_path())
    assert before.status_code == 200 and link in before.text
    after = client.post(world.unsubscribe_path(), data={"List-Unsubscribe": "One-Click"})
    assert "You are unsubscribed" in after.text
    assert link in after.text and 'href="/subscribe/leopards-list"' in after.text
    page = client.get(_path(world))
    assert page.status_code == 200 and "unsubscribed" in page.text
    assert f'href="{world.unsubscribe_path()}"' in page.text


def test_forgotten_subscriber_has_no_preferences_page(client, world, engine, clock):
    from subscribers import privacy

    with Session(engine) as s:
        sub = s.get(Subscriber, world.subscribers[0])
        assert sub is not None
        privacy.forget(s, sub, clock.now())
        s.commit()
    assert client.get(_path(world)).status_code == 404


def test_leave_list_records_consent_and_keeps_status(engine, world, clock):
    reader = world.subscribers[0]
    leopards = world_list_id(world)
    with Session(engine) as s:
        assert lifecycle.leave_list(s, reader, leopards, "form", clock.now()) is True
        assert lifecycle.leave_list(s, reader, leopards, "form", clock.now()) is False
        sub = s.get(Subscriber, reader)
        assert sub is not None and sub.status == "active" and sub.lists == []
        s.commit()
    with Session(engine) as s:
        events = s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == reader)).all()
        assert [(e.from_status, e.to_status, e.detail) for e in events] == [
            ("active", "active", "left list leopards-list")
        ]


# Pause for a month: held deliveries, consent history, ending early.


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
