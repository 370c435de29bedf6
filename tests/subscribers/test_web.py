"""The public subscribe form and confirmation page over HTTP, with a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import events, lifecycle, optin
from subscribers.models import ConsentEvent, ConsentSource
from tests.subscribers.helpers import LINK, history, make_list
from wildmail.web.app import create_app

pytestmark = pytest.mark.postgres
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web(ctx, smtp_server):
    ctx.settings = ctx.settings.with_overrides(smtp_port=smtp_server.port)
    with Session(ctx.engine) as s, s.begin():
        make_list(s, ctx.clock, "news")
        make_list(s, ctx.clock, "open", double=False)
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        yield client


def _form_token(client: TestClient, slug: str = "news") -> str:
    page = client.get(f"/subscribe/{slug}")
    assert page.status_code == 200 and "wm_csrf" in page.cookies
    match = CSRF.search(page.text)
    assert match
    return match.group(1)


def _status(ctx, email: str) -> str | None:
    with Session(ctx.engine) as s:
        sub = lifecycle.find_subscriber(s, email)
        return None if sub is None else sub.status


def test_subscribe_confirm_by_following_the_emailed_link(web, ctx, smtp_server) -> None:
    enrolled: list[int] = []
    hook = events.on_activated(lambda session, sub, list_id, at: enrolled.append(sub.id))
    try:
        token = _form_token(web)
        page = web.post(
            "/subscribe/news", data={"email": "Ada@Example.org", "name": "Ada", "csrf_token": token}
        )
        assert page.status_code == 200 and "check your inbox" in page.text
        assert _status(ctx, "ada@example.org") == "pending"
        assert smtp_server.recipients() == ["ada@example.org"]
        text = smtp_server.messages[0].message.get_body(("plain",)).get_content()
        link = LINK.findall(text)[0]
        path = link.removeprefix("http://testserver")
        landing = web.get(path)
        assert landing.status_code == 200 and f'action="{path}"' in landing.text
        assert _status(ctx, "ada@example.org") == "pending"  # a GET (link scanner) changes nothing
        done = web.post(path)
        assert done.status_code == 200 and "confirmed" in done.text
        assert _status(ctx, "ada@example.org") == "active" and len(enrolled) == 1
    finally:
        events.remove_hook(hook)


def test_single_opt_in_form_activates(web, ctx, smtp_server) -> None:
    token = _form_token(web, "open")
    page = web.post("/subscribe/open", data={"email": "bob@example.org", "csrf_token": token})
    assert "subscription is active" in page.text and _status(ctx, "bob@example.org") == "active"
    assert smtp_server.messages == []


def test_csrf_and_validation(web, ctx, smtp_server) -> None:
    assert web.post("/subscribe/news", data={"email": "a@example.org"}).status_code == 403
    assert (
        web.post("/subscribe/news", data={"email": "a@example.org", "csrf_token": "forged.token"}).status_code
        == 403
    )
    token = _form_token(web)
    other = TestClient(web.app, base_url="http://testserver")  # no cookie: a cross-site post
    assert (
        other.post("/subscribe/news", data={"email": "a@example.org", "csrf_token": token}).status_code == 403
    )
    ctx.clock.advance(hours=3)
    assert (
        web.post("/subscribe/news", data={"email": "a@example.org", "csrf_token": token}).status_code == 403
    )
    token = _form_token(web)
    bad = web.post("/subscribe/news", data={"email": "<b>not</b>", "csrf_token": token})
    assert bad.status_code == 400 and "invalid email" in bad.text and "<b>not</b>" not in bad.text
    assert web.get("/subscribe/tigers").status_code == 404
    bot = web.post("/subscribe/news", data={"email": "bot@example.org", "csrf_token": token, "website": "x"})
    assert bot.status_code == 200 and _status(ctx, "bot@example.org") is None
    assert _status(ctx, "a@example.org") is None and smtp_server.messages == []


def test_smtp_down_says_try_later_and_saves_nothing(web, ctx, smtp_server) -> None:
    smtp_server.fail("data", 451, "busy")
    token = _form_token(web)
    page = web.post("/subscribe/news", data={"email": "c@example.org", "csrf_token": token})
    assert page.status_code == 503 and _status(ctx, "c@example.org") is None


def test_tampered_expired_and_stale_links(web, ctx, smtp_server) -> None:
    web.post("/subscribe/news", data={"email": "d@example.org", "csrf_token": _form_token(web)})
    path = LINK.findall(smtp_server.messages[0].message.get_body(("plain",)).get_content())[0].removeprefix(
        "http://testserver"
    )
    body, mac = path.removeprefix("/confirm/").split(".")
    forged = f"/confirm/{body[:-1]}{'B' if body[-1] != 'B' else 'C'}.{mac}"
    for method in (web.get, web.post):
        assert method(forged).status_code == 404
        assert method("/confirm/garbage").status_code == 404
    ctx.clock.advance(optin.CONFIRM_TTL + timedelta(minutes=1))
    assert web.get(path).status_code == 410 and web.post(path).status_code == 410
    assert _status(ctx, "d@example.org") == "pending"
    # A link minted before an unsubscription is stale.
    with Session(ctx.engine) as s, s.begin():
        sub = lifecycle.find_subscriber(s, "d@example.org")
        assert sub is not None
        news = lifecycle.require_list(s, "news")
        stale = optin.confirmation_url(ctx.settings, sub.id, news.id, ctx.clock.now())
        lifecycle.unsubscribe(s, sub, ConsentSource.ONE_CLICK, ctx.clock.advance(seconds=1))
        sub_id = sub.id
    assert web.post(stale.removeprefix("http://testserver")).status_code == 410
    with Session(ctx.engine) as s:
        assert history(s, sub_id)[-1][1] == "unsubscribed"


def test_confirming_enrols_in_the_lists_running_campaign_at_once(web, ctx, smtp_server) -> None:
    """The registered campaigns hook enrols a confirmed person without waiting for a tick."""
    from campaigns.models import Campaign, Enrolment
    from subscribers.models import SubscriberList

    with Session(ctx.engine) as s, s.begin():
        news = s.query(SubscriberList).filter_by(slug="news").one()
        now = ctx.clock.now()
        s.add(Campaign(slug="leopards", title="Leopards", list_id=news.id, status="running",
                       created_at=now, updated_at=now))  # fmt: skip
    token = _form_token(web)
    web.post("/subscribe/news", data={"email": "bea@example.org", "csrf_token": token})
    text = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    path = LINK.findall(text)[0].removeprefix("http://testserver")
    assert web.post(path).status_code == 200
    with Session(ctx.engine) as s:
        sub = lifecycle.find_subscriber(s, "bea@example.org")
        assert sub is not None and sub.status == "active"
        enrolment = s.query(Enrolment).filter_by(subscriber_id=sub.id).one()
        assert enrolment.next_position == 1 and enrolment.next_send_at is not None


def test_the_form_cannot_flood_an_inbox_with_confirmations(web, ctx, smtp_server) -> None:
    """A second request within the resend interval sends nothing (same answer, no enumeration)."""
    for _ in range(3):
        page = web.post("/subscribe/news", data={"email": "cy@example.org", "csrf_token": _form_token(web)})
        assert page.status_code == 200 and "check your inbox" in page.text
    assert smtp_server.recipients() == ["cy@example.org"]
    ctx.clock.advance(optin.FORM_RESEND_INTERVAL + timedelta(seconds=1))
    web.post("/subscribe/news", data={"email": "cy@example.org", "csrf_token": _form_token(web)})
    assert smtp_server.recipients() == ["cy@example.org", "cy@example.org"]
    with Session(ctx.engine) as s:
        sub = lifecycle.find_subscriber(s, "cy@example.org")
        assert sub is not None
        details = s.scalars(select(ConsentEvent.detail).where(ConsentEvent.subscriber_id == sub.id)).all()
        assert details.count(optin.CONFIRMATION_SENT_DETAIL + "news") == 2  # each one is in the history
