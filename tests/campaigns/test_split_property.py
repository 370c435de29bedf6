"""Property: for any generated article, the series' paragraphs are the article's paragraphs, in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.article import parse_article_bytes
from campaigns.splitter import split_article

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéü’", min_size=1, max_size=9)
sentence = st.lists(word, min_size=3, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph_words = st.lists(sentence, min_size=1, max_size=4).map(" ".join)
# A plain-text heading holds a letter (campaigns.blocks.is_plain_heading); a line of apostrophes
# alone is text, so the generator must not call it a heading.
heading = (
    st.lists(word, min_size=1, max_size=6)
    .map(lambda ws: " ".join(ws).title())
    .filter(lambda h: any(c.isalpha() for c in h))
)
section = st.tuples(heading, st.lists(paragraph_words, min_size=1, max_size=3))


def _wrap(paragraph: str, width: int) -> str:
    words, lines, line = paragraph.split(), [], []
    for w in words:
        line.append(w)
        if len(" ".join(line)) >= width:
            lines.append(" ".join(line))
            line = []
    if line:
        lines.append(" ".join(line))
    return "\n".join(lines)


@settings(max_examples=60, deadline=None)
@given(
    intro=st.lists(paragraph_words, max_size=3),
    sections=st.lists(section, max_size=6),
    crlf=st.booleans(),
    nbsp=st.booleans(),
    gap=st.integers(min_value=1, max_value=3),
    width=st.integers(min_value=20, max_value=200),
)
def test_plain_text_round_trip(intro, sections, crlf, nbsp, gap, width):
    if not intro and not sections:
        intro = ["Something to say."]
    blocks = [_wrap(p, width) for p in intro]
    expected = list(intro)
    for title, paragraphs in sections:
        blocks.append(("\u00a0" if nbsp else "") + title)
        blocks += [_wrap(p, width) for p in paragraphs]
        expected += paragraphs
    text = ("\n" * (gap + 1)).join(blocks) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    plan = split_article(parse_article_bytes(text.encode("utf-8"), "generated.txt", "text"))
    assert plan.paragraphs == expected
    assert len(plan.emails) == len(sections) + (1 if intro else 0)
    assert [e.title for e in plan.emails[-len(sections) :]] == [t for t, _ in sections] or not sections


@settings(max_examples=40, deadline=None)
@given(intro=st.lists(paragraph_words, max_size=2), sections=st.lists(section, min_size=1, max_size=5))
def test_markdown_round_trip(intro, sections):
    blocks = list(intro)
    expected = list(intro)
    for title, paragraphs in sections:
        blocks.append("# " + title)
        blocks += paragraphs
        expected += paragraphs
    text = "---\ntitle: Generated\n---\n" + "\n\n".join(blocks) + "\n"
    plan = split_article(parse_article_bytes(text.encode("utf-8"), "generated.md"))
    assert plan.paragraphs == expected
    assert [e.title for e in plan.emails[1 if intro else 0 :]] == [t for t, _ in sections]


@settings(max_examples=60, deadline=None)
@given(paragraphs=st.lists(paragraph_words, min_size=1, max_size=30), parts=st.integers(1, 8))
def test_headless_round_trip(paragraphs, parts):
    text = "\n\n".join(paragraphs) + "\n"
    plan = split_article(parse_article_bytes(text.encode("utf-8"), "generated.txt"), parts=parts)
    assert plan.paragraphs == paragraphs
    assert len(plan.emails) == min(parts, len(paragraphs))
    assert all(e.paragraphs for e in plan.emails)
