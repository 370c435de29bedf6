"""The API's browsable docs in real Chromium: Swagger UI renders every operation from our own files,
under the page's security policy, and nothing is fetched from any other host (offline)."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser import ARGS, CHROMIUM, needs_chromium

pytestmark = needs_chromium


def test_the_docs_render_offline_under_the_security_policy(api_server) -> None:
    from playwright.sync_api import sync_playwright

    hosts: set[str] = set()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(f"{api_server.url}/api/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)  # a busy machine parses slowly
            assert "wildmail" in page.inner_text(".swagger-ui .info .title")
            operations = page.locator(".opblock").count()
            assert operations >= 25
            page.locator(".opblock-summary", has_text="/api/v1/lists/{slug}").first.click()
            page.wait_for_selector(".opblock.is-open .parameters", timeout=5_000)
        finally:
            browser.close()
    assert hosts == {urlparse(api_server.url).netloc}
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
