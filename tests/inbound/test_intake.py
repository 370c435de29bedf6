"""The intake on a real database: what each kind of message changes, and what it must never change."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email
from delivery.models import Delivery
from inbound.intake import Arrival, Intake, process
from inbound.models import InboundMessage
from subscribers.lifecycle import is_suppressed
from subscribers.models import ConsentEvent, Subscriber
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h
from tracking.models import Event
from wildmail.core import tokens
from wildmail.core.message_ids import RESEND_MARK, delivery_id_bounds

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(ctx):
    campaign = make_campaign(ctx, emails=3)
    people = add_subscribers(ctx, [("ana@example.org", "Ana", None), ("ben@example.org", "Ben", None)])
    ids = h.sent_deliveries(ctx, campaign.id, people)
    return campaign, people, ids


def _intake(ctx, **kw) -> Intake:
    return Intake.from_settings(ctx.settings.with_overrides(**kw))


def _status(ctx, subscriber_id: int) -> str:
    with Session(ctx.engine) as s:
        found = s.get(Subscriber, subscriber_id)
        assert found is not None
        return found.status


def _suppressed(ctx, email: str) -> bool:
    with Session(ctx.engine) as s:
        return is_suppressed(s, email)


def _send(ctx, raw: bytes, *rcpt: str, intake: Intake | None = None, via: str = "smtp"):
    return process(ctx.engine, intake or _intake(ctx), Arrival(raw, via, tuple(rcpt)), ctx.clock.now())


def test_hard_bounce_to_the_return_path_suppresses_that_address_only(ctx, world) -> None:
    _, (ana, ben), (d_ana, _) = world
    decision = _send(ctx, h.dsn("ana@example.org"), h.return_path(ctx, d_ana))
    assert (decision.kind, decision.action, decision.delivery_id) == ("hard", "suppressed", d_ana)
    assert _status(ctx, ana) == "bounced" and _suppressed(ctx, "ana@example.org")
    assert _status(ctx, ben) == "active" and not _suppressed(ctx, "ben@example.org")
    assert h.delivery(ctx, d_ana).state == "bounced"
    with Session(ctx.engine) as s:
        kept = s.scalars(select(InboundMessage)).one()
        assert kept.raw.startswith(b"From: MAILER-DAEMON") and kept.reason.startswith("DSN: 5.1.1")
        assert s.scalars(select(Event.reason).where(Event.kind == "bounce")).all() == ["hard"]


def test_rewritten_return_path_finds_the_delivery_by_message_id(ctx, world) -> None:
    _, (ana, _), (d_ana, _) = world
    mid = h.delivery(ctx, d_ana).message_id
    decision = _send(ctx, h.dsn("ana@example.org", message_id=mid), "bounces@wildmail.test")
    assert decision.delivery_id == d_ana and decision.action == "suppressed"
    assert _status(ctx, ana) == "bounced"


def test_a_resends_message_id_finds_the_resend(ctx, world) -> None:
    campaign, (ana, _), (d_ana, _) = world
    first = h.delivery(ctx, d_ana)
    head, tail = delivery_id_bounds(ctx.settings.secret, "wildmail.test", campaign.id)
    assert first.message_id == f"{head}{first.position}.{ana}{tail}"
    resend_id = f"{head}{first.position}.{ana}{RESEND_MARK}{tail}"
    with Session(ctx.engine) as s:
        resend = Delivery(
            subscriber_id=ana, email_id=first.email_id, campaign_id=campaign.id, position=first.position,
            kind="resend", state="sent", smtp_phase="done", attempts=1, message_id=resend_id,
            next_attempt_at=ctx.clock.now(), queued_at=ctx.clock.now(), sent_at=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        )  # fmt: skip
        s.add(resend)
        s.commit()
        resend_row = resend.id
    decision = _send(ctx, h.dsn("ana@example.org", message_id=resend_id), "bounces@wildmail.test")
    assert decision.delivery_id == resend_row and decision.action == "suppressed"
    assert h.delivery(ctx, resend_row).state == "bounced" and h.delivery(ctx, d_ana).state == "sent"


def test_a_forged_message_id_tag_finds_nothing(ctx, world, caplog) -> None:
    _, (ana, _), (d_ana, _) = world
    mid = h.delivery(ctx, d_ana).message_id
    forged = mid[: mid.index("@") - 12] + "0" * 12 + mid[mid.index("@") :]
    with caplog.at_level(logging.WARNING, "wildmail.inbound"):
        decision = _send(ctx, h.dsn("ana@example.org", message_id=forged), "bounces@wildmail.test")
    assert decision.action == "ignored" and decision.delivery_id is None
    assert _status(ctx, ana) == "active" and "no delivery of ours" in caplog.text


def test_policy_block_counts_but_never_suppresses(ctx, world, caplog) -> None:
    _, (ana, _), (d_ana, _) = world
    raw = h.dsn("ana@example.org", "5.7.1", "smtp; 554 5.7.1 blocked using zen.spamhaus.org")
    with caplog.at_level(logging.WARNING, "wildmail.inbound"):
        decision = _send(ctx, raw, h.return_path(ctx, d_ana))
    assert (decision.kind, decision.action) == ("block", "counted")
    assert _status(ctx, ana) == "active" and not _suppressed(ctx, "ana@example.org")
    assert "alert" in caplog.text and h.delivery(ctx, d_ana).state == "sent"


def test_complaint_unsubscribes_from_everything_and_stops_queued_mail(ctx, world) -> None:
    _campaign, (ana, ben), (d_ana, _) = world
    other = make_campaign(ctx, slug="tiger", emails=1, list_slug="other")
    with Session(ctx.engine) as s:  # a delivery of another campaign waiting for Ana
        email_id = s.scalar(select(Email.id).where(Email.campaign_id == other.id))
        queued = Delivery(
            subscriber_id=ana, email_id=email_id, campaign_id=other.id, position=1,
            state="queued", next_attempt_at=ctx.clock.now(), message_id="<q@x>", queued_at=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        )  # fmt: skip
        s.add(queued)
        s.commit()
        queued_id = queued.id
    decision = _send(ctx, h.arf("ana@example.org"), h.return_path(ctx, d_ana))
    assert (decision.kind, decision.action) == ("complaint", "suppressed")
    assert _status(ctx, ana) == "complained" and _suppressed(ctx, "ana@example.org")
    assert h.delivery(ctx, queued_id).state == "suppressed"
    assert _status(ctx, ben) == "active"
    with Session(ctx.engine) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "complaint")) == 1


def test_mail_to_the_unsubscribe_address_unsubscribes(ctx, world) -> None:
    _, (ana, _), (d_ana, _) = world
    address = tokens.unsubscribe_address(ctx.settings.secret, d_ana, h.BOUNCE_DOMAIN)
    raw = f"From: ana@example.org\r\nTo: {address}\r\nSubject: unsubscribe\r\n\r\n".encode()
    decision = _send(ctx, raw, address)
    assert (decision.kind, decision.action) == ("unsubscribe", "unsubscribed")
    assert _status(ctx, ana) == "unsubscribed"
    with Session(ctx.engine) as s:
        sources = s.scalars(select(ConsentEvent.source).where(ConsentEvent.subscriber_id == ana)).all()
    assert sources[-1] == "mailto"


def _soft(ctx, delivery_id: int):
    raw = h.dsn("ana@example.org", "4.2.2", f"smtp; 452 4.2.2 mailbox full ({delivery_id})")
    return _send(ctx, raw, h.return_path(ctx, delivery_id))


def _weekly(ctx, campaign_id: int, subscriber: int, position: int) -> int:
    """The next weekly send to ``subscriber``; the clock is an hour after it."""
    ctx.clock.advance(timedelta(weeks=1))
    sent = h.sent_deliveries(ctx, campaign_id, [subscriber], position=position)[0]
    ctx.clock.advance(timedelta(hours=1))
    return sent


def test_three_soft_bounces_among_the_last_five_sends_suppress(ctx, world) -> None:
    campaign, (ana, _), (d1, _) = world
    ctx.clock.advance(timedelta(hours=1))
    assert _soft(ctx, d1).reason.endswith("soft-bounce score 1 of 3")
    assert _soft(ctx, _weekly(ctx, campaign.id, ana, 2)).reason.endswith("soft-bounce score 2 of 3")
    assert _status(ctx, ana) == "active"
    third = _soft(ctx, _weekly(ctx, campaign.id, ana, 3))
    assert third.action == "suppressed" and "3 soft bounces among the last 5 sends" in third.reason
    assert _status(ctx, ana) == "bounced" and _suppressed(ctx, "ana@example.org")


def test_a_delivery_that_went_through_resets_the_soft_score(ctx, world) -> None:
    campaign, (ana, _), (d1, _) = world
    _soft(ctx, d1)
    _weekly(ctx, campaign.id, ana, 2)  # no bounce for this one: it went through
    assert _soft(ctx, _weekly(ctx, campaign.id, ana, 3)).reason.endswith("soft-bounce score 1 of 3")


def test_a_human_open_resets_the_soft_score(ctx, world) -> None:
    campaign, (ana, _), (d1, _) = world
    _soft(ctx, d1)
    d2 = _weekly(ctx, campaign.id, ana, 2)
    _soft(ctx, d2)
    with Session(ctx.engine) as s:  # Ana opened email 2 after all (the bounce was a transient one)
        s.add(Event(uid="o1", kind="open", classification="human", delivery_id=d2, campaign_id=campaign.id,
                    email_id=h.delivery(ctx, d2).email_id, at=ctx.clock.now()))  # fmt: skip
        s.commit()
    assert _soft(ctx, _weekly(ctx, campaign.id, ana, 3)).reason.endswith("soft-bounce score 1 of 3")
    assert _status(ctx, ana) == "active"


def test_old_soft_bounces_decay(ctx, world) -> None:
    campaign, (ana, _), (d1, _) = world
    start = ctx.clock.now()
    d2 = h.sent_deliveries(ctx, campaign.id, [ana], position=2, at=start + timedelta(minutes=1))[0]
    d3 = h.sent_deliveries(ctx, campaign.id, [ana], position=3, at=start + timedelta(minutes=2))[0]
    ctx.clock.advance(timedelta(hours=1))
    _soft(ctx, d1)
    _soft(ctx, d2)
    ctx.clock.advance(timedelta(days=40))  # past soft_bounce_expiry_days (30)
    assert _soft(ctx, d3).reason.endswith("soft-bounce score 1 of 3")
    assert _status(ctx, ana) == "active"


def test_circuit_breaker_pauses_the_campaign_with_its_reason(ctx) -> None:
    campaign = make_campaign(ctx, emails=1)
    people = add_subscribers(ctx, 20)
    ids = h.sent_deliveries(ctx, campaign.id, people)
    intake = _intake(ctx, breaker_min_deliveries=20, breaker_complaint_rate=0.05)
    first = _send(ctx, h.arf("reader0@example.org"), h.return_path(ctx, ids[0]), intake=intake)
    assert first.paused == ""  # 1 of 20 = 5%: not over the limit
    second = _send(ctx, h.arf("reader1@example.org"), h.return_path(ctx, ids[1]), intake=intake)
    assert "complaints 2 of 20 sends" in second.paused
    with Session(ctx.engine) as s:
        c = s.get(Campaign, campaign.id)
        assert c is not None
        assert c.status == "paused" and c.pause_reason.startswith("circuit breaker: complaints 2 of 20")


def test_the_breaker_waits_for_its_minimum_of_sends(ctx) -> None:
    campaign = make_campaign(ctx, emails=1)
    ids = h.sent_deliveries(ctx, campaign.id, add_subscribers(ctx, 5))
    for n, d in enumerate(ids):
        assert _send(ctx, h.dsn(f"reader{n}@example.org"), h.return_path(ctx, d)).paused == ""
    with Session(ctx.engine) as s:
        c = s.get(Campaign, campaign.id)
        assert c is not None and c.status == "running"  # 100% bounced, but 5 < 1,000 sends


# --- bad input: ignored with a log line, never a suppression, never a crash


def _nothing_changed(ctx, people) -> None:
    for p in people:
        assert _status(ctx, p) == "active"
    with Session(ctx.engine) as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


def test_a_forged_return_path_token_is_ignored(ctx, world, caplog) -> None:
    _, people, (d_ana, _) = world
    real = h.return_path(ctx, d_ana)
    forged = real.replace("b-" + str(d_ana), "b-" + str(d_ana + 1))
    with caplog.at_level(logging.WARNING, "wildmail.inbound"):
        decision = _send(ctx, h.dsn("ana@example.org"), forged)
    assert decision.action == "ignored" and "forged or mangled" in decision.reason
    assert "forged or mangled" in caplog.text
    _nothing_changed(ctx, people)


def test_a_dsn_for_an_unknown_delivery_is_ignored(ctx, world) -> None:
    _, people, _ = world
    decision = _send(ctx, h.dsn("ana@example.org"), h.return_path(ctx, 999_999))
    assert decision.action == "ignored" and "no longer exists" in decision.reason
    _nothing_changed(ctx, people)


def test_a_malformed_multipart_is_ignored(ctx, world) -> None:
    _, people, (d_ana, _) = world
    raw = (
        b"From: MAILER-DAEMON@x\r\nContent-Type: multipart/report; report-type=delivery-status;"
        b' boundary="never-closed"\r\n\r\n--never-closed\r\nContent-Type: message/delivery-status\r\n\r\n'
        b"Final-Recipient: \xff\xfe;;\r\nStatus: 9.9.9.9\r\n"
    )
    decision = _send(ctx, raw, h.return_path(ctx, d_ana))
    assert decision.action in ("ignored", "counted")
    assert _status(ctx, people[0]) == "active"


def test_a_50_mb_message_is_refused_without_reading_it(ctx, world) -> None:
    _, people, (d_ana, _) = world
    big = h.dsn("ana@example.org") + b"x" * (50 * 1024 * 1024)
    decision = _send(ctx, big, h.return_path(ctx, d_ana))
    assert decision.action == "ignored" and "over inbound_max_bytes" in decision.reason
    with Session(ctx.engine) as s:
        assert len(s.scalars(select(InboundMessage.raw)).one()) == ctx.settings.inbound_keep_bytes
    _nothing_changed(ctx, people)


def test_a_bounce_loop_is_not_acted_upon(ctx, world) -> None:
    _, people, (d_ana, _) = world
    intake = _intake(ctx, bounce_domain=h.BOUNCE_DOMAIN)
    ours = h.return_path(ctx, d_ana)
    looped = h.dsn("ana@example.org").replace(b"From: MAILER-DAEMON@mx.example.net", f"From: {ours}".encode())
    decision = _send(ctx, looped, ours, intake=intake)
    assert decision.action == "ignored" and "a loop" in decision.reason
    _nothing_changed(ctx, people)


def test_the_same_message_twice_counts_once(ctx, world) -> None:
    _, (_ana, _), (d_ana, _) = world
    raw = h.dsn("ana@example.org", "4.2.2", "smtp; 452 4.2.2 mailbox full")
    assert _send(ctx, raw, h.return_path(ctx, d_ana)).action == "counted"
    again = _send(ctx, raw, h.return_path(ctx, d_ana))
    assert again.action == "ignored" and "received before" in again.reason
    other = _send(ctx, raw + b"\r\n", h.return_path(ctx, d_ana))  # a second bounce of the same delivery
    assert other.action == "ignored" and "counted before" in other.reason
    with Session(ctx.engine) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "bounce")) == 1


def test_forget_erases_the_kept_messages_about_the_person(ctx, world) -> None:
    from subscribers.privacy import forget

    _, (ana, _), (d_ana, _) = world
    _send(ctx, h.dsn("ana@example.org"), h.return_path(ctx, d_ana))
    with Session(ctx.engine) as s:
        person = s.get(Subscriber, ana)
        assert person is not None
        forget(s, person, ctx.clock.now())
        s.commit()
        kept = s.scalars(select(InboundMessage)).one()
        assert (kept.raw, kept.envelope_to, kept.reason, kept.kind) == (b"", "", "forgotten", "hard")
