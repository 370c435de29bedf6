"""Article -> series plan: one email per section, or balanced parts when there are no headings.

Text before the first heading is the opening email. No paragraph is ever lost,
duplicated or reordered: the emails' paragraphs, joined, are the article's paragraphs.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaigns.article import Article, ArticleError
from campaigns.blocks import Block, markdown_blocks, text_blocks
from campaigns.markup import plain_text

WORDS_PER_MINUTE = 200
PREHEADER_MAX = 100
SUBJECT_MAX = 150
WORDS_PER_PART = 350
MAX_AUTO_PARTS = 10
SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"“‘(]?[A-Z0-9À-Þ])")


@dataclass(frozen=True)
class PlannedEmail:
    """One email of the planned series."""

    position: int
    title: str
    subject: str
    preheader: str
    paragraphs: list[str]
    word_count: int
    reading_minutes: int

    def as_json(self) -> dict[str, Any]:
        """The JSON shape ``wildmail campaign split --json`` prints."""
        return {
            "position": self.position,
            "title": self.title,
            "subject": self.subject,
            "preheader": self.preheader,
            "paragraphs": list(self.paragraphs),
            "word_count": self.word_count,
            "reading_minutes": self.reading_minutes,
        }


@dataclass(frozen=True)
class SeriesPlan:
    """The whole series made from one article."""

    title: str
    format: str
    emails: list[PlannedEmail]
    options: dict[str, Any] = field(default_factory=dict)
    reader: str = "text"  # what read the file (a key of campaigns.article.READERS)
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter keys wildmail does not use
    notices: tuple[str, ...] = ()

    @property
    def paragraphs(self) -> list[str]:
        return [p for email in self.emails for p in email.paragraphs]


def trim_words(text: str, limit: int) -> str:
    """``text`` cut on a word boundary to at most ``limit`` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph's plain text."""
    text = " ".join(text.split())
    return SENTENCE_END.split(text, maxsplit=1)[0]


def humanise(stem: str) -> str:
    """'amur-leopard_2024' -> 'Amur leopard 2024'."""
    words = re.sub(r"[-_.]+", " ", stem).split()
    return " ".join(words).capitalize() if words else "Untitled"


NOT_PROSE = ("#", "- ", "* ", "+ ", ">", "```")
IMAGE_ONLY = re.compile(r"^\s*(?:!\[[^\]]*\]\([^)]*\)\s*)+$")


def _email(position: int, title: str, subject: str, paragraphs: list[str], fmt: str) -> PlannedEmail:
    texts = [plain_text(p, fmt) for p in paragraphs]
    words = sum(len(t.split()) for t in texts)
    # The preheader is the first sentence of prose: an image's alt text or a subheading is not one.
    prose = [
        t
        for p, t in zip(paragraphs, texts, strict=True)
        if t and not (fmt == "markdown" and (IMAGE_ONLY.match(p) or p.startswith(NOT_PROSE)))
    ]
    first = prose[0] if prose else next((t for t in texts if t), "")
    return PlannedEmail(
        position=position,
        title=trim_words(title, SUBJECT_MAX),
        subject=trim_words(subject, SUBJECT_MAX),
        preheader=trim_words(first_sentence(first), PREHEADER_MAX),
        paragraphs=list(paragraphs),
        word_count=words,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
    )


def split_article(article: Article, *, title: str | None = None, parts: int | None = None) -> SeriesPlan:
    """Plan the series; ``parts`` (or front matter ``parts``) applies to articles without headings.

    ``title`` is a last fallback for the series title (see :func:`series_title`); never pass a
    campaign's internal name, subscribers see the title.
    """
    blocks = (
        markdown_blocks(article.text, article.body_first_line)
        if article.format == "markdown"
        else text_blocks(article.text, article.body_first_line)
    )
    if not any(not b.is_heading for b in blocks):
        line = blocks[0].line if blocks else article.body_first_line
        raise article.error_at(line, "article has no paragraphs")
    blocks, h1 = _strip_title_heading(blocks)
    doc_title = series_title(article, blocks, h1, title)
    if parts is None:
        parts = article.options.get("parts")
    if parts is not None and parts < 1:
        raise ArticleError(article.source, f"parts must be at least 1, got {parts}")
    if any(b.is_heading for b in blocks):
        emails = _by_headings(blocks, doc_title, article)
    else:
        emails = _by_length([b.text for b in blocks], doc_title, article.format, parts)
    return SeriesPlan(
        title=doc_title,
        format=article.format,
        emails=emails,
        options=dict(article.options),
        reader=article.reader,
        metadata=dict(article.metadata),
        notices=article.notices + tuple(_alt_text_warnings(emails, article.format, article.options)),
    )


IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)")


def _alt_text_warnings(emails: list[PlannedEmail], fmt: str, options: dict[str, Any]) -> list[str]:
    """One warning per image without alt text (screen readers and clients that block images show nothing)."""
    hero = []
    if options.get("image") and not options.get("image_alt"):
        hero = [f"front matter image {options['image']} has no image_alt (screen readers get nothing)"]
    if fmt != "markdown":
        return hero
    return hero + [
        f"email {e.position}: image {src or '(no address)'} has no alt text (screen readers get nothing)"
        for e in emails
        for p in e.paragraphs
        for alt, src in IMAGE.findall(p)
        if not alt.strip()
    ]


TITLE_FROM_TEXT_MAX = 70


def series_title(article: Article, blocks: list[Block], h1: str = "", fallback: str | None = None) -> str:
    """The series title: front matter, the H1, the page's or document's title, the heading that
    opens the article, the file's name, else the article's first words."""
    candidates = [
        str(article.options.get("title") or ""),
        h1,
        article.title_hint,
        blocks[0].text if blocks and blocks[0].is_heading else "",
        humanise(Path(article.source).stem) if Path(article.source).suffix else "",
        fallback or "",
    ]
    for candidate in candidates:
        if candidate.strip():
            return " ".join(candidate.split())
    first = next(b.text for b in blocks if not b.is_heading)
    return trim_words(first_sentence(plain_text(first, article.format)), TITLE_FROM_TEXT_MAX) or "Untitled"


def _strip_title_heading(blocks: list[Block]) -> tuple[list[Block], str]:
    """A lone top-level heading that opens a Markdown article (with deeper headings after) is its title."""
    headings = [b for b in blocks if b.is_heading]
    if not headings or not blocks[0].is_heading:
        return blocks, ""
    top = min(b.level for b in headings)
    tops = [b for b in headings if b.level == top]
    if len(tops) == 1 and blocks[0] is tops[0] and any(b.level > top for b in headings):
        return blocks[1:], blocks[0].text
    return blocks, ""


def _by_headings(blocks: list[Block], doc_title: str, article: Article) -> list[PlannedEmail]:
    level = min(b.level for b in blocks if b.is_heading)
    sections: list[tuple[Block | None, list[str]]] = [(None, [])]
    for block in blocks:
        if block.is_heading and block.level == level:
            if not block.text:
                raise article.error_at(block.line, "heading has no text")
            sections.append((block, []))
        elif block.is_heading:
            sections[-1][1].append(f"{'#' * block.level} {block.text}")
        else:
            sections[-1][1].append(block.text)
    if not sections[0][1]:
        sections.pop(0)
    emails: list[PlannedEmail] = []
    for heading, paragraphs in sections:
        if heading is not None and not paragraphs:
            raise article.error_at(
                heading.line,
                f"heading {heading.text!r} has no text below it (add a paragraph, "
                "or end the line with punctuation if it is not a heading)",
            )
        name = heading.text if heading is not None else doc_title
        emails.append(_email(len(emails) + 1, name, name, paragraphs, article.format))
    return emails


def balanced_cuts(weights: list[int], parts: int) -> list[int]:
    """Start indices of parts 2..n, each cut at the boundary nearest an equal share of weight."""
    n = len(weights)
    parts = max(1, min(parts, n))
    prefix = list(itertools.accumulate(weights, initial=0))
    total = prefix[-1]
    cuts: list[int] = []
    for k in range(1, parts):
        low = (cuts[-1] if cuts else 0) + 1
        high = n - (parts - k)
        target = total * k / parts
        at = bisect.bisect_left(prefix, target, low, high + 1)
        candidates = [i for i in (at - 1, at) if low <= i <= high]
        cuts.append(min(candidates, key=lambda i: abs(prefix[i] - target)) if candidates else low)
    return cuts


def _by_length(paragraphs: list[str], doc_title: str, fmt: str, parts: int | None) -> list[PlannedEmail]:
    weights = [max(1, len(plain_text(p, fmt).split())) for p in paragraphs]
    if parts is None:
        parts = min(MAX_AUTO_PARTS, max(1, round(sum(weights) / WORDS_PER_PART)))
    cuts = [0, *balanced_cuts(weights, parts), len(paragraphs)]
    chunks = [paragraphs[a:b] for a, b in itertools.pairwise(cuts)]
    if len(chunks) == 1:
        return [_email(1, doc_title, doc_title, chunks[0], fmt)]
    emails = []
    for i, chunk in enumerate(chunks, start=1):
        title = f"Part {i} of {len(chunks)}"
        emails.append(_email(i, title, f"{doc_title} ({i}/{len(chunks)})", chunk, fmt))
    return emails
