"""The subscriber pages and the public pages in real Chromium (Playwright) against uvicorn.

Staff search a member, open the person page and export it; a marketer opens a list with its
sign-up code and exports it; an admin reads the suppression list; a subscriber signs up on the
branded public page and pauses from the preferences page. axe-core (from npm) checks every page:
no serious or critical violation. Screenshots go to test-artifacts/subscribers-*.png.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from subscribers import lifecycle
from subscribers.models import Subscriber
from tests.browser import ARGS, CHROMIUM, SHOT_MS, needs_chromium
from tests.conftest import REPO
from tests.dashboard.conftest import PASSWORD
from tests.stats import scenario as sc
from wildmail.core import tokens
from wildmail.core.db import write_transaction
from wildmail.runtime.smtp_sink import free_port
from wildmail.web.serving import ServerThread

ARTIFACTS = REPO / "test-artifacts"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}

pytestmark = [
    *needs_chromium,
    pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (npm ci)"),
]


@pytest.fixture
def server(ctx):
    from wildmail.web.app import create_app

    port = free_port()
    ctx.settings = ctx.settings.with_overrides(
        base_url=f"http://127.0.0.1:{port}", privacy_url="https://wildlife.example/privacy"
    )
    srv = ServerThread(create_app(ctx), port=port).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        # Our pages forbid every script (CSP); axe is injected by the test, so the test's own
        # context lets it run. The pages themselves run none.
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True, bypass_csp=True
        )
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture
def people(ctx):
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        lst = lifecycle.create_list(
            s, "amur-leopard", at=now, description="Eight short emails about Amur leopards, one a week."
        )
        made = {}
        for email, name in (("ana@example.org", "Ana Lima"), ("anabel@example.org", "Anabel"),
                            ("bo@example.org", "Bo Berg")):  # fmt: skip
            sub = Subscriber(email=email, name=name, status="active", created_at=now, updated_at=now)
            s.add(sub)
            s.flush()
            lifecycle.add_membership(s, sub, lst.id, now)
            made[email] = sub
        c = sc.campaign(s, "leopard", 2)
        c.list_id = lst.id
        d = sc.deliver(s, c, 1, made["ana@example.org"])
        d.last_reply = "250 2.0.0 Ok: queued as 4XYZ"
        sc.event(s, c, 1, "open", delivery=d, hours=1)
        sc.event(s, c, 1, "open", delivery=d, cls="machine", hours=0)
        sc.event(s, c, 1, "click", delivery=d, link_kind="donation", hours=2)
        bounced = sc.deliver(s, c, 1, made["bo@example.org"], state="bounced")
        bounced.last_reply = "550 5.1.1 <bo@example.org>: no such user"
        lifecycle.mark_bounced(s, made["bo@example.org"], now, detail=bounced.last_reply)
        return {"ana": made["ana@example.org"].id, "delivery": d.id}


def _check(page, name: str) -> None:
    """Screenshot the page, then run axe-core on it: no serious or critical violation."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"subscribers-{name}.png"), full_page=True, timeout=SHOT_MS)
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map(
            v => ({id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: {json.dumps(blocking, indent=1)}"


def _log_in(page, server: str, email: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/dashboard")


def _download(page, selector: str) -> str:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_staff_find_a_person_read_their_history_and_export_it(server, page, users, people) -> None:
    _log_in(page, server, users["staff"])
    page.click("nav >> text=Subscribers")
    page.wait_for_selector("table.members")
    _check(page, "members")
    page.fill("input[name=q]", "ana")
    page.click("form[role=search] button")
    page.wait_for_selector("[data-member='anabel@example.org']")
    assert page.locator("table.members tbody tr").count() == 2  # ana, anabel: not bo
    page.click("[data-member='ana@example.org']")
    page.wait_for_selector("#person-email")
    assert page.inner_text("#person-email") == "ana@example.org"
    assert page.inner_text("[data-count=open-human]") == "1"
    assert page.inner_text("[data-count=open-machine]") == "1"
    assert page.inner_text("[data-count=click-human]") == "1"
    assert "250 2.0.0 Ok: queued as 4XYZ" in page.inner_text("table.deliveries")
    _check(page, "person")
    data = json.loads(_download(page, "text=Export JSON"))
    assert data["subscriber"]["email"] == "ana@example.org" and data["deliveries"][0]["state"] == "sent"
    rows = dict(csv.reader(io.StringIO(_download(page, "text=Export CSV"))))
    assert rows["subscriber.name"] == "Ana Lima"


def test_marketer_list_page_with_signup_code_and_export(server, page, users, people) -> None:
    _log_in(page, server, users["marketer"])
    page.goto(f"{server}/dashboard/subscribers?list=amur-leopard")
    assert page.inner_text("h1") == "Amur leopard"
    assert page.inner_text("#signup-url") == f"{server}/subscribe/amur-leopard"
    assert f'action="{server}/subscribe/amur-leopard"' in page.input_value("#embed-code")
    _check(page, "list")
    exported = list(csv.DictReader(io.StringIO(_download(page, "text=Export CSV"))))
    assert sorted(r["email"] for r in exported) == ["ana@example.org", "anabel@example.org", "bo@example.org"]


def test_admin_reads_suppressions_and_the_danger_zone(server, page, users, people) -> None:
    _log_in(page, server, users["admin"])
    page.goto(f"{server}/dashboard/subscribers/suppressions")
    assert "no such user" in page.inner_text("table.suppressions")
    _check(page, "suppressions")
    page.click("text=bo@example.org")
    page.wait_for_selector("text=Lift the bounce suppression")
    _check(page, "person-admin")


def test_public_pages_signup_and_pause(server, page, people, ctx) -> None:
    page.goto(f"{server}/subscribe/amur-leopard?email=cy@example.org")
    assert page.inner_text("h1") == "Subscribe to Amur leopard"
    assert page.input_value("#email") == "cy@example.org"
    assert (
        page.locator("a", has_text="Privacy policy").get_attribute("href")
        == "https://wildlife.example/privacy"
    )
    _check(page, "public-subscribe")
    unsubscribe = tokens.unsubscribe_url(server, ctx.settings.secret, people["delivery"])
    page.goto(unsubscribe)
    _check(page, "public-unsubscribe")
    page.goto(f"{unsubscribe}/preferences")
    assert "Eight short emails about Amur leopards" in page.inner_text("fieldset")
    _check(page, "public-preferences")
    page.click("text=Pause for a month")
    page.wait_for_selector("text=Your emails are paused")
    _check(page, "public-paused")
