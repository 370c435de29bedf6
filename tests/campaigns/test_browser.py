"""Preview HTML in real Chromium at phone and desktop widths: no horizontal scroll, screenshots saved."""

from __future__ import annotations

from pathlib import Path

from campaigns.article import read_article_file
from campaigns.compiled import CompiledEmail, Recipient
from campaigns.preview import personalise
from campaigns.render import ENGINES, Branding, EmailContent, render_email
from campaigns.splitter import split_article
from tests.browser import ARGS, CHROMIUM, SHOT_MS, needs_chromium
from tests.campaigns.conftest import SAMPLE
from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts" / "campaigns"

pytestmark = needs_chromium


def _pages(tmp_path: Path) -> list[Path]:
    plan = split_article(read_article_file(SAMPLE))
    pages = []
    # the email with a content link and a list, in both engines and both templates
    for engine in ENGINES:
        for template in ("", "letter"):
            e = plan.emails[4] if template else plan.emails[1]
            content = EmailContent(
                e.position, 6, e.title, e.subject, e.preheader, e.paragraphs, 1, "markdown"
            )
            brand = Branding(
                "Wildlife Fund",
                "1 Test Lane, 00000 Testville",
                plan.title,
                "https://give.example/amur",
                "Protect a leopard's forest",
                "http://testserver/",
                template=template,
                engine=engine,
            )
            r = render_email(content, brand)
            html, _ = personalise(
                CompiledEmail(1, 1, e.position, e.subject, e.preheader, r.html, r.text),
                Recipient(
                    "Alex",
                    "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
                    "http://testserver/u/x",
                    {link.position: link.url for link in r.links},
                ),
            )
            page = tmp_path / f"{engine}-{template or 'default'}.html"
            page.write_text(html, encoding="utf-8")
            pages.append(page)
    return pages


def test_preview_fits_phone_and_desktop_widths(tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for page_file in _pages(tmp_path):
                for width in (375, 600):
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.goto(page_file.as_uri())
                    scroll, client = page.evaluate(
                        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                    )
                    assert scroll <= client, f"{page_file.name} scrolls sideways at {width}px"
                    button = page.get_by_role("link", name="Protect a leopard's forest")
                    box = button.bounding_box()
                    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
                    assert box["height"] >= 40  # a prominent, tappable button
                    assert (
                        page.get_by_text("Hello Alex,").is_visible()
                        or page.get_by_text("Dear Alex,").is_visible()
                    )
                    honeypot = page.locator("a.wm-hp")
                    assert honeypot.count() == 1 and not honeypot.is_visible()
                    assert page.locator("html").get_attribute("lang") == "en"
                    shot = ARTIFACTS / f"{page_file.stem}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True, timeout=SHOT_MS)
                    assert shot.stat().st_size > 5_000
                    page.close()
        finally:
            browser.close()
