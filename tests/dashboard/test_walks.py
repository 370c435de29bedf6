"""The marketer and staff walks of issue 19 in real Chromium (Playwright) against uvicorn on loopback,
with axe-core run on every dashboard page on the way (no serious or critical violation).

Marketer: upload an article -> edit the body of email 1 -> preview -> test send to two addresses (a
real SMTP server on loopback) -> import a list (background job) -> schedule now, through the
confirmation -> the worker sends -> figures appear. Staff: the stats page at 1280 x 800 shows every
headline figure without scrolling sideways. Every page is also checked at 375 px for sideways
overflow. Screenshots go to ``$WILDMAIL_ARTIFACTS`` (default: <tmp>/wildmail-dashboard-shots).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.compiling import render_row
from campaigns.models import Campaign
from delivery.enqueue import tick
from delivery.smtp_transport import SmtpTransport
from delivery.worker import run_worker_once
from subscribers.models import Subscriber
from tests.browser import ARGS, CHROMIUM, SHOT_MS, needs_chromium
from tests.conftest import REPO
from tests.dashboard.conftest import PASSWORD
from tests.stats import scenario as sc
from wildmail.runtime.smtp_sink import free_port
from wildmail.runtime.users import User
from wildmail.web.jobs import Job
from wildmail.web.serving import ServerThread

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(
    os.environ.get("WILDMAIL_ARTIFACTS") or Path(tempfile.gettempdir()) / "wildmail-dashboard-shots"
)
BLOCKING = ("serious", "critical")
# The elements sticking out on the right (named in the failure message).
WIDE = """(() => {
  const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > innerWidth + 1 && !clipped(e)).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
})()"""

pytestmark = [
    *needs_chromium,
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (npm ci)"),
]


@dataclass
class Browser:
    page: Any
    base: str
    checked: list[str]

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str) -> None:
        """axe on the page as it is, a screenshot, and no sideways overflow at 375 px."""
        page = self.page
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in BLOCKING
        ]
        assert not blocking, f"{name} ({page.url}): " + "; ".join(blocking)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, timeout=SHOT_MS)
        size = page.viewport_size
        page.set_viewport_size({"width": 375, "height": 800})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow} px wider than a 375-px phone: {page.evaluate(WIDE)}"
        page.screenshot(path=str(ARTIFACTS / f"{name}-375.png"), full_page=True, timeout=SHOT_MS)
        page.set_viewport_size(size)
        self.checked.append(name)


@pytest.fixture
def app(ctx, smtp_server) -> Any:
    from wildmail.web.app import create_app

    ctx.settings = ctx.settings.with_overrides(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    return create_app(ctx)


@pytest.fixture
def server(app, ctx) -> Iterator[str]:
    port = free_port()
    ctx.settings = ctx.settings.with_overrides(base_url=f"http://127.0.0.1:{port}")
    srv = ServerThread(app, port=port).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def browser(server) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        # bypass_csp: only so the test can inject axe; the pages' own policy allows no inline script
        context = chromium.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        yield Browser(context.new_page(), server, [])
        context.close()
        chromium.close()


def _log_in(b: Browser, email: str) -> None:
    b.go("/login")
    b.page.fill("input[name=email]", email)
    b.page.fill("input[name=password]", PASSWORD)
    b.page.click("form[action='/login'] button[type=submit]")
    b.page.wait_for_url(f"{b.base}/dashboard")


def test_marketer_walk(browser, users, seed_article, smtp_server, ctx, engine, clock) -> None:
    b, page = browser, browser.page
    b.go("/dashboard")
    assert "/login" in page.url
    b.check("login")
    _log_in(b, users["marketer"])
    b.check("overview-empty")

    # a list with two people, imported as a background job
    b.go("/dashboard/lists")
    page.fill("input[name=slug]", "friends")
    page.fill("input[name=name]", "Friends of leopards")
    page.click("text=Create list")
    page.wait_for_selector("text=List created")
    b.check("lists")
    people = b"email,name\nana@example.org,Ana\ncy@example.org,Cy\nbroken,Bo\n"
    page.set_input_files("input[name=file]", {"name": "people.csv", "mimeType": "text/csv", "buffer": people})
    page.click("form[action$='/import'] button")
    page.wait_for_selector("#created")
    assert page.inner_text("#created") == "2" and page.inner_text("#rejected") == "1"
    assert page.locator("text=Download rejected rows").count() == 1
    b.check("import-report")

    # create from an uploaded article, choosing the list
    page.click("nav >> text=New campaign")
    assert page.locator("nav a[aria-current=page]").inner_text() == "New campaign"
    b.check("new-campaign")
    page.fill("input[name=name]", "Amur Leopards")
    page.set_input_files("input[name=article]", str(seed_article))
    page.fill("input[name=donation_url]", "https://donate.example.org/leopards")
    page.select_option("select[name=list]", "friends")
    page.click("text=Create and split")
    page.wait_for_selector("text=Campaign created")
    assert page.locator("table.emails tbody tr").count() >= 2
    b.check("campaign-draft")

    # edit the body of email 1 (Markdown), see it recompiled in both previews
    page.click("#email-1 >> text=Edit")
    page.fill("input[name=subject]", "   ")  # passes the browser's "required", not the server
    body = "Leopards **need** forest.\n\nRead [the range map](https://example.org/range)."
    page.fill("textarea[name=body]", body)
    page.click("text=Save and preview")
    page.wait_for_selector("text=Not saved: subject cannot be empty")
    assert page.input_value("textarea[name=body]") == body  # what was typed is kept
    page.fill("input[name=subject]", "Room to roam")
    page.click("text=Save and preview")
    page.wait_for_selector("text=Email saved and recompiled")
    for width in ("desktop", "phone"):
        frame = page.frame_locator(f"iframe.{width}")
        frame.locator("strong", has_text="need").wait_for()
        frame.locator("a", has_text="the range map").wait_for()
    desktop, phone = (
        page.locator("iframe.desktop").bounding_box(),
        page.locator("iframe.phone").bounding_box(),
    )
    assert desktop and phone and desktop["width"] > phone["width"]
    b.check("email-editor")
    page.click("text=Open the full preview")
    page.frame_locator("iframe.desktop").locator(
        "a", has_text="Donate"
    ).last.wait_for()  # the button; the header has a small link too
    b.check("preview")

    # a test to two addresses through the real relay on loopback
    b.go("/dashboard/campaigns/amur-leopards")
    page.fill("input[name=to]", "first@example.org, second@example.org")
    page.select_option("select[name=position]", "1")
    page.click("text=Send test")
    page.wait_for_selector("text=Test emails sent")
    assert sorted(smtp_server.recipients()) == ["first@example.org", "second@example.org"]
    assert all(m.message["Subject"] == "[TEST] Room to roam" for m in smtp_server.messages)

    # schedule now, through the confirmation
    page.check("input[name=when][value=now]")
    page.click("text=Review and schedule")
    page.wait_for_selector("#recipients")
    assert page.inner_text("#recipients") == "2" and page.inner_text("#first-send") == "now"
    assert "draft" in _status(engine)  # nothing changed before the confirmation
    b.check("confirm-schedule")
    page.click("text=Confirm and schedule")
    page.wait_for_selector("#status:has-text('scheduled')")
    assert page.locator("text=Campaign scheduled").count() == 1

    # the scheduler's tick and a worker pass send email 1 now, not next week
    assert tick(ctx, ctx.message_ids).queued == 2
    assert run_worker_once(ctx, SmtpTransport.from_settings(ctx.settings), ctx.sender()) == 2
    assert {"ana@example.org", "cy@example.org"} <= set(smtp_server.recipients())
    _engage(engine)
    clock.advance(hours=4)  # figures show once events have settled (stats.rollup.SETTLE)
    page.reload()
    assert page.inner_text("[data-figure='Delivered']") == "2"
    assert page.inner_text("[data-figure='Human open rate']") == "50.0%"
    assert page.inner_text("[data-figure='Donation clicks']") == "1"
    b.check("campaign-figures")
    assert len(b.checked) == 10


def _status(engine) -> str:
    with Session(engine) as s:
        return s.scalars(select(Campaign.status).where(Campaign.slug == "amur-leopards")).one()


def _engage(engine) -> None:
    """Ana opens email 1 and clicks donate (a person); Cy's open is a privacy proxy's (a machine)."""
    with Session(engine) as s:
        c = s.scalars(select(Campaign).where(Campaign.slug == "amur-leopards")).one()
        ana, cy = s.scalars(select(Subscriber).order_by(Subscriber.email)).all()
        d_ana, d_cy = (
            s.scalars(select(sc.Delivery).where(sc.Delivery.subscriber_id == x.id)).one() for x in (ana, cy)
        )
        when = d_ana.sent_at
        for delivery, cls in ((d_cy, "machine"), (d_ana, "human")):
            event = sc.Event(
                uid=f"walk-open-{delivery.id}", kind="open", classification=cls, delivery_id=delivery.id,
                campaign_id=c.id, email_id=delivery.email_id, at=when,
            )  # fmt: skip
            s.add(event)
        donation = next(lk for lk in c.emails[0].links if lk.kind == "donation")
        s.add(
            sc.Event(
                uid="walk-click", kind="click", classification="human", delivery_id=d_ana.id,
                campaign_id=c.id, email_id=d_ana.email_id, link_id=donation.id, at=when,
            )
        )  # fmt: skip
        s.commit()


def test_staff_stats_walk(browser, users, engine, clock, ctx) -> None:
    with Session(engine) as s:
        campaign = sc.build_leopard(s)
        for email in campaign.emails:  # compiled, so staff can look at them (links kept as they are)
            email.paragraphs = [f"What part {email.position} says about the leopard's forest."]
            rendered = render_row(campaign, email, ctx.settings)
            email.compiled_html, email.compiled_text = rendered.html, rendered.text
        s.commit()
    clock.advance(days=30)  # every event of the scenario has settled
    b, page = browser, browser.page
    _log_in(b, users["staff"])
    b.check("overview")
    page.click("[data-campaign=leopard]")
    page.wait_for_selector("[data-figure='Delivered']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing to scroll sideways
    for card in page.locator("[data-figure]").all():
        box = card.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280, card.get_attribute("data-figure")
    headline = [c.get_attribute("data-figure") for c in page.locator("[data-figure]").all()]
    assert headline == [
        "Delivered",
        "Human open rate",
        "Click rate",
        "Donation clicks",
        "Unsubscribes",
        "Bounces (hard / soft)",
        "Complaints",
    ]
    assert page.inner_text("[data-figure='Human open rate']") == "54.5%"
    table = page.locator("table.funnel").first.bounding_box()
    assert table and table["x"] + table["width"] <= 1280  # the funnel fits the laptop
    chart = page.locator(".chart-box svg").first.bounding_box()
    box = page.locator(".chart-box").first.bounding_box()
    assert chart and box and chart["width"] >= 0.9 * (box["width"] - 20)  # charts fill their cards
    page.screenshot(
        path=str(ARTIFACTS / "stats-1280x800.png"), timeout=SHOT_MS
    )  # what fits on the first screen
    b.check("stats")
    page.click("table.funnel >> text=Subject 1")
    page.frame_locator("iframe.desktop").locator("text=What part 1 says").wait_for()
    b.check("stats-email-preview")
    assert page.locator("text=Edit").count() == 0  # staff look, marketers edit


def test_admin_pages_pass_axe(browser, users) -> None:
    b = browser
    _log_in(b, users["admin"])
    links = browser.page.locator("nav[aria-label=Main] a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert "/dashboard/users" in links and "/dashboard/settings" in links
    for href in links:
        b.go(href)
        assert b.page.locator("nav a[aria-current=page]").get_attribute("href") == href
        b.check("admin" + href.replace("/", "-"))
    response = b.page.request.get(b.base + "/favicon.ico")
    assert response.status == 200 and response.headers["content-type"] == "image/x-icon"


def test_a_job_page_shows_live_progress(browser, users, app, engine) -> None:
    """The job page's script (static/jobs.js) fills in the figures as the job goes, then shows the end."""
    b, page = browser, browser.page
    _log_in(b, users["marketer"])
    with Session(engine) as s:
        owner = s.scalars(select(User.id).where(User.email == users["marketer"])).one()
    step, release = threading.Event(), threading.Event()

    def work(job: Job) -> str:
        job.total_bytes, job.done_bytes, job.rows, job.phase = 100, 10, 100, "importing"
        step.wait(10)
        job.done_bytes, job.rows, job.rejects = 60, 54321, 7
        release.wait(10)
        job.figures = {"Created": 54314, "Rejected": 7}
        return "/dashboard/lists"

    job = app.state.jobs.start("import", "Import big.csv into Friends", owner, work)
    b.go(f"/dashboard/jobs/{job.id}")
    assert page.inner_text("[data-field=phase]") == "importing"
    b.check("job-running")
    step.set()
    page.wait_for_selector("[data-field=rows]:has-text('54,321')")  # no reload: the poll filled it in
    assert page.inner_text("[data-field=rejects]") == "7"
    assert page.eval_on_selector("progress", "p => p.value") == 60
    release.set()
    page.wait_for_selector("text=Finished in")  # the page reloads itself at the end
    assert page.inner_text("#created") == "54,314"
    b.check("job-finished")
