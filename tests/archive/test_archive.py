"""The public web archive over real HTTP (uvicorn on loopback): private by default (404, like a
missing campaign), turned on by the CLI and the dashboard, pages that parse strictly with Open
Graph tags and one h1, a feed read by feedparser, and a subscribe form that works."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

import feedparser  # type: ignore[import-untyped]
import html5lib  # type: ignore[import-untyped]
import httpx
import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from campaigns.models import Campaign, Email
from delivery.models import Delivery
from subscribers.models import Subscriber
from tests.archive.helpers import live_server, make_campaign, make_list, send_first_email
from tests.dashboard.conftest import log_in, post_form

pytestmark = pytest.mark.postgres
FIRST = "/archive/otters/1-back-on-the-river"
NOT_PUBLIC = [
    "/archive/otters/",
    "/archive/otters/feed.xml",
    FIRST,
    "/archive/nothing-here/",
    "/archive/nothing-here/feed.xml",
    "/archive/OTTERS/",
    "/archive/..%2F..%2Fetc%2Fpasswd/",
    "/archive/otters/..%2Fpyproject.toml",
    "/archive/otters/0-back-on-the-river",
    "/archive/otters/99999999999999999999-x",
    "/archive/-otters-/",
]


def _sent_campaign(ctx, smtp_server) -> str:
    make_list(ctx)
    slug = make_campaign(ctx)  # created at 08:00
    ctx.clock.advance(hours=1)
    send_first_email(ctx, slug, smtp_server)  # email 1 published at 09:00
    return slug


def _strict(page: str) -> lxml_html.HtmlElement:
    """The page parsed by html5lib in strict mode (a parse error raises), then as a tree by lxml."""
    html5lib.HTMLParser(strict=True).parse(page)
    return lxml_html.fromstring(page)


def _og(tree: lxml_html.HtmlElement) -> dict[str, str]:
    return {m.get("property"): m.get("content") for m in tree.xpath("//meta[starts-with(@property, 'og:')]")}


def _first_sent_at(ctx):
    with ctx.session() as s:
        return s.scalar(select(Delivery.sent_at).where(Delivery.position == 1).order_by(Delivery.sent_at))


def test_private_by_default_then_public_from_the_cli(ctx, smtp_server, run, backend):
    _sent_campaign(ctx, smtp_server)
    with live_server(ctx) as live, httpx.Client(base_url=live.base) as http:
        for path in NOT_PUBLIC:
            answer = http.get(path, follow_redirects=False)
            assert answer.status_code == 404, path
            assert "otter" not in answer.text.lower()  # nothing tells a private campaign from none
        assert "otters" not in http.get("/archive/").text
        # Without the slash every well-formed slug moves on alike (existence is not revealed).
        for slug in ("otters", "nothing-here"):
            moved = http.get(f"/archive/{slug}", follow_redirects=False)
            assert (moved.status_code, moved.headers["location"]) == (308, f"/archive/{slug}/")

        result = run("campaign", "archive", "otters", "--on")
        assert result.exit_code == 0, result.output
        assert "http://testserver/archive/otters/" in result.output

        index = http.get("/archive/")
        assert index.status_code == 200
        tree = _strict(index.text)
        assert len(tree.xpath("//h1")) == 1
        assert tree.xpath("//a[@href='/archive/otters/']/text()") == ["Otters of the river"]

        page = http.get("/archive/otters/")
        assert page.status_code == 200
        tree = _strict(page.text)
        assert len(tree.xpath("//h1")) == 1
        og = _og(tree)
        assert og["og:title"] == "Otters of the river"
        assert og["og:url"] == "http://testserver/archive/otters/"
        assert og["og:image"] == "https://pictures.example/otter.jpg"
        # Only email 1 was sent: only it is published.
        listed = tree.xpath("//ol[@class='archive-list']//a/@href")
        assert listed == [FIRST]
        assert tree.xpath("//link[@rel='alternate']/@href") == ["http://testserver/archive/otters/feed.xml"]
        assert tree.xpath("//form/@action") == ["/subscribe/river-news"]
        assert http.get("/archive/otters", follow_redirects=False).headers["location"] == "/archive/otters/"

        email = http.get(FIRST)
        assert email.status_code == 200
        policy = email.headers["content-security-policy"]
        assert "script-src 'none'" in policy and "form-action 'self'" in policy
        tree = _strict(email.text)
        assert tree.xpath("//h1//text()") == ["Back on the river"]
        og = _og(tree)
        with ctx.session() as s:
            first = s.scalars(select(Email).where(Email.position == 1)).one()
            assert first.published_at == _first_sent_at(ctx)
            subject, preheader = first.subject, first.preheader
        assert og["og:title"] == subject
        assert og["og:description"] == preheader and preheader
        assert og["og:url"] == f"http://testserver{FIRST}"
        assert og["og:image"] == "https://pictures.example/otter.jpg"
        assert "Hello friend," in email.text and "Ada" not in email.text
        hrefs = tree.xpath("//a/@href")
        assert "https://example.org/survey" in hrefs  # untracked: straight to the destination
        assert not [h for h in hrefs if "/c/" in h or "/u/" in h or "/v/r/" in h]
        assert "/o/" not in email.text and "%%WM_" not in email.text
        assert tree.xpath("//a[text()='View in your browser']/@href") == [f"http://testserver{FIRST}"]
        assert tree.xpath("//form/@action") == ["/subscribe/river-news"]

        # A stale address (the title was edited) moves to the current one.
        moved = http.get("/archive/otters/1-old-title", follow_redirects=False)
        assert moved.status_code == 301 and moved.headers["location"] == FIRST
        assert http.get("/archive/otters/2-where-they-sleep").status_code == 404  # not sent yet

        result = run("campaign", "archive", "otters", "--on", "--all")
        assert result.exit_code == 0, result.output
        tree = _strict(http.get("/archive/otters/").text)
        assert len(tree.xpath("//ol[@class='archive-list']//a")) == 3
        assert http.get("/archive/otters/2-where-they-sleep").status_code == 200

        result = run("campaign", "archive", "otters", "--off")
        assert result.exit_code == 0, result.output
        for path in NOT_PUBLIC:
            assert http.get(path, follow_redirects=False).status_code == 404, path

    result = run("campaign", "archive", "no-such-campaign", "--on")
    assert result.exit_code == 2 and "no campaign named" in result.output


def test_feed_parses_with_stable_guids_and_absolute_links(ctx, smtp_server, run):
    _sent_campaign(ctx, smtp_server)
    assert run("campaign", "archive", "otters", "--on").exit_code == 0
    with live_server(ctx) as live, httpx.Client(base_url=live.base) as http:
        answer = http.get("/archive/otters/feed.xml")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/rss+xml; charset=utf-8"
        feed = feedparser.parse(answer.content)
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "rss20"
        assert feed.feed.title == "Otters of the river"
        assert feed.feed.link == "http://testserver/archive/otters/"
        [entry] = feed.entries
        with ctx.session() as s:
            first = s.scalars(select(Email).where(Email.position == 1)).one()
            email_id, subject, preheader = first.id, first.subject, first.preheader
        assert entry.title == subject and entry.summary == preheader
        assert entry.link == f"http://testserver{FIRST}"
        assert entry.id == f"tag:testserver,2026-01-05:wildmail/email/{email_id}"
        assert parsedate_to_datetime(entry.published) == _first_sent_at(ctx)

        # Every email listed; the guid of email 1 is unchanged after its title is edited.
        assert run("campaign", "archive", "otters", "--on", "--all").exit_code == 0
        with ctx.session() as s:
            s.scalars(select(Email).where(Email.position == 1)).one().title = "Otters are back"
            s.commit()
        feed = feedparser.parse(http.get("/archive/otters/feed.xml").content)
        assert not feed.bozo
        assert len(feed.entries) == 3
        by_id = {e.id: e for e in feed.entries}
        assert by_id[entry.id].link == "http://testserver/archive/otters/1-otters-are-back"
        assert all(e.link.startswith("http://testserver/archive/otters/") for e in feed.entries)
        # Newest first: email 1 by its send time (09:00), then the unsent ones, dated by the
        # campaign's creation (08:00), last email first.
        assert [e.link.rsplit("/", 1)[1][0] for e in feed.entries] == ["1", "3", "2"]
        assert [parsedate_to_datetime(e.published).hour for e in feed.entries] == [9, 8, 8]


def test_subscribe_form_on_an_email_page_signs_people_up(ctx, smtp_server, run):
    _sent_campaign(ctx, smtp_server)
    assert run("campaign", "archive", "otters", "--on").exit_code == 0
    with live_server(ctx) as live, httpx.Client(base_url=live.base) as http:
        page = http.get(FIRST)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None and "wm_csrf" in http.cookies
        done = http.post(
            "/subscribe/river-news",
            data={"email": "cy@example.org", "name": "Cy", "csrf_token": token.group(1)},
        )
        assert done.status_code == 200 and "You are subscribed" in done.text
        forged = httpx.post(f"{live.base}/subscribe/river-news", data={"email": "dee@example.org"})
        assert forged.status_code == 403  # no CSRF token and cookie: refused as everywhere
    with ctx.session() as s:
        assert s.scalar(select(Subscriber.status).where(Subscriber.email == "cy@example.org")) == "active"
        assert s.scalar(select(Subscriber.id).where(Subscriber.email == "dee@example.org")) is None


def test_dashboard_switch(ctx, smtp_server, client, users):
    _sent_campaign(ctx, smtp_server)
    log_in(client, users["marketer"])
    page = "/dashboard/campaigns/otters"
    assert "Private: the archive pages" in client.get(page).text
    saved = post_form(client, page, f"{page}/archive", {"public": "1"})
    assert saved.status_code == 303
    with ctx.session() as s:
        campaign = s.scalars(select(Campaign)).one()
        assert campaign.archive_public and not campaign.archive_all_emails
    assert 'href="/archive/otters/"' in client.get(page).text
    assert client.get("/archive/otters/").status_code == 200
    assert post_form(client, page, f"{page}/archive", {}).status_code == 303
    assert client.get("/archive/otters/").status_code == 404
    # Staff may look but not switch.
    client.cookies.clear()
    log_in(client, users["staff"])
    assert post_form(client, page, f"{page}/archive", {"public": "1"}).status_code == 403
    with ctx.session() as s:
        assert not s.scalars(select(Campaign)).one().archive_public
