"""An article's HTML body -> Markdown source that the Markdown splitter reads.

The HTML and ``.docx`` readers both produce clean article HTML (trafilatura, mammoth); this walks
it once with lxml and writes one Markdown block per heading, paragraph, list, quote, image or
table row. Text is backslash-escaped, so a ``*`` or a leading ``1.`` in the prose stays prose
and every paragraph of the page is exactly one paragraph of the series.
"""

from __future__ import annotations

import re

from lxml import html as lxml_html
from lxml.etree import ParserError, _Element

HEADINGS = {f"h{n}": n for n in range(1, 7)}
SKIPPED = {"script", "style", "noscript", "template", "head", "nav", "form", "button", "iframe", "svg"}
BLOCKS = {*HEADINGS, "p", "ul", "ol", "blockquote", "pre", "table", "hr", "img", "figcaption", "dl"}
SPECIAL = re.compile(r"([\\`*_\[\]<>&!|~#])")
LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")
SAFE_URL = re.compile(r"^(https?://|mailto:|/|\./|\.\./|[A-Za-z0-9_][^:]*$)", re.IGNORECASE)


def escape(text: str) -> str:
    """Markdown-escape prose so it renders as itself."""
    text = SPECIAL.sub(r"\\\1", text)
    match = LINE_START.match(text)
    if match is None:
        return text
    if match.group(2)[0].isdigit():  # "1. Habitat" as prose: escape the dot after the number
        return text[: match.end()] + "\\" + text[match.end() :]
    return text[: match.start(2)] + "\\" + text[match.start(2) :]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _url(value: str) -> str:
    """A link or image target written so Markdown keeps it whole (``<...>`` when it has spaces)."""
    value = value.strip()
    if any(c in value for c in " ()<>"):
        return "<" + value.replace("<", "%3C").replace(">", "%3E") + ">"
    return value


def _inline(node: _Element) -> str:
    """The Markdown of ``node``'s content, inline (one paragraph)."""
    parts: list[str] = [escape(node.text or "")]
    for child in node:
        parts.append(_inline_element(child))
        parts.append(escape(child.tail or ""))
    return "".join(parts)


def _wrap(marker: str, inner: str) -> str:
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = " " if inner[:1].isspace() else ""
    trail = " " if inner[-1:].isspace() else ""
    return f"{lead}{marker}{stripped}{marker}{trail}"


def _inline_element(el: _Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in SKIPPED or not tag:
        return ""
    if tag == "br":
        return "\\\n"
    if tag == "img":
        return _image(el)
    if tag in ("em", "i", "cite", "dfn"):
        return _wrap("*", _inline(el))
    if tag in ("strong", "b"):
        return _wrap("**", _inline(el))
    if tag == "code":
        code = _squash(el.text_content()).replace("`", "'")
        return f"`{code}`" if code else ""
    if tag == "a":
        label = _inline(el).strip()
        href = (el.get("href") or "").strip()
        if not href or href.startswith("#") or not SAFE_URL.match(href) or not label:
            return label
        return f"[{label}]({_url(href)})"
    return _inline(el)


def _image(el: _Element) -> str:
    src = (el.get("src") or "").strip()
    if not src or src.startswith("data:") or not SAFE_URL.match(src):
        return ""
    alt = _squash(el.get("alt") or "").replace("[", "(").replace("]", ")")
    return f"![{alt}]({_url(src)})"


class _Writer:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.loose: list[str] = []  # inline content of a container, waiting for a block to end it

    def flush(self) -> None:
        text = _squash("".join(self.loose).replace("\\\n", "\x00")).replace("\x00", "\\\n")
        if text.strip(" \\\n"):
            self.blocks.append(text.strip())
        self.loose = []

    def add(self, block: str) -> None:
        self.flush()
        if block.strip():
            self.blocks.append(block)

    def walk(self, node: _Element) -> None:
        self.loose.append(escape(node.text or ""))
        for child in node:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in SKIPPED or not tag:
                pass
            elif tag in BLOCKS or tag in ("li", "dt", "dd", "tr"):
                self.block(child, tag)
            elif _has_block(child):  # any element holding blocks (aside, div, ...) is a container
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.loose.append(_inline_element(child))
            self.loose.append(escape(child.tail or ""))

    def block(self, el: _Element, tag: str) -> None:
        if tag in HEADINGS:
            title = _squash(el.text_content())
            if title:
                self.add(f"{'#' * HEADINGS[tag]} {escape(title)}")
        elif tag in ("p", "figcaption", "dt", "dd", "li"):
            self.add(_paragraph(el))
        elif tag in ("ul", "ol"):
            self.add("\n".join(_list(el, 0)))
        elif tag == "blockquote":
            inner = _Writer()
            inner.walk(el)
            inner.flush()
            self.add("\n>\n".join("\n".join("> " + ln for ln in b.split("\n")) for b in inner.blocks))
        elif tag == "pre":
            code = (el.text_content() or "").strip("\n").replace("```", "'''")
            self.add(f"```\n{code}\n```" if code.strip() else "")
        elif tag == "img":
            self.add(_image(el))
        elif tag in ("table", "tr", "dl"):
            for row in el.iter("tr") if tag != "dl" else el:
                cells = [_squash(_inline(c)) for c in row if isinstance(c.tag, str)]
                self.add(" · ".join(c for c in cells if c))
        # hr: a thematic break separates nothing in an email


def _paragraph(el: _Element) -> str:
    if _has_block(el):  # a <p> or <li> holding blocks (invalid but common): its blocks, joined
        inner = _Writer()
        inner.walk(el)
        inner.flush()
        return "\n\n".join(inner.blocks)
    text = _inline(el).replace("\\\n", "\x00")
    return _squash(text).replace("\x00", "\\\n").strip()


def _list(el: _Element, depth: int) -> list[str]:
    ordered = el.tag == "ol"
    lines: list[str] = []
    number = int(el.get("start") or 1) if (el.get("start") or "").isdigit() else 1
    for item in el:
        if not isinstance(item.tag, str) or item.tag != "li":
            continue
        marker = f"{number}. " if ordered else "- "
        number += 1
        nested = [c for c in item if isinstance(c.tag, str) and c.tag in ("ul", "ol")]
        for sub in nested:
            tail = sub.tail
            item.remove(sub)
            if tail:
                item.text = (item.text or "") + tail
        text = _squash(_inline(item).replace("\\\n", " "))
        lines.append("    " * depth + marker + (text or "\\-"))
        for sub in nested:
            lines.extend(_list(sub, depth + 1))
    return lines


def _has_block(el: _Element) -> bool:
    return any(isinstance(c.tag, str) and (c.tag in BLOCKS or c.tag in ("li", "tr")) for c in el.iter())


def html_to_markdown(fragment: str) -> str:
    """Markdown of an article's HTML (a whole page or a fragment); "" when it holds no text."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fromstring(fragment)
    except (ParserError, ValueError):
        return ""
    writer = _Writer()
    if root.tag in BLOCKS:
        writer.block(root, root.tag)
    else:
        writer.walk(root)
    writer.flush()
    return "\n\n".join(writer.blocks) + "\n" if writer.blocks else ""
