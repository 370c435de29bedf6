"""The dashboard in real Chromium (Playwright) against uvicorn on a loopback port.

Log in, create a campaign from the seed article, preview, import a list, set the timetable, start,
see figures after simulated opens and clicks, export CSV, log out. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from subscribers.models import Subscriber
from tests.browser import ARGS, CHROMIUM, SHOT_MS, needs_chromium
from tests.conftest import REPO
from tests.dashboard.conftest import PASSWORD
from tests.stats import scenario as sc
from wildmail.runtime.smtp_sink import free_port
from wildmail.web.serving import ServerThread

ARTIFACTS = REPO / "test-artifacts"

pytestmark = needs_chromium


@pytest.fixture
def server(ctx):
    from wildmail.web.app import create_app

    port = free_port()
    ctx.settings = ctx.settings.with_overrides(base_url=f"http://127.0.0.1:{port}")
    srv = ServerThread(create_app(ctx), port=port).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        yield context.new_page()
        context.close()
        browser.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True, timeout=SHOT_MS)


def _simulate_engagement(engine) -> None:
    """Deliveries of email 1 to both subscribers; one opens and clicks donate, one is a machine open."""
    with Session(engine) as s:
        c = s.scalars(select(Campaign).where(Campaign.slug == "amur-leopards")).one()
        ana, cy = s.scalars(select(Subscriber).order_by(Subscriber.email)).all()
        d_ana, d_cy = sc.deliver(s, c, 1, ana), sc.deliver(s, c, 1, cy)
        sc.event(s, c, 1, "open", delivery=d_cy, cls="machine", hours=0)
        sc.event(s, c, 1, "open", delivery=d_ana, hours=2)
        donation = next(lk for lk in c.emails[0].links if lk.kind == "donation")
        s.add(
            sc.Event(
                uid="browser-click", kind="click", classification="human", delivery_id=d_ana.id,
                campaign_id=c.id, email_id=c.emails[0].id, link_id=donation.id, at=sc.T0,
            )
        )  # fmt: skip
        s.commit()


def test_marketer_journey_in_chromium(server, page, users, seed_article, engine, clock) -> None:
    page.goto(f"{server}/dashboard")
    assert "/login" in page.url
    _shot(page, "login")
    page.fill("input[name=email]", users["marketer"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/dashboard")
    assert "No campaigns yet" in page.content()

    page.click("text=New campaign")
    page.fill("input[name=name]", "Amur Leopards")
    page.set_input_files("input[name=article]", str(seed_article))
    page.fill("input[name=donation_url]", "https://donate.example.org/leopards")
    page.click("text=Create and split")
    page.wait_for_selector("text=Campaign created")
    assert page.locator("table.emails tbody tr").count() >= 2
    _shot(page, "campaign-new")

    page.click("#email-1 >> text=Preview")
    for width in ("desktop", "phone"):
        page.frame_locator(f"iframe.{width}").locator(
            "a", has_text="Donate"
        ).last.wait_for()  # the button; the header has a small link too
    assert (
        page.locator("iframe.desktop").bounding_box()["width"]
        > page.locator("iframe.phone").bounding_box()["width"]
    )
    _shot(page, "preview")

    page.goto(f"{server}/dashboard/lists")
    page.fill("input[name=slug]", "friends")
    page.fill("input[name=name]", "Friends of leopards")
    page.click("text=Create list")
    page.wait_for_selector("text=List created")
    csv_body = b"email,name\nana@example.org,Ana\ncy@example.org,Cy\nbroken,Bo\n"
    page.set_input_files(
        "input[name=file]", {"name": "people.csv", "mimeType": "text/csv", "buffer": csv_body}
    )
    page.click("form[action$='/import'] button")
    page.wait_for_selector("#created")
    assert page.inner_text("#created") == "2" and page.inner_text("#rejected") == "1"
    _shot(page, "import-report")

    page.goto(f"{server}/dashboard")
    page.click("[data-campaign=amur-leopards]")
    page.select_option("select[name=list]", "friends")
    page.select_option("select[name=weekday]", "2")
    page.fill("input[name=hour]", "10")
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.click("text=Save timetable")
    page.wait_for_selector("text=Timetable saved")
    assert "Wednesdays at 10:00 Europe/Berlin" in page.content()
    page.click("button[value=review]")  # the confirmation step, then schedule
    page.click("button[value=start]")
    page.wait_for_selector("#status:has-text('scheduled')")

    _simulate_engagement(engine)
    clock.advance(hours=4)  # events show once settled (stats.rollup.SETTLE); the latest is at 11:00
    page.reload()
    assert page.inner_text("[data-figure='Human open rate']") == "50.0%"
    assert page.inner_text("[data-figure='Donation clicks']") == "1"
    assert page.locator("svg.chart polyline[data-series=opens]").count() >= 1
    assert page.locator("svg.chart rect[data-position='1']").count() == 2
    _shot(page, "campaign-figures")

    with page.expect_download() as info:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows[0]["position"] == "1" and rows[0]["human_openers"] == "1" and rows[-1]["position"] == "total"

    page.goto(f"{server}/dashboard")
    _shot(page, "overview")
    page.click("text=Log out")
    page.wait_for_url(f"{server}/login")
    page.goto(f"{server}/dashboard/campaigns/amur-leopards")
    assert "/login" in page.url


def test_staff_cannot_see_marketer_controls_in_chromium(server, page, users, engine, clock) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    clock.advance(days=30)  # staff read the figures weeks later, when every event has settled
    page.goto(f"{server}/login")
    page.fill("input[name=email]", users["staff"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.click("[data-campaign=leopard]")
    assert page.locator("text=Save timetable").count() == 0 and page.locator("text=New campaign").count() == 0
    assert page.inner_text("[data-figure='Human open rate']") == "54.5%"
    _shot(page, "campaign-staff")
    response = page.goto(f"{server}/dashboard/campaigns/new")
    assert response is not None and response.status == 403
