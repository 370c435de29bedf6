"""The corpus' emails in real Chromium at 320, 375 and 600 px: no horizontal scroll, every image
within the column, the header's Donate link in the first screen at 375 x 667. Screenshots are
saved under test-artifacts/corpus/."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from campaigns.article import read_article_file
from campaigns.compiled import CompiledEmail, Recipient
from campaigns.preview import personalise
from campaigns.render import Branding, EmailContent, render_email
from campaigns.splitter import split_article
from tests.browser import ARGS, CHROMIUM, SHOT_MS, needs_chromium
from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus" / "articles"
ARTIFACTS = REPO / "test-artifacts" / "corpus"
ARTICLES = [
    "14-markdown-images.md",
    "17-wordpress-post.html",
    "21-word-report.docx",
    "05-all-caps-headings.txt",
]
# A picture wider than any phone, served from the page itself: the email must still fit.
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1600" height="900" style="background:#584"/>'
WIDE_PICTURE = "data:image/svg+xml;base64," + base64.b64encode(SVG).decode()

pytestmark = needs_chromium


def _pages(tmp_path: Path) -> list[Path]:
    pages = []
    for name in ARTICLES:
        plan = split_article(read_article_file(CORPUS / name))
        for e in plan.emails:
            paragraphs = [p.replace("https://example.org/", "http://img.invalid/") for p in e.paragraphs]
            content = EmailContent(
                e.position, len(plan.emails), e.title, e.subject, e.preheader, paragraphs, 1, plan.format
            )
            brand = Branding(
                "Green Valley Wildlife Trust",
                "1 Test Lane, 00000 Testville",
                plan.title,
                "https://give.example/now",
                "Give to the appeal",
                "http://testserver/",
                logo_url=WIDE_PICTURE,
                hero_image=WIDE_PICTURE,
            )
            r = render_email(content, brand)
            html, _ = personalise(
                CompiledEmail(1, 1, e.position, e.subject, e.preheader, r.html, r.text),
                Recipient(
                    "Alex", WIDE_PICTURE, "http://testserver/u/x", {ln.position: ln.url for ln in r.links}
                ),
            )
            # pictures of the article are remote here: swap them for the wide local one
            html = html.replace("http://img.invalid/", "").replace('src="wp-content', 'src="x')
            html = re.sub(r'src="[^"]*\.jpg"', f'src="{WIDE_PICTURE}"', html)
            page = tmp_path / f"{name}-{e.position}.html"
            page.write_text(html, encoding="utf-8")
            pages.append(page)
    return pages


@pytest.mark.parametrize("width", [320, 375, 600])
def test_corpus_emails_fit_the_screen(tmp_path, width):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for page_file in _pages(tmp_path):
                page = browser.new_page(viewport={"width": width, "height": 667})
                page.goto(page_file.as_uri())
                page.wait_for_load_state("load")
                scroll, client = page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                assert scroll <= client, f"{page_file.name} scrolls sideways at {width}px"
                for box in page.evaluate(
                    "[...document.images].filter(i => i.width > 1).map(i => {"
                    "const r = i.getBoundingClientRect(); return [r.left, r.right]; })"
                ):
                    assert box[0] >= 0 and box[1] <= width + 0.5, (
                        f"{page_file.name}: image outside at {width}px"
                    )
                donate = page.locator("a.wm-donate")
                assert donate.count() == 1
                if width == 375:
                    b = donate.bounding_box()
                    assert b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 667
                    assert b["x"] >= 0 and b["x"] + b["width"] <= 375
                    assert donate.is_visible()
                page.screenshot(
                    path=str(ARTIFACTS / f"{page_file.stem}-{width}.png"), full_page=True, timeout=SHOT_MS
                )
                page.close()
        finally:
            browser.close()
