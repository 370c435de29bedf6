"""The marketer's path through the dashboard over real HTTP, with the real campaign, subscriber and
delivery packages behind it, and the staff figures after simulated engagement."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email
from delivery import ratelimit
from stats.rollup import SETTLE
from tests.dashboard.conftest import csrf_of, log_in, post_form
from tests.stats import scenario as sc

NEW = "/dashboard/campaigns/new"


def _create(client, seed_article, name="Leopard Series"):
    token = csrf_of(client.get(NEW).text)
    with seed_article.open("rb") as fh:
        return client.post(
            NEW,
            data={"csrf": token, "name": name, "donation_url": "https://donate.example.org/"},
            files={"article": (seed_article.name, fh, "text/plain")},
            follow_redirects=False,
        )


def test_empty_states(client, users) -> None:
    log_in(client, users["marketer"])
    assert "No campaigns yet" in client.get("/dashboard").text
    assert "No lists yet" in client.get("/dashboard/lists").text
    r = client.get("/dashboard/campaigns/nope")
    assert r.status_code == 404 and "no campaign named" in r.text


def test_create_edit_preview_schedule_start_pause_resume(client, users, seed_article, engine) -> None:
    log_in(client, users["marketer"])
    r = _create(client, seed_article)
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    page = client.get(r.headers["location"]).text
    assert "Campaign created" in page and "Emails in the series" in page and "Nothing sent yet" in page
    with Session(engine) as s:
        count = len(s.scalars(select(Email).join(Campaign).where(Campaign.slug == "leopard-series")).all())
    assert count >= 2 and f'id="email-{count}"' in page

    editor = f"{url}/emails/1"
    body = "Leopards **need** room.\n\nSee [the range map](https://example.org/range)."
    edited = post_form(
        client, editor, editor, {"subject": "A new first subject", "preheader": "Short", "body": body}
    )
    assert edited.status_code == 303 and edited.headers["location"] == f"{editor}?done=edited"
    page = client.get(editor).text
    assert 'value="A new first subject"' in page and "Leopards **need** room." in page
    html = client.get(f"{editor}/preview.html").text
    assert "<strong>need</strong>" in html and "range map" in html
    typed = {"subject": "", "preheader": "Kept preheader", "body": "Kept *body* text"}
    bad = post_form(client, editor, editor, typed)
    assert bad.status_code == 400 and "subject cannot be empty" in bad.text
    assert 'value="Kept preheader"' in bad.text and "Kept *body* text" in bad.text  # what was typed
    assert 'value="A new first subject"' in client.get(editor).text  # nothing saved

    preview = client.get(f"{url}/emails/1/preview")
    assert preview.status_code == 200 and 'class="phone"' in preview.text and "sandbox" in preview.text
    raw = client.get(f"{url}/emails/1/preview.html")
    assert raw.status_code == 200 and "<html" in raw.text.lower() and "%%WM_" not in raw.text
    assert "sandbox" in raw.headers["content-security-policy"]
    assert client.get(f"{url}/emails/99/preview").status_code == 404

    # a list with members, imported through the dashboard
    assert (
        post_form(
            client, "/dashboard/lists", "/dashboard/lists", {"slug": "friends", "name": "Friends"}
        ).status_code
        == 303
    )
    body = "email,name\nana@example.org,Ana\nnot-an-address,Bo\nana@example.org,Ana\ncy@example.org,Cy\n"
    token = csrf_of(client.get("/dashboard/lists").text)
    imp = client.post(
        "/dashboard/lists/friends/import",
        data={"csrf": token, "status": "active"},
        files={"file": ("people.csv", body.encode(), "text/csv")},
    )
    assert imp.status_code == 200 and 'id="created">2<' in imp.text and 'id="rejected">2<' in imp.text
    rejects_url = re.search(r'href="(/dashboard/jobs/[^"]+/rejects.csv)"', imp.text)
    assert rejects_url and "Download rejected rows" in imp.text
    assert "duplicate" in client.get(rejects_url.group(1)).text

    bad_tz = post_form(
        client,
        url,
        f"{url}/schedule",
        {"list": "friends", "weekday": "1", "hour": "9", "timezone": "Mars/Base", "mode": "drip"},
    )
    assert bad_tz.status_code == 400 and "unknown time zone" in bad_tz.text
    timetable = {"list": "friends", "weekday": "2", "hour": "10", "timezone": "Europe/Berlin", "mode": "drip"}
    ok = post_form(client, url, f"{url}/schedule", {**timetable, "start": "2026-01-07"})
    assert ok.status_code == 303
    page = client.get(url).text
    assert "Wednesdays at 10:00 Europe/Berlin, from 2026-01-07" in page

    review = post_form(client, url, f"{url}/review", {"when": "slot"})
    assert review.status_code == 200 and 'id="recipients">2<' in review.text
    assert "Wed 07 Jan 2026, 10:00 Europe/Berlin" in review.text  # the first slot on or after the start
    assert 'id="status">draft<' in client.get(url).text  # nothing changed before the confirmation
    assert post_form(client, url, f"{url}/start", {"when": "slot"}).status_code == 303
    assert 'id="status">scheduled<' in client.get(url).text
    again = post_form(client, url, f"{url}/review", {"when": "now"})
    assert again.status_code == 400 and "already" in again.text
    assert post_form(client, url, f"{url}/pause").status_code == 303
    assert 'id="status">paused<' in client.get(url).text
    assert post_form(client, url, f"{url}/resume").status_code == 303
    assert 'id="status">running<' in client.get(url).text


def test_create_errors_keep_the_form(client, users, seed_article) -> None:
    log_in(client, users["marketer"])
    token = csrf_of(client.get(NEW).text)
    r = client.post(NEW, data={"csrf": token, "name": "Empty", "text": "   "})
    assert r.status_code == 400 and "choose an article file" in r.text and 'value="Empty"' in r.text
    r = client.post(
        NEW,
        data={"csrf": token, "name": "Bin"},
        files={"article": ("x.txt", b"\xff\xfe\x00bad", "text/plain")},
    )
    assert r.status_code == 400 and "expected UTF-8 text" in r.text
    assert _create(client, seed_article, "Twice").status_code == 303
    dup = _create(client, seed_article, "Twice")
    assert dup.status_code == 400 and "already exists" in dup.text


def test_test_send_reaches_the_marketer(ctx, users, seed_article, smtp_server) -> None:
    from fastapi.testclient import TestClient

    from wildmail.web.app import create_app

    ctx.settings = ctx.settings.with_overrides(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        log_in(client, users["marketer"])
        url = _create(client, seed_article).headers["location"].split("?")[0]
        r = post_form(client, url, f"{url}/test", {"position": "1"})
        assert r.status_code == 303, r.text
    assert smtp_server.recipients() == ["marketer@example.org"]


def test_staff_sees_figures_and_exports_csv(client, users, engine, clock) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    clock.advance(days=30)  # the scenario's events span two weeks; all have settled by now
    log_in(client, users["staff"])
    overview = client.get("/dashboard").text
    assert 'data-campaign="leopard"' in overview and "54.5%" in overview  # 6 openers / 11 delivered
    page = client.get("/dashboard/campaigns/leopard").text
    assert "<svg" in page and "Human activity per day" in page and "Drop-off along the series" in page
    assert "60.0%" in page and "https://example.org/leopard/1/donation" in page
    export = client.get("/dashboard/campaigns/leopard/export.csv")
    assert (
        export.headers["content-type"].startswith("text/csv")
        and "attachment" in export.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows[-1]["position"] == "total" and rows[-1]["human_openers"] == "6"
    standalone = client.get("/dashboard/campaigns/leopard/report.html").text
    assert (
        "<script" not in standalone
        and "<svg" in standalone
        and "http" not in standalone.split("<main>")[0].replace("http://www.w3.org", "")
    )
    overview_rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/export.csv").text)))
    assert overview_rows[0]["campaign"] == "leopard"


def test_figures_follow_tracking_events(client, users, engine, clock) -> None:
    """Events written after a page view show on the next one once settled (incremental rollup)."""
    with Session(engine) as s:
        c = sc.campaign(s, "fresh", 1)
        sub = sc.subscribers(s, 1, prefix="f")[0]
        d = sc.deliver(s, c, 1, sub)
        s.commit()
        log_in(client, users["staff"])
        assert "No opens or clicks yet" in client.get("/dashboard/campaigns/fresh").text
        click = sc.event(s, c, 1, "click", delivery=d, link_kind="donation")
        s.commit()
        clock.set(click.at + timedelta(seconds=5))
        young = client.get("/dashboard/campaigns/fresh").text
        assert "No opens or clicks yet" in young  # too young: a honeypot hit could still reclassify it
        clock.set(click.at + SETTLE)
    page = client.get("/dashboard/campaigns/fresh").text
    assert 'data-figure="Donation clicks">1<' in page


def test_the_campaign_page_shows_relay_trouble_as_an_alert(client, users, engine, clock, ctx) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    log_in(client, users["staff"])
    assert "relay-alert" not in client.get("/dashboard/campaigns/leopard").text
    until = clock.now() + timedelta(minutes=5)
    ratelimit.back_off(ctx, "127.0.0.1:2525", until, "cannot connect to 127.0.0.1:2525: Connection refused")
    page = client.get("/dashboard/campaigns/leopard").text
    assert 'class="error box relay-alert"' in page
    assert "relay 127.0.0.1:2525 is paused until" in page and "Connection refused" in page


def test_a_word_document_uploads_into_a_campaign(client, users, engine) -> None:
    """The upload goes through the same readers as the command line (here .docx, via mammoth)."""
    docx = Path(__file__).parents[1] / "corpus" / "articles" / "21-word-report.docx"
    log_in(client, users["marketer"])
    token = csrf_of(client.get(NEW).text)
    r = client.post(
        NEW,
        data={"csrf": token, "name": "Word report"},
        files={"article": (docx.name, docx.read_bytes(), "application/octet-stream")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with Session(engine) as s:
        campaign = s.scalars(select(Campaign).where(Campaign.slug == "word-report")).one()
        assert len(campaign.emails) >= 2
