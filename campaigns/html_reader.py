"""An HTML page (saved from a browser, exported from WordPress or Ghost) -> an article.

trafilatura finds the main article and drops navigation, sidebars, cookie banners, comments
and footers, keeping headings, lists, links, emphasis and images; :mod:`campaigns.html_markdown`
turns that HTML into Markdown, so the page splits like a Markdown article.
"""

from __future__ import annotations

from dataclasses import replace

import trafilatura

from campaigns.article import Article, ArticleError, parse_article_text
from campaigns.html_markdown import html_to_markdown

NO_ARTICLE = "no article found in this HTML page (only navigation, or too little text)"
MIN_WORDS = 20  # fewer words of prose than this is a menu or a banner, not an article


def page_facts(data: bytes) -> tuple[str, str]:
    """The page's own title (og:title, else <title> without the site name) and its address
    (canonical link or og:url), from trafilatura's metadata; "" when absent."""
    try:
        meta = trafilatura.extract_metadata(data)
    except (ValueError, TypeError):
        return "", ""
    if meta is None:
        return "", ""
    url = str(meta.url or "")
    return " ".join((meta.title or "").split()), url if url.lower().startswith(
        ("http://", "https://")
    ) else ""


def read_html(data: bytes, source: str) -> Article:
    """The main article of an HTML page as a Markdown :class:`Article` (``reader`` "html")."""
    if b"\x00" in data:
        raise ArticleError(source, "binary file (contains NUL bytes), expected an HTML page")
    title, url = page_facts(data)
    # With the page's own address, trafilatura makes relative links and pictures absolute; without
    # it, relative pictures are files next to the saved page ("Save page, complete").
    extracted = trafilatura.extract(
        data,
        url=url or None,
        output_format="html",
        include_links=True,
        include_images=True,
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
        deduplicate=False,
    )
    text = html_to_markdown(extracted or "")
    prose = [b for b in text.split("\n\n") if b.strip() and not b.startswith(("#", "!["))]
    if sum(len(b.split()) for b in prose) < MIN_WORDS:
        raise ArticleError(source, NO_ARTICLE)
    article = parse_article_text(text, source, "markdown")
    return replace(article, reader="html", title_hint=title, line_numbers=False)
