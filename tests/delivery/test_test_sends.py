"""Test sends: their own Message-IDs, several addresses, links that work, a test unsubscribe page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from delivery.lifecycle import test_send
from delivery.smtp_transport import SmtpTransport
from subscribers.models import Subscriber
from tests.dashboard.conftest import log_in, post_form, users  # noqa: F401  (the fixture)
from tests.delivery.factories import add_subscribers, make_campaign
from tracking.models import Event
from wildmail.web.app import create_app


def plain_text(received) -> str:
    msg = received.message
    plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return str(plain.get_content())


def sent_tests(ctx, smtp_server, *addresses: str):
    make_campaign(ctx, emails=2)
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)
    return test_send(ctx, ctx.sender(), "leopard", list(addresses), transport)


def test_every_test_message_has_its_own_message_id(ctx, smtp_server):
    assert sent_tests(ctx, smtp_server, "a@example.org", "b@example.org") == 4
    ids = [m.message["Message-ID"] for m in smtp_server.messages]
    assert len(set(ids)) == 4
    assert [m.rcpt_tos for m in smtp_server.messages] == [["a@example.org"]] * 2 + [["b@example.org"]] * 2
    # sending again gives new ids too
    test_send(
        ctx,
        ctx.sender(),
        "leopard",
        "a@example.org",
        SmtpTransport("127.0.0.1", smtp_server.port, timeout=5),
        1,
    )
    assert smtp_server.messages[-1].message["Message-ID"] not in ids


def test_a_bad_second_address_sends_nothing(ctx, smtp_server):
    make_campaign(ctx, emails=1)
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)
    try:
        test_send(ctx, ctx.sender(), "leopard", ["a@example.org", "b@example.org\r\nBcc: x@y.z"], transport)
    except ValueError as exc:
        assert "test address" in str(exc)
    else:
        raise AssertionError("the bad address was accepted")
    assert smtp_server.messages == []


def test_test_send_links_redirect_and_record_nothing(ctx, client, smtp_server):
    sent_tests(ctx, smtp_server, "a@example.org")
    add_subscribers(ctx, 1)
    text = plain_text(smtp_server.messages[0])
    read = re.search(r"Read more: (\S+)", text).group(1)  # type: ignore[union-attr]
    give = re.search(r"Donate: (\S+)", text).group(1)  # type: ignore[union-attr]
    unsubscribe = re.search(r"Unsubscribe: (\S+)", text).group(1)  # type: ignore[union-attr]
    r = client.get(urlsplit(read).path, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://example.org/read"
    r = client.get(urlsplit(give).path, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("https://example.org/give?")
    assert parse_qs(urlsplit(r.headers["location"]).query)["utm_campaign"] == ["leopard"]
    page = client.get(urlsplit(unsubscribe).path)
    assert page.status_code == 200 and "This was a test email" in page.text
    posted = client.post(urlsplit(unsubscribe).path, data={"List-Unsubscribe": "One-Click"})
    assert posted.status_code == 200 and "nobody was unsubscribed" in posted.text
    tampered = urlsplit(read).path[:-2] + ("AA" if not read.endswith("AA") else "BB")
    assert client.get(tampered, follow_redirects=False).status_code == 404
    client.app.state.tracker.writer.flush()
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0
        assert s.scalar(select(Subscriber.status)) == "active"


def test_dashboard_test_send_goes_to_the_addresses_given(ctx, users, smtp_server):  # noqa: F811
    make_campaign(ctx, emails=1)
    ctx.settings = ctx.settings.with_overrides(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    url = "/dashboard/campaigns/leopard"
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        log_in(client, users["marketer"])
        r = post_form(client, url, f"{url}/test", {"to": "ana@example.org, bo@example.org"})
        assert r.status_code == 303, r.text
        many = ", ".join(f"p{i}@example.org" for i in range(11))
        r = post_form(client, url, f"{url}/test", {"to": many})
        assert r.status_code == 400 and "at most 10" in r.text
        r = post_form(client, url, f"{url}/test", {"to": ""})
        assert r.status_code == 303
    assert smtp_server.recipients() == ["ana@example.org", "bo@example.org", "marketer@example.org"]
