"""The archive pages in real Chromium with axe-core (no serious or critical violation) and no
sideways scrolling at 375 px, like the dashboard walks (tests/dashboard/test_walks.py)."""

from __future__ import annotations

import pytest

from delivery.archive import set_archive
from tests.archive.helpers import make_campaign, make_list, send_first_email
from tests.browser import needs_chromium
from tests.dashboard.test_walks import AXE, Browser
from wildmail.core.db import write_transaction

pytestmark = [*needs_chromium, pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (npm ci)")]


def test_archive_pages_pass_axe(browser: Browser, ctx, smtp_server) -> None:
    make_list(ctx)
    slug = make_campaign(ctx)
    send_first_email(ctx, slug, smtp_server)
    with write_transaction(ctx.engine) as s:
        set_archive(s, slug, True)
    for name, path in (
        ("archive-index", "/archive/"),
        ("archive-campaign", f"/archive/{slug}/"),
        ("archive-email", f"/archive/{slug}/1-back-on-the-river"),
    ):
        browser.go(path)
        assert browser.page.locator("h1").count() == 1, name
        browser.check(name)
    assert browser.checked == ["archive-index", "archive-campaign", "archive-email"]
