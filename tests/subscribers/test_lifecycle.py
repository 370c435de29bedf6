"""Consent lifecycle: every transition, suppression, double opt-in tokens, hooks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from subscribers import events, lifecycle, optin
from subscribers.addresses import InvalidValue, address_hash
from subscribers.models import ConsentSource, Suppression
from tests.subscribers.helpers import Outbox, confirm_link, count, history, make_list

pytestmark = pytest.mark.postgres


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def activated():
    calls: list[tuple[int, int]] = []

    def hook(session, subscriber, list_id, at):
        calls.append((subscriber.id, list_id))

    events.on_activated(hook)
    yield calls
    events.remove_hook(hook)


def _subscribe(session, settings, clock, lst, email="Ada@Example.org", **kw):
    outbox = Outbox()
    result = optin.subscribe(session, settings, lst, email, clock.now(), outbox, **kw)
    session.commit()
    return result, outbox


def test_lists_are_created_once_with_valid_slugs(session, clock) -> None:
    lst = make_list(session, clock, "leopards")
    assert lst.double_opt_in
    with pytest.raises(InvalidValue, match="already exists"):
        make_list(session, clock, "leopards")
    with pytest.raises(InvalidValue, match="slug"):
        make_list(session, clock, "Bad Slug")
    with pytest.raises(lifecycle.UnknownList, match="leopards"):
        lifecycle.require_list(session, "tigers")


def test_double_opt_in_pending_then_confirmed(session, settings, clock, activated) -> None:
    lst = make_list(session, clock)
    result, outbox = _subscribe(session, settings, clock, lst, name="Ada", timezone="Europe/Berlin")
    sub = result.subscriber
    assert result.outcome is optin.Outcome.CONFIRMATION_SENT
    assert (sub.email, sub.status, sub.timezone) == ("ada@example.org", "pending", "Europe/Berlin")
    assert [m["To"] for m in outbox] == ["Ada <ada@example.org>"]
    assert "confirm" in outbox[0]["Subject"].lower()
    token = confirm_link(outbox[0]).rsplit("/", 1)[1]
    clock.advance(hours=1)
    _, _, changed = optin.confirm_by_token(session, settings.secret, token, clock.now())
    session.commit()
    assert changed and sub.status == "active" and sub.confirmed_at == clock.now()
    assert activated == [(sub.id, lst.id)]
    assert history(session, sub.id) == [(None, "pending", "form"), ("pending", "active", "confirmation")]
    # Confirming twice is harmless and fires nothing new.
    assert optin.confirm_by_token(session, settings.secret, token, clock.now())[2] is False
    assert activated == [(sub.id, lst.id)]


def test_single_opt_in_activates_at_once(session, settings, clock, activated) -> None:
    lst = make_list(session, clock, "open", double=False)
    result, outbox = _subscribe(session, settings, clock, lst)
    assert result.outcome is optin.Outcome.ACTIVATED and result.subscriber.status == "active"
    assert outbox == [] and activated == [(result.subscriber.id, lst.id)]


def test_unsubscribe_bounce_complaint_each_suppress_and_record(session, settings, clock) -> None:
    lst = make_list(session, clock, "open", double=False)
    people = [_subscribe(session, settings, clock, lst, f"p{i}@example.org")[0].subscriber for i in range(3)]
    at = clock.advance(days=1)
    assert lifecycle.unsubscribe(session, people[0], ConsentSource.ONE_CLICK, at)
    assert lifecycle.mark_bounced(session, people[1].id, at, "550 no such user")
    assert lifecycle.mark_complained(session, people[2], at)
    session.commit()
    assert [p.status for p in people] == ["unsubscribed", "bounced", "complained"]
    assert people[0].unsubscribed_at == at
    assert [history(session, p.id)[-1] for p in people] == [
        ("active", "unsubscribed", "one-click"),
        ("active", "bounced", "bounce"),
        ("active", "complained", "complaint"),
    ]
    for p in people:
        assert lifecycle.is_suppressed(session, p.email.upper())
    assert not lifecycle.is_suppressed(session, "someone-else@example.org")
    # Repeats change nothing; unsubscribing a bounced address keeps the stronger status.
    assert not lifecycle.unsubscribe(session, people[0], ConsentSource.ADMIN, at)
    assert not lifecycle.unsubscribe(session, people[1], ConsentSource.ADMIN, at)
    assert people[1].status == "bounced" and len(history(session, people[1].id)) == 3
    assert count(session, Suppression) == 3


def test_resubscribe_needs_a_fresh_confirmation(session, settings, clock, activated) -> None:
    lst = make_list(session, clock)
    result, outbox = _subscribe(session, settings, clock, lst)
    old_token = confirm_link(outbox[0]).rsplit("/", 1)[1]
    sub = result.subscriber
    optin.confirm_by_token(session, settings.secret, old_token, clock.now())
    lifecycle.unsubscribe(session, sub, ConsentSource.ONE_CLICK, clock.advance(minutes=5))
    session.commit()
    # A link from before the unsubscription cannot bring them back.
    with pytest.raises(optin.ConfirmationExpired):
        optin.confirm_by_token(session, settings.secret, old_token, clock.advance(minutes=1))
    # Subscribing again keeps them unsubscribed + suppressed until they confirm again.
    result, outbox = _subscribe(session, settings, clock, lst, "ADA@example.org")
    assert result.outcome is optin.Outcome.CONFIRMATION_SENT and sub.status == "unsubscribed"
    assert lifecycle.is_suppressed(session, sub.email)
    token = confirm_link(outbox[0]).rsplit("/", 1)[1]
    optin.confirm_by_token(session, settings.secret, token, clock.advance(minutes=1))
    session.commit()
    assert sub.status == "active" and not lifecycle.is_suppressed(session, sub.email)
    assert [h[1] for h in history(session, sub.id)] == ["pending", "active", "unsubscribed", "active"]


def test_single_opt_in_list_still_needs_confirmation_after_unsubscribe(session, settings, clock) -> None:
    lst = make_list(session, clock, "open", double=False)
    sub = _subscribe(session, settings, clock, lst)[0].subscriber
    lifecycle.unsubscribe(session, sub, ConsentSource.ONE_CLICK, clock.advance(minutes=1))
    result, outbox = _subscribe(session, settings, clock, lst)
    assert result.outcome is optin.Outcome.CONFIRMATION_SENT and len(outbox) == 1
    assert sub.status == "unsubscribed"


def test_tampered_and_expired_tokens_change_nothing(session, settings, clock) -> None:
    lst = make_list(session, clock)
    result, outbox = _subscribe(session, settings, clock, lst)
    token = confirm_link(outbox[0]).rsplit("/", 1)[1]
    body, mac = token.split(".")
    tampered = [body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac, body + "." + mac[::-1], "x", ""]
    for bad in tampered:
        with pytest.raises(optin.ConfirmationInvalid):
            optin.confirm_by_token(session, settings.secret, bad, clock.now())
    other_key = optin.confirmation_token(b"another-secret", result.subscriber.id, lst.id, clock.now())
    with pytest.raises(optin.ConfirmationInvalid):
        optin.confirm_by_token(session, settings.secret, other_key, clock.now())
    clock.advance(optin.CONFIRM_TTL + timedelta(seconds=1))
    with pytest.raises(optin.ConfirmationExpired):
        optin.confirm_by_token(session, settings.secret, token, clock.now())
    session.rollback()
    assert result.subscriber.status == "pending" and len(history(session, result.subscriber.id)) == 1


def test_subscribe_validates_and_normalises(session, settings, clock) -> None:
    lst = make_list(session, clock)
    with pytest.raises(InvalidValue, match="email"):
        optin.subscribe(session, settings, lst, "not-an-address", clock.now(), Outbox())
    with pytest.raises(InvalidValue):
        optin.subscribe(session, settings, lst, "a@b.test", clock.now(), Outbox())
    result, outbox = _subscribe(
        session,
        settings,
        clock,
        lst,
        "  Bob@Example.ORG ",
        name="Bob\r\nBcc: x@y.org",
        timezone="Mars/Olympus",
    )
    sub = result.subscriber
    assert sub.email == "bob@example.org" and sub.timezone is None and sub.name == "Bob Bcc: x@y.org"
    assert outbox[0]["Bcc"] is None
    assert sub.lists[0].slug == "news"


def test_send_failure_leaves_nothing(session, settings, clock) -> None:
    lst = make_list(session, clock)
    session.commit()

    def broken(message):
        raise RuntimeError("relay down")

    with pytest.raises(RuntimeError):
        optin.subscribe(session, settings, lst, "c@example.org", clock.now(), broken)
    session.rollback()
    assert lifecycle.find_subscriber(session, "c@example.org") is None


def test_suppression_is_by_hash_of_normalised_address(session, clock) -> None:
    lifecycle.suppress(session, "Zed@Example.org", "bounced", clock.now())
    lifecycle.suppress(session, "zed@example.org", "bounced", clock.now())
    session.commit()
    assert count(session, Suppression) == 1
    stored = session.query(Suppression).one()
    assert stored.address_hash == address_hash("zed@example.org") and "zed" not in stored.address_hash
