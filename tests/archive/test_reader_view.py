"""The "view in your browser" link of a sent email: that reader's own copy, over real HTTP.

The campaign is compiled by the real renderer, sent by the worker over real SMTP on loopback;
the page is fetched from ``wildmail serve``'s app under uvicorn, and a click on it is written by
the real event writer as that reader's click.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from delivery.models import Delivery
from subscribers.models import Subscriber
from subscribers.privacy import forget
from tests.archive.helpers import html_of, live_server, make_campaign, make_list, send_first_email
from tests.tracking.conftest import BROWSER_UA
from tracking.models import Event
from wildmail.core import tokens

pytestmark = pytest.mark.postgres
VIEW_LINK = re.compile(r'href="(http://testserver/v/r/[^"]+)"[^>]*>View in your browser<')
CLICK = re.compile(r'href="(http://testserver/c/[^"]+)"')


def _sent(ctx, smtp_server):
    make_list(ctx)
    slug = make_campaign(ctx)
    messages = send_first_email(ctx, slug, smtp_server)
    by_rcpt = {str(m["To"]): m for m in messages}
    ada = next(m for to, m in by_rcpt.items() if "ada@example.org" in to)
    with ctx.session() as s:
        delivery = s.scalars(
            select(Delivery)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Subscriber.email == "ada@example.org")
        ).one()
        return ada, delivery.id, delivery.subscriber_id


def _path(url: str) -> str:
    return urlsplit(url).path


def test_each_email_links_its_readers_own_copy(ctx, smtp_server, backend):
    ada, delivery_id, _ = _sent(ctx, smtp_server)
    html = html_of(ada)
    link = VIEW_LINK.search(html)
    assert link is not None, "no per-reader view link in the sent email"
    assert link.group(1) == tokens.reader_view_url("http://testserver", ctx.settings.secret, delivery_id)
    plain = next(p for p in ada.walk() if p.get_content_type() == "text/plain").get_content()
    assert f"View in your browser: {link.group(1)}" in plain
    # Bo's email links another page.
    bo = next(m for m in smtp_server.messages if "bo@example.org" in str(m.message["To"]))
    assert VIEW_LINK.search(html_of(bo.message)).group(1) != link.group(1)  # type: ignore[union-attr]

    email_clicks = CLICK.findall(html)
    assert email_clicks, "the email has tracked links"
    browser = {"User-Agent": BROWSER_UA}
    with live_server(ctx) as live, httpx.Client(base_url=live.base, headers=browser) as http:
        page = http.get(_path(link.group(1)))
        assert page.status_code == 200
        assert "Hello Ada Lovelace," in page.text and "Bo Chen" not in page.text
        assert "/o/" not in page.text and "%%WM_" not in page.text  # no open pixel, nothing left unfilled
        assert CLICK.findall(page.text) == email_clicks  # the very click URLs the email carries
        assert "script-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "private, no-store"
        # Follow "the survey" from the browser copy: a click by Ada.
        survey = re.search(r'href="(http://testserver/c/[^"]+)"[^>]*>the survey<', page.text)
        assert survey is not None and survey.group(1) in email_clicks
        followed = http.get(_path(survey.group(1)), follow_redirects=False)
        assert followed.status_code == 302 and followed.headers["location"] == "https://example.org/survey"
        live.flush()
    with ctx.session() as s:
        events = s.scalars(select(Event).where(Event.kind == "click")).all()
        assert [e.delivery_id for e in events] == [delivery_id]
        assert s.scalars(select(Event).where(Event.kind == "open", Event.implied.is_(False))).all() == []


def test_tampered_unknown_forgotten_and_deleted_get_404(ctx, smtp_server, client):
    ada, delivery_id, ada_id = _sent(ctx, smtp_server)
    path = _path(VIEW_LINK.search(html_of(ada)).group(1))  # type: ignore[union-attr]
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_purpose = tokens.unsubscribe_url("", ctx.settings.secret, delivery_id).rsplit("/", 1)[1]
    missing = tokens.reader_view_url("", ctx.settings.secret, delivery_id + 1000)
    for bad in (f"/v/r/{tampered}", f"/v/r/{other_purpose}", "/v/r/nonsense", missing, "/v/r/"):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "Ada" not in response.text
    # The per-email token is not a delivery token either (same id, other purpose).
    email_token = tokens.view_url("", ctx.settings.secret, delivery_id).rsplit("/", 1)[1]
    assert client.get(f"/v/r/{email_token}").status_code == 404

    assert client.get(path).status_code == 200
    with ctx.session() as s:
        forget(s, s.get(Subscriber, ada_id), ctx.clock.now())
        s.commit()
    gone = client.get(path)
    assert gone.status_code == 404 and "Ada" not in gone.text


def test_after_unsubscribing_the_copy_still_shows_and_its_link_says_so(ctx, smtp_server, client):
    ada, delivery_id, ada_id = _sent(ctx, smtp_server)
    path = _path(VIEW_LINK.search(html_of(ada)).group(1))  # type: ignore[union-attr]
    unsubscribe = re.search(r'href="http://testserver(/u/[^"/]+)"', client.get(path).text)
    assert unsubscribe is not None
    assert unsubscribe.group(1) == _path(tokens.unsubscribe_url("", ctx.settings.secret, delivery_id))
    # Unsubscribe from the browser copy's own link (the page's button posts this).
    done = client.post(unsubscribe.group(1), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    with ctx.session() as s:
        assert s.get(Subscriber, ada_id).status == "unsubscribed"  # type: ignore[union-attr]
    page = client.get(path)
    assert page.status_code == 200 and "Hello Ada Lovelace," in page.text  # the email they received
    answer = client.get(unsubscribe.group(1))
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text


def test_deleted_delivery_gets_404(ctx, smtp_server, client):
    ada, delivery_id, _ = _sent(ctx, smtp_server)
    path = _path(VIEW_LINK.search(html_of(ada)).group(1))  # type: ignore[union-attr]
    with ctx.session() as s:
        s.delete(s.get(Delivery, delivery_id))
        s.commit()
    assert client.get(path).status_code == 404
