"""An article's text -> a flat list of headings and paragraphs with their line numbers.

Plain text: blocks are separated by blank lines; a block is a heading when it is one
short line without end punctuation (leading/trailing Unicode spaces such as the
no-break space are ignored). Markdown: markdown-it's top-level blocks, ``#`` headings.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.markup import markdown

HEADING_MAX_CHARS = 80
HEADING_MAX_WORDS = 12
END_PUNCTUATION = ".!?:;,…"
CLOSERS = "\"'”’)»]"
LIST_MARKERS = ("- ", "* ", "• ", "+ ")


@dataclass(frozen=True)
class Block:
    """A heading (``level`` > 0) or a paragraph (``level`` == 0) at a 1-based line."""

    text: str
    line: int
    level: int = 0

    @property
    def is_heading(self) -> bool:
        return self.level > 0


def is_plain_heading(line: str) -> bool:
    """True for a short line without end punctuation that contains a letter."""
    words = line.split()
    if not words or len(words) > HEADING_MAX_WORDS:
        return False
    text = " ".join(words)
    if len(text) > HEADING_MAX_CHARS or text.startswith(LIST_MARKERS):
        return False
    if not any(c.isalpha() for c in text):
        return False
    return text.rstrip(CLOSERS)[-1:] not in END_PUNCTUATION


def text_blocks(text: str, first_line: int = 1) -> list[Block]:
    """Blocks of a plain-text article; paragraph lines are joined with single spaces."""
    blocks: list[Block] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate([*text.split("\n"), ""], start=first_line):
        if raw.strip():
            if not current:
                start = number
            current.append(raw.strip())
            continue
        if current:
            if len(current) == 1 and is_plain_heading(current[0]):
                blocks.append(Block(" ".join(current[0].split()), start, 1))
            else:
                blocks.append(Block(" ".join(current), start))
            current = []
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
