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


def page_title(data: bytes) -> str:
    """The page's own title: og:title, else <title> without the site name (trafilatura's metadata)."""
    try:
        meta = trafilatura.extract_metadata(data)
    except (ValueError, TypeError):
        return ""
    return " ".join((meta.title or "").split()) if meta is not None else ""


def read_html(data: bytes, source: str) -> Article:
    """The main article of an HTML page as a Markdown :class:`Article` (``reader`` "html")."""
    if b"\x00" in data:
        raise ArticleError(source, "binary file (contains NUL bytes), expected an HTML page")
    extracted = trafilatura.extract(
        data,
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
    return replace(article, reader="html", title_hint=page_title(data), line_numbers=False)
