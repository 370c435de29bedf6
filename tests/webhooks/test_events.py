"""Events from the real use cases reach a real receiver, in the transaction of their change."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import pause_campaign, schedule_campaign
from inbound.intake import Arrival, Intake, process
from subscribers.csv_import import import_csv
from subscribers.lifecycle import create_list
from subscribers.optin import subscribe
from subscribers.privacy import forget
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h
from tests.tracking.conftest import BROWSER_UA, make_world
from tests.webhooks.conftest import register
from tracking.batch import write_batch
from tracking.lookup import MetaCache
from webhooks.dispatch import DispatchConfig, Dispatcher
from wildmail.core.clock import to_micros
from wildmail.core.db import write_transaction
from wildmail.core.outbox import OutboxEvent

pytestmark = pytest.mark.postgres


def _events(ctx, event_type: str | None = None) -> list[dict[str, Any]]:
    with ctx.session() as s:
        query = select(OutboxEvent.event_type, OutboxEvent.payload).order_by(OutboxEvent.id)
        rows = s.execute(query).all()
    return [{"type": t, **p} for t, p in rows if event_type is None or t == event_type]


def _never_send(_message) -> None:
    raise AssertionError("a single opt-in list sends no confirmation")


def test_subscribing_and_forgetting_reach_the_receiver_without_the_address(
    hooks_ctx, dispatcher, receiver
) -> None:
    register(hooks_ctx, receiver, "subscriber.created,subscriber.confirmed,subscriber.forgotten")
    now = hooks_ctx.clock.now()
    with write_transaction(hooks_ctx.engine) as s:
        lst = create_list(s, "open", double_opt_in=False, at=now)
        result = subscribe(s, hooks_ctx.settings, lst, "Ana@Example.org", now, _never_send, name="Ana")
        sid = result.subscriber.id
    assert dispatcher.until_idle() == {"delivered": 2}
    created = receiver.of_type("subscriber.created")[0].document["data"]
    assert created == {
        "subscriber_id": sid, "email": "ana@example.org", "status": "pending",
        "list": "open", "source": "form",
    }  # fmt: skip
    confirmed = receiver.of_type("subscriber.confirmed")[0].document["data"]
    assert confirmed["subscriber_id"] == sid and confirmed["from_status"] == "pending"

    # A second person is forgotten before their events went out: those go out without the address.
    with write_transaction(hooks_ctx.engine) as s:
        bo = subscribe(s, hooks_ctx.settings, lst, "bo@example.org", now, _never_send).subscriber
    with write_transaction(hooks_ctx.engine) as s:
        forget(s, s.merge(bo), hooks_ctx.clock.now())
    dispatcher.until_idle()
    about_bo = [r.document for r in receiver.received if r.document["data"].get("subscriber_id") == bo.id]
    assert {d["type"] for d in about_bo} == {
        "subscriber.created",
        "subscriber.confirmed",
        "subscriber.forgotten",
    }
    assert all("bo@example.org" not in r.body.decode() for r in receiver.received)
    assert [d["data"] for d in about_bo if d["type"] == "subscriber.forgotten"] == [{"subscriber_id": bo.id}]
    assert all(r.signature_ok for r in receiver.received)


def test_a_bounce_through_inbound_intake_arrives_with_its_suppression(
    hooks_ctx, dispatcher, receiver
) -> None:
    campaign = make_campaign(hooks_ctx, emails=2)
    (ana,) = add_subscribers(hooks_ctx, [("ana@example.org", "Ana", None)])
    (delivery_id,) = h.sent_deliveries(hooks_ctx, campaign.id, [ana])
    register(hooks_ctx, receiver, "bounce,suppression.added,complaint")
    intake = Intake.from_settings(hooks_ctx.settings)
    raw = h.dsn("ana@example.org", diagnostic="smtp; 550 5.1.1 <ana@example.org> unknown")
    decision = process(
        hooks_ctx.engine,
        intake,
        Arrival(raw, "smtp", (h.return_path(hooks_ctx, delivery_id),)),
        hooks_ctx.clock.now(),
    )
    assert decision.action == "suppressed"
    dispatcher.until_idle()
    bounce = receiver.of_type("bounce")[0].document["data"]
    assert bounce == {
        "delivery_id": delivery_id, "subscriber_id": ana, "campaign_id": campaign.id,
        "email_id": bounce["email_id"], "kind": "hard", "status": "5.1.1", "suppressed": True,
    }  # fmt: skip
    suppression = receiver.of_type("suppression.added")[0].document["data"]
    assert suppression == {"subscriber_id": ana, "email": "ana@example.org", "reason": "bounced"}
    assert receiver.of_type("complaint") == []
    raw = h.arf("ana@example.org")
    process(
        hooks_ctx.engine,
        intake,
        Arrival(raw, "smtp", (h.return_path(hooks_ctx, delivery_id),)),
        hooks_ctx.clock.now(),
    )
    dispatcher.until_idle()
    complaint = receiver.of_type("complaint")[0].document["data"]
    assert complaint["delivery_id"] == delivery_id and complaint["suppressed"] is True


def test_a_campaign_starts_finishes_and_pauses(hooks_ctx, dispatcher, receiver) -> None:
    make_campaign(hooks_ctx, slug="leopard", emails=2)
    add_subscribers(hooks_ctx, 2)
    register(hooks_ctx, receiver, "campaign.started,campaign.paused,campaign.finished")
    schedule_campaign(hooks_ctx, "leopard", hooks_ctx.clock.now())
    tick(hooks_ctx, hooks_ctx.message_ids)
    tick(hooks_ctx, hooks_ctx.message_ids)  # nothing new: no second "started"
    for _ in range(3):
        hooks_ctx.clock.advance(days=7, hours=2)  # past the weekly 09:00 slot
        tick(hooks_ctx, hooks_ctx.message_ids)
    pause_campaign(hooks_ctx, "leopard")
    dispatcher.until_idle()
    kinds = [r.document["type"] for r in receiver.received]
    assert sorted(kinds) == ["campaign.finished", "campaign.paused", "campaign.started"]
    started = receiver.of_type("campaign.started")[0].document["data"]
    assert started["slug"] == "leopard" and started["status"] == "running"
    paused = receiver.of_type("campaign.paused")[0].document["data"]
    assert paused["status"] == "paused" and paused["reason"] == "paused by hand"


def test_one_click_unsubscribe_over_http_is_announced(hooks_ctx, client, settings, clock, receiver) -> None:
    world = make_world(hooks_ctx.engine, settings.secret, clock.now())
    register(hooks_ctx, receiver, "subscriber.unsubscribed")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Mozilla/5.0 (Mail-Unsubscribe)",
    }
    for _ in range(2):  # a retried RFC 8058 POST changes nothing the second time
        r = client.post(world.unsubscribe_path(), content=b"List-Unsubscribe=One-Click", headers=headers)
        assert r.status_code == 200
    d = Dispatcher(hooks_ctx, DispatchConfig(timeout=5, allow_private=True))
    try:
        d.until_idle()
    finally:
        d.close()
    (only,) = receiver.received
    data = only.document["data"]
    assert data["source"] == "one-click" and data["from_status"] == "active"
    assert data["email"].startswith("reader0.") and data["subscriber_id"]


def test_human_donation_clicks_are_announced_once_and_bot_clicks_never(
    engine, settings, clock, listening
) -> None:
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    at = to_micros(clock.now())
    donation, content = world.links["donation"], world.links["content"]
    human = ("d-1", "click", world.deliveries[0], donation, at, BROWSER_UA, "h", "GET", False)
    bot = ("d-2", "click", world.deliveries[1], donation, at, BROWSER_UA, "h", "HEAD", False)
    other = ("c-1", "click", world.deliveries[1], content, at, BROWSER_UA, "h", "GET", False)
    for _ in range(2):  # the second is a replayed batch
        with engine.begin() as conn:
            write_batch(conn, MetaCache(engine), [human, bot, other], set())
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.event_type, OutboxEvent.payload)).all()
    assert [t for t, _ in rows] == ["donation.clicked"]
    data = rows[0][1]
    assert data["click_id"] == "d-1" and data["delivery_id"] == world.deliveries[0]
    assert data["link_id"] == donation and data["campaign"] == "leopards" and data["subscriber_id"]


def test_donation_clicks_of_an_aggregate_only_campaign_name_nobody(
    engine, settings, clock, listening
) -> None:
    world = make_world(engine, settings.secret, clock.now(), track_identity=False, slug="quiet")
    hit = (
        "d-9",
        "click",
        world.deliveries[0],
        world.links["donation"],
        to_micros(clock.now()),
        BROWSER_UA,
        "h",
        "GET",
        False,
    )
    with engine.begin() as conn:
        write_batch(conn, MetaCache(engine), [hit], set())
    with engine.connect() as conn:
        (payload,) = conn.execute(select(OutboxEvent.payload)).scalars().all()
    assert payload["subscriber_id"] is None and payload["delivery_id"] is None


def test_a_csv_import_announces_new_and_activated_people_once(hooks_ctx, listening) -> None:
    now = hooks_ctx.clock.now()
    with write_transaction(hooks_ctx.engine) as s:
        create_list(s, "news", at=now)
    text = "email,name\nada@example.org,Ada\nbo@example.org,Bo\n"
    import_csv(hooks_ctx.engine, io.StringIO(text), "news", status="pending", at=now)
    later = now + timedelta(minutes=1)
    import_csv(hooks_ctx.engine, io.StringIO(text + "cy@example.org,Cy\n"), "news", at=later)
    created = _events(hooks_ctx, "subscriber.created")
    assert sorted((e["email"], e["status"]) for e in created) == [
        ("ada@example.org", "pending"), ("bo@example.org", "pending"), ("cy@example.org", "active"),
    ]  # fmt: skip
    confirmed = _events(hooks_ctx, "subscriber.confirmed")
    assert sorted((e["email"], e["from_status"]) for e in confirmed) == [
        ("ada@example.org", "pending"), ("bo@example.org", "pending"), ("cy@example.org", None),
    ]  # fmt: skip
    import_csv(hooks_ctx.engine, io.StringIO(text), "news", at=later)  # a rerun changes nothing
    assert len(_events(hooks_ctx)) == 6


def test_a_recipient_refused_at_rcpt_is_announced_as_a_bounce(ctx, clock, smtp_server, listening) -> None:
    from tests.delivery.test_relay_refusals import queue, send_all

    ids = queue(ctx, clock, 3)
    smtp_server.fail("rcpt", 550, "5.1.1 <reader0@example.org>: User unknown", times=1)
    send_all(ctx, smtp_server)
    (bounce,) = _events(ctx, "bounce")
    assert bounce["kind"] == "hard" and bounce["status"] == "5.1.1" and bounce["suppressed"] is True
    assert bounce["subscriber_id"] in ids and bounce["delivery_id"] and bounce["campaign_id"]
    assert "reader0" not in str(bounce)  # the relay's words stay out
    (suppression,) = _events(ctx, "suppression.added")
    assert suppression["subscriber_id"] == bounce["subscriber_id"] and suppression["reason"] == "bounced"


def test_the_circuit_breaker_pause_is_announced_with_its_reason(hooks_ctx, listening) -> None:
    campaign = make_campaign(hooks_ctx, emails=1)
    (ana,) = add_subscribers(hooks_ctx, [("ana@example.org", "Ana", None)])
    (delivery_id,) = h.sent_deliveries(hooks_ctx, campaign.id, [ana])
    intake = Intake.from_settings(hooks_ctx.settings.with_overrides(breaker_min_deliveries=1))
    arrival = Arrival(h.dsn("ana@example.org"), "smtp", (h.return_path(hooks_ctx, delivery_id),))
    assert process(hooks_ctx.engine, intake, arrival, hooks_ctx.clock.now()).paused
    (paused,) = _events(hooks_ctx, "campaign.paused")
    assert paused["campaign_id"] == campaign.id and paused["status"] == "paused"
    assert paused["reason"].startswith("circuit breaker: hard bounces 1 of 1 sends")


def test_the_event_writer_process_announces_donation_clicks_only_to_a_listener(ctx, engine, settings, clock):
    """The default event writer commits in a child process; it is wired like the server, so a
    human donation click is stored as an event only while an endpoint wants it."""
    import httpx

    from webhooks.endpoints import add_endpoint
    from wildmail.web.app import create_app
    from wildmail.web.serving import ServerThread

    assert settings.event_writer == "process"
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    app = create_app(ctx)
    server = ServerThread(app, port=0).start()

    def click(reader: int) -> None:
        with httpx.Client(base_url=server.url, headers={"User-Agent": BROWSER_UA}) as http:
            assert http.get(world.click_path("donation", reader)).status_code == 302
        assert app.state.tracker.writer.flush(timeout=30)

    try:
        click(0)
        with write_transaction(engine) as s:
            add_endpoint(s, "http://127.0.0.1:9/crm", "donation.clicked", clock.now(), allow_private=True)
        click(1)
    finally:
        server.stop()
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.event_type, OutboxEvent.payload)).all()
    assert [(t, p["delivery_id"]) for t, p in rows] == [("donation.clicked", world.deliveries[1])]
