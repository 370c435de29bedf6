"""An article's text -> a flat list of headings and paragraphs with their line numbers.

Plain text: blocks are separated by blank lines. A one-line block is a heading when it is short
and does not read as a sentence (leading/trailing Unicode spaces such as the no-break space are
ignored):

- certainly, when it has no end punctuation, is numbered ("1. Habitat", "Part 2: Cubs"), or is
  written in capitals ("WHERE IT LIVES");
- when the rules cannot decide (a question, a line in straight or curly quotes, a line ending
  in a colon or an exclamation mark), when paragraphs follow it and it is much shorter than
  they are; a colon line followed by a list introduces the list.

A line holding two sentences is never a heading. Markdown: markdown-it's top-level blocks,
``#`` headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaigns.markup import markdown

HEADING_MAX_CHARS = 80
HEADING_MAX_WORDS = 12
END_PUNCTUATION = ".!?:;,…"
CLOSERS = "\"'”’)»]"
OPENERS = "\"'“‘«"
LIST_MARKERS = ("- ", "* ", "• ", "+ ")
NUMBERED = re.compile(
    r"^(?:\d{1,2}[.)]\s+|[IVXLC]{1,5}[.)]\s+"
    r"|(?:part|chapter|section|step|day|week)\s+(?:\d{1,3}|[ivxlc]{1,5}|one|two|three|four|five|six"
    r"|seven|eight|nine|ten)(?:\s*[.:)\-–—]\s*|$))",
    re.IGNORECASE,
)
SENTENCE_BREAK = re.compile(r"[.!?…][\"'”’)]*\s+[\"“‘(]?[A-Z]")
UNDECIDED_ENDS = "?:!"
MUCH_SHORTER = 3  # an undecided line is a heading when the paragraphs after it are this many times longer


@dataclass(frozen=True)
class Block:
    """A heading (``level`` > 0) or a paragraph (``level`` == 0) at a 1-based line."""

    text: str
    line: int
    level: int = 0

    @property
    def is_heading(self) -> bool:
        return self.level > 0


def _short(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= HEADING_MAX_WORDS and len(text) <= HEADING_MAX_CHARS


def _quoted(text: str) -> bool:
    return len(text) > 2 and text[0] in OPENERS and text[-1] in CLOSERS


def heading_kind(line: str) -> str:
    """ "heading", "maybe" (a question, quoted, colon or exclamation line) or "text" for one line."""
    text = " ".join(line.split())
    if not _short(text) or text.startswith(LIST_MARKERS) or not any(c.isalpha() for c in text):
        return "text"
    numbered = NUMBERED.match(text)
    rest = text[numbered.end() :] if numbered else text
    if SENTENCE_BREAK.search(rest.rstrip(CLOSERS)):
        return "text"  # two sentences read as prose, whatever their length
    end = text.rstrip(CLOSERS)[-1:]
    letters = [c for c in text if c.isalpha()]
    if end not in END_PUNCTUATION:
        return "heading"
    if numbered and end in ".:?!":
        return "heading"
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return "heading"
    if end in UNDECIDED_ENDS or _quoted(text):
        return "maybe"
    return "text"


def is_plain_heading(line: str) -> bool:
    """True for a line that is a heading whatever follows it (see :func:`heading_kind`)."""
    return heading_kind(line) == "heading"


def _decide(line: str, following: list[list[str]]) -> bool:
    """An undecided line is a heading when paragraphs follow and it is much shorter than they are."""
    text = " ".join(line.split())
    paragraphs: list[str] = []
    for lines in following:
        if len(lines) == 1 and heading_kind(lines[0]) != "text":
            break
        paragraphs.append(" ".join(lines))
    if not paragraphs:
        return False
    if text.endswith(":") and paragraphs[0].lstrip().startswith(LIST_MARKERS):
        return False  # "You can help in three ways:" introduces the list after it
    mean = sum(len(p) for p in paragraphs[:3]) / len(paragraphs[:3])
    return len(text) * MUCH_SHORTER <= mean


def text_blocks(text: str, first_line: int = 1) -> list[Block]:
    """Blocks of a plain-text article; paragraph lines are joined with single spaces."""
    raw: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate([*text.split("\n"), ""], start=first_line):
        if line.strip():
            if not current:
                start = number
            current.append(line.strip())
        elif current:
            raw.append((start, current))
            current = []
    blocks: list[Block] = []
    for i, (start, lines) in enumerate(raw):
        kind = heading_kind(lines[0]) if len(lines) == 1 else "text"
        if kind == "maybe":
            kind = "heading" if _decide(lines[0], [ls for _, ls in raw[i + 1 : i + 4]]) else "text"
        if kind == "heading":
            blocks.append(Block(" ".join(lines[0].split()), start, 1))
        else:
            blocks.append(Block(" ".join(lines), start))
    return blocks


def markdown_blocks(text: str, first_line: int = 1) -> list[Block]:
    """Top-level blocks of a Markdown article; paragraphs keep their Markdown source."""
    lines = text.split("\n")
    tokens = markdown().parse(text)
    blocks: list[Block] = []
    for i, token in enumerate(tokens):
        if token.level != 0 or token.nesting == -1 or token.map is None:
            continue
        begin, end = token.map
        if token.type == "heading_open":
            inline = tokens[i + 1]
            title = " ".join(inline.content.split())
            blocks.append(Block(title, begin + first_line, int(token.tag[1])))
            continue
        source = "\n".join(line.rstrip() for line in lines[begin:end]).strip("\n")
        if source.strip():
            blocks.append(Block(source, begin + first_line))
    return blocks
