"""The stats page as staff read it: the 72-hour window of a campaign older than 30 days, no bot-trap
links among Top links, headline cards and names, the emails viewable from the page."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.orm import Session

from stats.report import campaign_report
from tests.dashboard.conftest import log_in
from tests.stats import scenario as sc


def test_a_campaign_older_than_30_days_shows_its_last_72_hours(client, users, engine, clock) -> None:
    with Session(engine) as s:
        c = sc.campaign(s, "old", 1)
        sub = sc.subscribers(s, 1)[0]
        d = sc.deliver(s, c, 1, sub)
        sc.event(s, c, 1, "open", delivery=d, hours=1)  # 5 Jan
        sc.event(s, c, 1, "click", delivery=d, link_kind="content", hours=24 * 35)  # 9 Feb
        s.commit()
    clock.set(sc.T0 + timedelta(days=60))  # everything has settled
    report = campaign_report(engine, "old", clock)
    assert report.hourly[0].start.date() < report.hourly[-1].start.date() - timedelta(days=30)
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/old").text
    hourly = page[page.index("last 72 hours") :]
    hourly = hourly[: hourly.index("</svg>")]
    assert "09 Feb" in hourly and "Jan" not in hourly  # ends with the data, not frozen at the start
    assert len(re.findall(r'<circle cx="[^"]+" cy="[^"]+" r="3" fill="#1f6f43">', hourly)) == 72


def test_honeypot_links_are_never_top_links(client, users, engine, clock) -> None:
    with Session(engine) as s:
        c = sc.campaign(s, "trap", 1)
        sub = sc.subscribers(s, 1)[0]
        d = sc.deliver(s, c, 1, sub)
        sc.event(s, c, 1, "click", delivery=d, link_kind="honeypot", cls="bot")
        sc.event(s, c, 1, "click", delivery=d, link_kind="content")
        s.commit()
    clock.set(sc.T0 + timedelta(days=2))
    kinds = {link.kind for link in campaign_report(engine, "trap", clock).top_links}
    assert kinds == {"content"}
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/trap").text
    assert "https://example.org/trap/1/honeypot" not in page and "https://example.org/trap/1/content" in page


def test_headline_cards_names_and_explanations(client, users, engine, clock) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    clock.advance(days=30)
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/leopard").text
    cards = re.findall(r'data-figure="([^"]+)"', page)
    assert cards == [
        "Delivered",
        "Human open rate",
        "Click rate",
        "Donation clicks",
        "Unsubscribes",
        "Bounces (hard / soft)",
        "Complaints",
    ]
    assert page.index('data-figure="Delivered"') < page.index("Per email")  # cards first
    assert "Donors" not in page and "People who clicked donate" in page
    assert "machine opens" in page and "bot clicks" in page  # explained beside the figures
    main = page[page.index('id="funnel-h"') : page.index("Every figure per email")]
    assert main.count('<th scope="col"') == 8  # the secondary columns are behind "Every figure"
    preview = re.search(r'href="(/dashboard/campaigns/leopard/emails/1/preview)"', page)
    assert preview  # staff open the emails they analyse from the funnel
