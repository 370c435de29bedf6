"""Matching a donation to the email that led to it: by the signed click id, else by the donor's
address and utm_campaign within the window (after a donation click, else after the delivery)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from donations.intake import Attribution, DonationError, checked, record_committed
from donations.models import Donation
from tests.tracking.conftest import make_world
from tracking.click_ids import click_id
from tracking.models import Event
from wildmail.core.outbox import OutboxEvent

WINDOW = timedelta(days=30)


def _click(world, i: int, at, link: str = "donation", classification: str = "human") -> None:
    with Session(world.engine) as s:
        s.add(
            Event(
                uid=f"test-{i}-{link}-{at.timestamp()}",
                kind="click",
                classification=classification,
                delivery_id=world.deliveries[i],
                campaign_id=world.campaign_id,
                email_id=world.email_id,
                link_id=world.links[link],
                at=at,
            )
        )
        s.commit()


def _donate(ctx, settings, ext: str, at, **fields):
    item = checked(source="test", external_id=ext, amount=1500, currency_code="EUR", donated_at=at, **fields)
    return record_committed(ctx.engine, item, Attribution.from_settings(settings), at)


def _attributed(engine) -> list[str]:
    with Session(engine) as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "donation.attributed"))
        return [e.payload["external_id"] for e in events]


@pytest.mark.postgres
def test_address_and_campaign_within_and_outside_the_window(ctx, engine, settings, clock, listening):
    sent = clock.now()
    world = make_world(engine, settings.secret, sent, recipients=3, sent_ago=timedelta(0))
    _click(world, 0, sent + timedelta(days=2))
    _click(world, 0, sent + timedelta(days=3), link="content")  # not a donation link: no effect
    reader = "reader{}.leopards@example.org".format
    # clicked on day 2, gave on day 31: 29 days after the click, though 31 after the delivery
    late = _donate(ctx, settings, "a", sent + timedelta(days=31), email=reader(0), utm_campaign="leopards")
    assert (late.match, late.email_id) == ("address_and_campaign", world.email_id)
    # no click at all: the delivery counts, within 30 days of it
    plain = _donate(ctx, settings, "b", sent + timedelta(days=29), email=reader(1), utm_campaign="leopards")
    assert plain.match == "address_and_campaign"
    outside = _donate(ctx, settings, "c", sent + timedelta(days=31), email=reader(1), utm_campaign="leopards")
    assert outside.match == "unmatched" and outside.email_id is None
    # before the email was sent, another campaign's slug, or no campaign at all: nothing to go on
    before = _donate(ctx, settings, "d", sent - timedelta(hours=1), email=reader(2), utm_campaign="leopards")
    other = _donate(ctx, settings, "e", sent + timedelta(days=1), email=reader(2), utm_campaign="tigers")
    bare = _donate(ctx, settings, "f", sent + timedelta(days=1), email=reader(2))
    assert [before.match, other.match, bare.match] == ["unmatched"] * 3
    with Session(engine) as s:
        rows = {d.external_id: d for d in s.scalars(select(Donation))}
    assert rows["a"].delivery_id == world.deliveries[0] and rows["b"].delivery_id == world.deliveries[1]
    assert rows["a"].subscriber_id == world.subscribers[0] and rows["a"].campaign_id == world.campaign_id
    assert _attributed(engine) == ["a", "b"]  # emitted for matched donations only


@pytest.mark.postgres
def test_click_id_wins_and_a_forged_one_falls_back(ctx, engine, settings, clock):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    cid = click_id(settings.secret, world.deliveries[1], world.links["donation"])
    # the click id names reader 1 even though reader 0 paid: the click is what led to the gift
    paid = _donate(ctx, settings, "g", clock.now(), wm_cid=cid, email="reader0.leopards@example.org")
    assert paid.match == "click_id"
    with Session(engine) as s:
        assert (
            s.scalar(select(Donation.delivery_id).where(Donation.external_id == "g")) == world.deliveries[1]
        )
    forged = click_id(b"another key, not the one of this installation", world.deliveries[1], 1)
    fallback = _donate(
        ctx,
        settings,
        "h",
        clock.now(),
        wm_cid=forged,
        email="reader0.leopards@example.org",
        utm_campaign="leopards",
    )
    assert fallback.match == "address_and_campaign"
    nothing = _donate(ctx, settings, "i", clock.now(), wm_cid=cid[:-1] + ("A" if cid[-1] != "A" else "B"))
    assert nothing.match == "unmatched"


def test_a_donation_is_stored_once_per_source_and_id(ctx, engine, settings, clock):
    first = _donate(ctx, settings, "same", clock.now())
    again = _donate(ctx, settings, "same", clock.now() + timedelta(hours=1))
    assert first.created and not again.created and again.donation_id == first.donation_id
    other_source = checked(
        source="csv", external_id="same", amount=1, currency_code="JPY", donated_at=clock.now()
    )
    assert record_committed(engine, other_source, Attribution.from_settings(settings), clock.now()).created


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"external_id": " "}, "id", "is empty"),
        ({"amount": 0}, "amount", "above 0"),
        ({"amount": 12.5}, "amount", "whole number"),
        ({"amount": True}, "amount", "whole number"),
        ({"currency_code": "EURO"}, "currency", "three-letter"),
        ({"currency_code": "DEM"}, "currency", "not a currency in use"),
        ({"email": "not an address"}, "email", "invalid email"),
        ({"wm_cid": "x" * 101}, "wm_cid", "longer than 100"),
        ({"utm_campaign": "a\x00b"}, "utm_campaign", "control characters"),
    ],
)
def test_bad_fields_are_named(clock, fields, field, words):
    base = {"external_id": "x1", "amount": 100, "currency_code": "EUR", "donated_at": clock.now()}
    with pytest.raises(DonationError) as caught:
        checked(source="test", **{**base, **fields})
    assert caught.value.field == field and words in caught.value.reason


@pytest.mark.postgres
def test_a_persons_donations_are_in_their_export_and_forget_drops_the_address_hash(
    ctx, engine, settings, clock
):
    from subscribers.models import Subscriber
    from subscribers.privacy import forget, person_data

    world = make_world(engine, settings.secret, clock.now(), recipients=1)
    cid = click_id(settings.secret, world.deliveries[0], world.links["donation"])
    _donate(
        ctx,
        settings,
        "gift-1",
        clock.now() + timedelta(hours=1),
        email="reader0.leopards@example.org",
        wm_cid=cid,
    )
    with Session(engine) as s:
        person = s.get(Subscriber, world.subscribers[0])
        assert person is not None
        (gift,) = person_data(s, person)["donations"]
        assert (gift["external_id"], gift["amount"], gift["currency"]) == ("gift-1", 1500, "EUR")
        assert gift["address_hash"] and gift["email_id"] == world.email_id
        forget(s, person, clock.now() + timedelta(days=1))
        s.commit()
    with Session(engine) as s:
        (kept,) = s.scalars(select(Donation))
        assert (kept.amount, kept.email_id, kept.address_hash) == (1500, world.email_id, "")  # figures stay
