"""Donations over real HTTP: a donation link's redirect carries wm_cid, the signed webhooks
(wildmail's JSON shape and Stripe's checkout.session.completed) attribute the money, bad
signatures store nothing, and the figures show it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from donations.models import Donation
from stats.report import campaign_report
from tests.donations.conftest import STRIPE_SECRET, WEBHOOK_SECRET, signed, stripe_event
from tests.tracking.conftest import BROWSER_UA, make_world
from tracking.click_ids import parse_click_id
from wildmail.core.db import write_transaction
from wildmail.core.outbox import OutboxEvent
from wildmail.runtime.api_tokens import create_token
from wildmail.web.app import create_app
from wildmail.web.serving import ServerThread


def _donations(engine) -> list[Donation]:
    with Session(engine) as s:
        return list(s.scalars(select(Donation).order_by(Donation.id)))


@pytest.mark.postgres
def test_click_then_webhooks_attribute_and_the_figures_show_it(ctx, engine, settings, clock, listening):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    server = ServerThread(create_app(ctx), port=0).start()
    try:
        with httpx.Client(base_url=server.url, headers={"User-Agent": BROWSER_UA}) as http:
            r = http.get(world.click_path("donation", 0))
            assert r.status_code == 302
            query = dict(parse_qsl(urlsplit(r.headers["location"]).query))
            assert query["utm_campaign"] == "leopards" and query["ref"] == "mail"
            cid = query["wm_cid"]
            assert parse_click_id(settings.secret, cid) == (world.deliveries[0], world.links["donation"])
            content = http.get(world.click_path("content", 0))
            assert "wm_cid" not in content.headers["location"]  # only donation links carry it

            clock.advance(minutes=7)  # the donor fills in the form
            payload = {
                "id": "don-0001",
                "amount": 2500,
                "currency": "eur",
                "donated_at": clock.now().isoformat(),
                "email": "not-a-subscriber@example.net",
                "wm_cid": cid,
            }
            body, headers = signed(payload, WEBHOOK_SECRET, clock.now(), "Wildmail-Signature")
            r = http.post("/webhooks/donations", content=body, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json() == {"donation": r.json()["donation"], "created": True, "match": "click_id"}
            again = http.post("/webhooks/donations", content=body, headers=headers)  # a retry
            assert again.json()["created"] is False and again.json()["donation"] == r.json()["donation"]

            forged = dict(payload, id="don-0002")
            body, headers = signed(
                forged, "another-secret-of-the-same-length-0123456789", clock.now(), "Wildmail-Signature"
            )
            assert http.post("/webhooks/donations", content=body, headers=headers).status_code == 401
            body, headers = signed(
                forged, WEBHOOK_SECRET, clock.now() - timedelta(minutes=6), "Wildmail-Signature"
            )
            assert http.post("/webhooks/donations", content=body, headers=headers).status_code == 401  # stale
            body, _ = signed(forged, WEBHOOK_SECRET, clock.now(), "Wildmail-Signature")
            assert http.post("/webhooks/donations", content=body).status_code == 401  # unsigned
            bad_field = dict(forged, currency="XYZ")
            body, headers = signed(bad_field, WEBHOOK_SECRET, clock.now(), "Wildmail-Signature")
            r = http.post("/webhooks/donations", content=body, headers=headers)
            assert r.status_code == 400 and r.json()["field"] == "currency"

            # Stripe: reader 1 never clicked; their address and the campaign in the metadata match
            event = stripe_event(
                "cs_test_a1b2c3",
                1000,
                "gbp",
                clock.now(),
                email="Reader1.Leopards@example.org",
                metadata={"utm_campaign": "leopards"},
            )
            body, headers = signed(event, STRIPE_SECRET, clock.now(), "Stripe-Signature")
            r = http.post("/webhooks/stripe", content=body, headers=headers)
            assert r.status_code == 200 and r.json()["match"] == "address_and_campaign", r.text
            tampered = body.replace(b"1000", b"9000")
            assert http.post("/webhooks/stripe", content=tampered, headers=headers).status_code == 401
            unpaid = stripe_event("cs_test_unpaid", 500, "eur", clock.now(), payment_status="unpaid")
            body, headers = signed(unpaid, STRIPE_SECRET, clock.now(), "Stripe-Signature")
            assert http.post("/webhooks/stripe", content=body, headers=headers).json() == {"ignored": True}
    finally:
        server.stop()  # flushes the click events

    stored = _donations(engine)
    assert [(d.source, d.external_id, d.amount, d.currency, d.match) for d in stored] == [
        ("webhook", "don-0001", 2500, "EUR", "click_id"),
        ("stripe", "cs_test_a1b2c3", 1000, "GBP", "address_and_campaign"),
    ]
    assert [d.delivery_id for d in stored] == world.deliveries
    assert all(len(d.address_hash) == 64 and "@" not in d.address_hash for d in stored)
    with Session(engine) as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "donation.attributed")).all()
        assert sorted(e.payload["external_id"] for e in events) == ["cs_test_a1b2c3", "don-0001"]

    clock.advance(hours=1)  # the clicks settle
    total = campaign_report(engine, "leopards", clock).total
    assert (total.donations, total.raised) == (2, {"EUR": 2500, "GBP": 1000})
    assert total.revenue_per_1000 == {"EUR": 1_250_000, "GBP": 500_000}  # 2 delivered
    assert (total.donors, total.converted, total.donation_conversion) == (1, 1, 1.0)

    # The REST API reports the same figures from the same definitions.
    with write_transaction(engine) as s:
        _token, token = create_token(s, "stats", "stats:read", clock.now())
    server = ServerThread(create_app(ctx), port=0).start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers) as http:
            r = http.get("/api/v1/campaigns/leopards/stats")
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    api_total = r.json()["total"]
    assert api_total["raised"] == {"EUR": 2500, "GBP": 1000}
    assert api_total["revenue_per_1000"] == {"EUR": 1_250_000, "GBP": 500_000}
    assert (api_total["donations"], api_total["converted"], api_total["donation_conversion"]) == (2, 1, 1.0)


@pytest.mark.postgres
def test_endpoints_without_a_secret_do_not_exist(ctx, engine, clock):
    bare = ctx.settings.with_overrides(donation_webhook_secret="", stripe_webhook_secret="")
    ctx.settings = bare
    server = ServerThread(create_app(ctx), port=0).start()
    try:
        body, headers = signed({"id": "x"}, WEBHOOK_SECRET, clock.now(), "Wildmail-Signature")
        assert (
            httpx.post(f"{server.url}/webhooks/donations", content=body, headers=headers).status_code == 404
        )
        assert httpx.post(f"{server.url}/webhooks/stripe", content=body, headers=headers).status_code == 404
    finally:
        server.stop()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Donation)) == 0
