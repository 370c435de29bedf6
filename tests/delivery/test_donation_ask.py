"""Donors of a campaign with ``stop_donation_after_click`` keep getting the series, minus the ask.

Real pieces throughout: the tick queues, the worker claims and renders, a loopback SMTP server
receives; the donor clicks the donation link of email 1 over HTTP and tracking records it.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.models import Email, Enrolment, Link
from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.core import tokens

pytestmark = pytest.mark.postgres
WEEK1 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def send_all(ctx, smtp_server):
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=2.0)
    try:
        return run_worker_once(ctx, transport, ctx.sender(), WorkerConfig())
    finally:
        transport.close()


BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"


def click_donate(client, received) -> None:
    """Follow the donation link of a received message, as a person in a browser would."""
    url = re.search(r"Donate: (\S+)", received.message.get_body(("plain",)).get_content())
    assert url is not None
    path = url.group(1).split("://", 1)[1].partition("/")[2]
    assert client.get(f"/{path}", headers={"User-Agent": BROWSER}, follow_redirects=False).status_code == 302
    assert client.app.state.tracker.writer.flush(timeout=10)


def week_two(ctx, clock, smtp_server, client, *, stop: bool):
    """Email 1 to both readers, the first one clicks donate, then email 2 to both."""
    c = make_campaign(ctx, emails=3, stop_donation_after_click=stop)
    donor, _other = add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(WEEK1)
    assert tick(ctx, ctx.message_ids).queued == 2
    assert send_all(ctx, smtp_server) == 2
    clock.set(WEEK1 + timedelta(hours=2))  # read later that day (a click right away looks like a scanner)
    click_donate(client, next(m for m in smtp_server.messages if m.rcpt_tos == ["reader0@example.org"]))
    with ctx.session() as s:
        assert s.scalar(select(Enrolment.donation_clicked).where(Enrolment.subscriber_id == donor))
    smtp_server.messages.clear()
    clock.set(WEEK1 + timedelta(days=7))
    report = tick(ctx, ctx.message_ids)
    assert (report.queued, report.exited) == (2, 0)
    assert send_all(ctx, smtp_server) == 2
    with ctx.session() as s:
        second = select(Email.id).where(Email.campaign_id == c.id, Email.position == 2).scalar_subquery()
        links = {lk.kind: lk.id for lk in s.execute(select(Link).where(Link.email_id == second)).scalars()}
        enrolment = s.execute(select(Enrolment).where(Enrolment.subscriber_id == donor)).scalar_one()
        assert (enrolment.status, enrolment.exit_reason, enrolment.next_position) == ("active", "", 3)
    by_address = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    return by_address["reader0@example.org"], by_address["reader1@example.org"], links


def parts(message):
    assert message["Subject"].startswith("Part 2:")
    plain, html = message.iter_parts()
    return html.get_content(), plain.get_content()


def clicked_link_ids(ctx, html):
    found = []
    for token in re.findall(r'href="[^"]*/c/([^"]+)"', html):
        found.append(tokens.parse_click(ctx.settings.secret, token)[1])
    return found


def test_donor_gets_the_next_email_without_the_ask(ctx, clock, smtp_server, client, backend):
    donor_msg, other_msg, links = week_two(ctx, clock, smtp_server, client, stop=True)
    donor_html, donor_text = parts(donor_msg)
    other_html, other_text = parts(other_msg)
    assert clicked_link_ids(ctx, donor_html) == [links["content"]]
    assert ">Donate<" not in donor_html and "Donate:" not in donor_text
    assert "Read more:" in donor_text and "Hello Reader 0," in donor_text
    assert "WM_IF_DONATION" not in donor_html + donor_text + other_html + other_text
    assert clicked_link_ids(ctx, other_html) == [links["content"], links["donation"]]
    assert ">Donate<" in other_html and "Donate: " in other_text


def test_without_the_setting_donors_are_still_asked(ctx, clock, smtp_server, client, backend):
    donor_msg, _other, links = week_two(ctx, clock, smtp_server, client, stop=False)
    donor_html, donor_text = parts(donor_msg)
    assert clicked_link_ids(ctx, donor_html) == [links["content"], links["donation"]]
    assert "Donate: " in donor_text
