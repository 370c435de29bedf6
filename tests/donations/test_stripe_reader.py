"""Reading Stripe's Checkout Session events (payloads written from Stripe's documented shape)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from donations.intake import DonationError
from donations.webhooks import read_stripe
from tests.donations.conftest import stripe_event
from tracking.click_ids import click_id

AT = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
CID = click_id(b"k" * 40, 12, 34)


def _read(**kwargs):
    return read_stripe(json.dumps(stripe_event("cs_test_1", 2000, "usd", AT, **kwargs)).encode())


def test_a_paid_session_becomes_a_donation():
    item = _read(email="Ada@Example.org", client_reference_id=CID, metadata={"utm_campaign": "leopard"})
    assert item is not None
    assert (item.source, item.external_id, item.amount, item.currency) == ("stripe", "cs_test_1", 2000, "USD")
    assert (item.donated_at, item.email, item.wm_cid, item.utm_campaign) == (
        AT,
        "ada@example.org",
        CID,
        "leopard",
    )


def test_the_click_id_in_metadata_and_a_site_s_own_reference():
    assert _read(client_reference_id="cart_8812", metadata={"wm_cid": CID}).wm_cid == CID  # type: ignore[union-attr]
    assert _read(client_reference_id="cart_8812").wm_cid == ""  # type: ignore[union-attr]
    assert _read(client_reference_id="x" * 200).wm_cid == ""  # type: ignore[union-attr]


def test_events_we_do_not_act_on_and_bad_fields():
    assert _read(payment_status="unpaid") is None  # async_payment_succeeded follows when it is paid
    assert _read(event_type="checkout.session.expired") is None
    paid_later = _read(event_type="checkout.session.async_payment_succeeded")
    assert paid_later is not None and paid_later.external_id == "cs_test_1"
    event = stripe_event("cs_test_2", 0, "usd", AT)
    with pytest.raises(DonationError) as caught:
        read_stripe(json.dumps(event).encode())
    assert caught.value.field == "data.object.amount_total"
    with pytest.raises(DonationError):
        read_stripe(b"not json")
