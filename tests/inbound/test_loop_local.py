"""The loop without an MTA: the real worker sends with per-delivery return paths to a recording
relay; DSNs and a complaint come back through the real ``inbound serve`` listener (SMTP and LMTP);
the next tick sends nothing to the bounced and the complainer, and the rest carry on."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from inbound.intake import Intake
from inbound.listener import listener
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h
from wildmail.core import tokens
from wildmail.runtime.smtp_sink import free_port

pytestmark = pytest.mark.postgres
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def bounce_ctx(ctx):
    ctx.settings = ctx.settings.with_overrides(bounce_domain=h.BOUNCE_DOMAIN)
    return ctx


def _sent_to(ctx) -> dict[int, str]:
    with ctx.session() as s:
        rows = s.execute(select(Delivery.id, Delivery.state)).all()
    return dict(rows)


@pytest.mark.parametrize("lmtp", [False, True], ids=["smtp", "lmtp"])
def test_bounces_and_a_complaint_change_what_the_next_tick_sends(bounce_ctx, clock, smtp_server, lmtp):
    ctx = bounce_ctx
    make_campaign(ctx, emails=2)
    people = add_subscribers(ctx, 4)
    schedule_campaign(ctx, "leopard")
    clock.set(SLOT)
    assert tick(ctx, ctx.message_ids).queued == 4
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5.0)
    assert run_worker_once(ctx, transport, ctx.sender(), WorkerConfig()) == 4
    transport.close()

    by_rcpt = {}
    for received in smtp_server.messages:
        (rcpt,) = received.rcpt_tos
        purpose, delivery_id = tokens.parse_address(ctx.settings.secret, received.mail_from)
        assert purpose == tokens.RETURN_PATH and received.mail_from.endswith("@" + h.BOUNCE_DOMAIN)
        unsub = received.message["List-Unsubscribe"]
        mailto = unsub[unsub.index("mailto:") + 7 : unsub.index("?subject")]
        assert tokens.parse_address(ctx.settings.secret, mailto) == (tokens.MAILTO, delivery_id)
        by_rcpt[rcpt] = received.mail_from
    assert len(set(by_rcpt.values())) == 4  # one return path per delivery

    server = listener(ctx.engine, Intake.from_settings(ctx.settings), clock.now, port=free_port(), lmtp=lmtp)
    server.start()
    try:
        client = smtplib.LMTP if lmtp else smtplib.SMTP
        with client("127.0.0.1", server.port, timeout=10) as c:
            c.sendmail("", [by_rcpt["reader0@example.org"]], h.dsn("reader0@example.org"))
            c.sendmail("", [by_rcpt["reader1@example.org"]], h.arf("reader1@example.org"))
            # a made-up address on the bounce domain is refused at RCPT
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                c.sendmail("", ["b-1-aaaaaaaaaaaaaaaaaaaa@" + h.BOUNCE_DOMAIN], h.dsn("x@example.org"))
    finally:
        server.stop()

    clock.set(SLOT + timedelta(days=7))
    tick(ctx, ctx.message_ids)
    with ctx.session() as s:
        second = dict(
            s.execute(select(Delivery.subscriber_id, Delivery.state).where(Delivery.position == 2)).all()
        )
    assert people[0] not in second and people[1] not in second  # bounced and complained: nothing queued
    assert second == {people[2]: "queued", people[3]: "queued"}


def test_the_listener_refuses_a_50_mb_message_at_data(ctx, clock) -> None:
    server = listener(ctx.engine, Intake.from_settings(ctx.settings), clock.now, port=free_port())
    server.start()
    try:
        address = h.return_path(ctx, 1)
        big = h.dsn("ana@example.org", to=address) + b"x" * (50 * 1024 * 1024)
        # The listener announces its SIZE limit; smtplib declares the size and is refused at MAIL.
        with (
            smtplib.SMTP("127.0.0.1", server.port, timeout=60) as c,
            pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused,
        ):
            c.sendmail("", [address], big)
        assert refused.value.smtp_code == 552
    finally:
        server.stop()
    with ctx.session() as s:
        assert s.execute(select(Delivery)).first() is None
