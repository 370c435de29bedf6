"""One paragraph of an article -> safe HTML, readable plain text and its links.

Markdown paragraphs go through markdown-it-py with raw HTML disabled (emphasis, links,
lists, code). Plain-text paragraphs are escaped and bare ``http(s)`` URLs become links.
Every ``http(s)`` link is replaced by the placeholder ``%%WM_LINK_<n>%%`` so clicks are
tracked through a ``Link`` row; the text part shows ``label [n]`` and lists the links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

IMAGE_WIDTH = 544  # the email column (600 px) less the text's side padding
IMAGE_STYLE = "display:block;width:100%;max-width:100%;height:auto;border:0;margin:0 0 16px 0;"
SIZED_IMAGE_STYLE = "display:block;max-width:100%;height:auto;border:0;margin:0 0 16px 0;"
URL = re.compile(r"https?://[^\s<>\"'“”‘’]+")
TRAILING = ".,;:!?)]}’”'\""


@dataclass(frozen=True)
class FoundLink:
    """A link found in a paragraph, numbered within its email."""

    position: int
    url: str
    label: str


@dataclass(frozen=True)
class RenderedParagraph:
    html: str
    text: str
    links: list[FoundLink] = field(default_factory=list)


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The shared markdown-it parser (CommonMark, raw HTML off)."""
    return MarkdownIt("commonmark", {"html": False, "typographer": False})


def placeholder(position: int) -> str:
    """The placeholder a link at ``position`` gets in compiled HTML and text."""
    return f"%%WM_LINK_{position}%%"


def _is_tracked(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


Sizes = Mapping[str, Sequence[int]]


def scaled(size: Sequence[int] | None, column: int = IMAGE_WIDTH) -> tuple[int, int] | None:
    """``size`` (width, height) shrunk to fit ``column`` pixels (never enlarged), or None when unknown."""
    if not size or len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        return None
    width = min(int(size[0]), column)
    return width, max(1, round(int(size[1]) * width / int(size[0])))


def render_paragraph(
    source: str, fmt: str, next_position: int, sizes: Sizes | None = None
) -> RenderedParagraph:
    """Render one paragraph; its links are numbered from ``next_position``; ``sizes`` are the
    pictures' (width, height) by address."""
    if fmt == "markdown":
        return _render_markdown(source, next_position, sizes or {})
    return _render_text(source, next_position)


def _render_text(source: str, next_position: int) -> RenderedParagraph:
    links: list[FoundLink] = []
    html_parts: list[str] = []
    text_parts: list[str] = []
    last = 0
    for match in URL.finditer(source):
        url = match.group(0).rstrip(TRAILING)
        end = match.start() + len(url)
        before = source[last : match.start()]
        html_parts.append(html.escape(before))
        text_parts.append(before)
        link = FoundLink(next_position + len(links), url, url)
        links.append(link)
        html_parts.append(f'<a href="{placeholder(link.position)}">{html.escape(url)}</a>')
        text_parts.append(f"{url} [{link.position}]")
        last = end
    html_parts.append(html.escape(source[last:]))
    text_parts.append(source[last:])
    return RenderedParagraph(f"<p>{''.join(html_parts)}</p>", "".join(text_parts), links)


def _render_markdown(source: str, next_position: int, sizes: Sizes | None = None) -> RenderedParagraph:
    md = markdown()
    tokens = md.parse(source)
    links: list[FoundLink] = []
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        children = token.children
        for i, child in enumerate(children):
            if child.type == "image":  # never wider than the column, whatever the picture's size
                size = scaled((sizes or {}).get(str(child.attrGet("src") or "")))
                child.attrSet("width", str(size[0] if size else IMAGE_WIDTH))
                if size:
                    child.attrSet("height", str(size[1]))
                child.attrSet("style", IMAGE_STYLE if size is None else SIZED_IMAGE_STYLE)
            if child.type != "link_open":
                continue
            href = str(child.attrGet("href") or "")
            if not _is_tracked(href):
                continue
            label = _label(children, i)
            link = FoundLink(next_position + len(links), href, label or href)
            links.append(link)
            child.attrSet("href", placeholder(link.position))
            child.meta["wm_position"] = link.position
    rendered = md.renderer.render(tokens, md.options, {}).strip()
    return RenderedParagraph(rendered, _tokens_text(tokens), links)


def _label(children: list[Token], start: int) -> str:
    parts: list[str] = []
    for child in children[start + 1 :]:
        if child.type == "link_close":
            break
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
    return " ".join("".join(parts).split())


def _inline_text(children: list[Token]) -> str:
    out: list[str] = []
    open_links: list[int | None] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(child.content)
        elif child.type == "link_open":
            open_links.append(child.meta.get("wm_position"))
        elif child.type == "link_close":
            position = open_links.pop() if open_links else None
            if position is not None:
                out.append(f" [{position}]")
    return "".join(out)


def _tokens_text(tokens: list[Token]) -> str:
    lines: list[str] = []
    stack: list[list[int]] = []  # per open list: [counter, ordered?]
    prefix = ""
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            stack.append([start, 1 if token.type == "ordered_list_open" else 0])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            stack.pop()
        elif token.type == "list_item_open" and stack:
            counter, ordered = stack[-1]
            indent = "  " * (len(stack) - 1)
            prefix = f"{indent}{counter}. " if ordered else f"{indent}- "
            stack[-1][0] = counter + 1
        elif token.type == "inline":
            lines.append(prefix + _inline_text(token.children or []))
            prefix = ""
        elif token.type in ("fence", "code_block"):
            lines.append(token.content.rstrip("\n"))
    return "\n".join(lines)


_MD_INLINE = re.compile(r"([\\`*_\[\]<>&])")
_MD_LINE_START = re.compile(r"^(\d*)([#>+=.)-])", re.MULTILINE)


def text_as_markdown(source: str) -> str:
    """A plain-text paragraph as Markdown that renders the same: Markdown's marks are escaped,
    bare URLs become autolinks, lines lose their leading spaces (no code blocks)."""
    out: list[str] = []
    last = 0

    def escaped(part: str) -> str:
        part = "\n".join(line.lstrip() for line in part.split("\n"))
        return _MD_INLINE.sub(r"\\\1", part)

    for match in URL.finditer(source):
        url = match.group(0).rstrip(TRAILING)
        out.append(escaped(source[last : match.start()]))
        out.append(f"<{url}>")
        last = match.start() + len(url)
    out.append(escaped(source[last:]))
    return _MD_LINE_START.sub(r"\1\\\2", "".join(out))


def plain_text(source: str, fmt: str) -> str:
    """The paragraph as plain words (markup removed), for preheaders and word counts."""
    if fmt != "markdown":
        return " ".join(source.split())
    rendered = _render_markdown(source, 1)
    text = re.sub(r" \[\d+\]", "", rendered.text)
    return " ".join(text.split())
