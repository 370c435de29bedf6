"""Splitting articles into series: the seed, the sample, plain-text quirks, headless articles."""

from __future__ import annotations

import pytest

from campaigns.article import parse_article_text, read_article_file
from campaigns.splitter import PREHEADER_MAX, balanced_cuts, split_article, trim_words
from tests.campaigns.conftest import SAMPLE

SEED_SECTIONS = [
    "Where the leopard used to live",
    "What went wrong",
    "How many are left",
    "Who is helping",
    "Why we still have hope",
]


def _seed_paragraphs(text: str) -> list[str]:
    blocks = [" ".join(b.split()) for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return [b for b in blocks if b not in SEED_SECTIONS]


def test_seed_gives_opening_and_five_sections(seed_article):
    plan = split_article(read_article_file(seed_article))
    assert len(plan.emails) == 6
    assert [e.title for e in plan.emails[1:]] == SEED_SECTIONS
    assert [e.position for e in plan.emails] == [1, 2, 3, 4, 5, 6]
    opening = plan.emails[0]
    assert opening.paragraphs[0].startswith("Few people ever see")
    assert len(plan.emails[-1].paragraphs) == 2  # the closing paragraphs stay with the last section
    assert plan.paragraphs == _seed_paragraphs(seed_article.read_text(encoding="utf-8"))
    for email in plan.emails:
        assert email.subject == email.title
        assert 0 < len(email.preheader) <= PREHEADER_MAX
        assert email.word_count == sum(len(p.split()) for p in email.paragraphs)
        assert email.reading_minutes >= 1


def test_seed_with_crlf_and_curly_quotes_splits_the_same(seed_article):
    raw = seed_article.read_text(encoding="utf-8")
    curly = raw.replace("'", "\u2019")
    data = curly.replace("\n", "\r\n").encode("utf-8")
    from campaigns.article import parse_article_bytes

    plan = split_article(parse_article_bytes(data, "seed-crlf.txt"))
    assert [e.title for e in plan.emails[1:]] == SEED_SECTIONS
    assert all("\r" not in p for p in plan.paragraphs)
    assert "Russia\u2019s" in plan.emails[0].paragraphs[0]


def test_no_break_space_heading_is_a_heading():
    text = "Opening words here.\n\n\u00a0Current Status\n\nThere are few left.\n"
    plan = split_article(parse_article_text(text, "x.txt"))
    assert [e.title for e in plan.emails] == ["X", "Current Status"]


def test_sample_article_is_a_sensible_series():
    article = read_article_file(SAMPLE)
    assert article.format == "markdown"
    plan = split_article(article)
    assert plan.title == "Six weeks with the Amur leopard"
    assert 5 <= len(plan.emails) <= 7
    assert plan.emails[0].title == plan.title
    assert all(e.word_count >= 40 for e in plan.emails)
    assert any("- wild boar," in p for p in plan.paragraphs)  # a Markdown list stays one block
    assert plan.emails[0].preheader == "Few people ever see an Amur leopard."
    assert "*" not in plan.emails[0].preheader


def test_markdown_title_heading_and_subsections():
    text = "# The Title\n\nIntro text.\n\n## One\n\nFirst.\n\n### Detail\n\nMore.\n\n## Two\n\nSecond.\n"
    plan = split_article(parse_article_text(text, "t.md"))
    assert plan.title == "The Title"
    assert [e.title for e in plan.emails] == ["The Title", "One", "Two"]
    assert plan.emails[1].paragraphs == ["First.", "### Detail", "More."]


def test_article_without_headings_splits_into_similar_parts():
    paragraphs = [f"Paragraph number {i} says something useful. " * (3 + i % 4) for i in range(24)]
    paragraphs = [" ".join(p.split()) for p in paragraphs]
    text = "\n\n".join(paragraphs) + "\n"
    plan = split_article(parse_article_text(text, "long-read.txt"), parts=4)
    assert len(plan.emails) == 4
    assert plan.paragraphs == paragraphs
    counts = [e.word_count for e in plan.emails]
    assert max(counts) <= 1.5 * min(counts)
    assert [e.subject for e in plan.emails] == [f"Long read ({i}/4)" for i in range(1, 5)]
    assert plan.emails[2].title == "Part 3 of 4"


def test_headless_default_part_count_follows_length():
    short = parse_article_text("Just one short paragraph.\n\nAnd another one.\n", "note.txt")
    plan = split_article(short)
    assert len(plan.emails) == 1 and plan.emails[0].subject == "Note"


def test_front_matter_parts_option():
    text = "---\nparts: 2\ntitle: Notes\n---\nOne sentence here.\n\nTwo sentence here.\n\nThree here.\n"
    plan = split_article(parse_article_text(text, "n.md"))
    assert len(plan.emails) == 2
    assert plan.emails[0].subject == "Notes (1/2)"


def test_preheader_is_trimmed_on_a_word_boundary():
    long_sentence = "Leopards " + "roam across wide snowy forests " * 10 + "today."
    plan = split_article(parse_article_text(long_sentence + " Second sentence.\n", "p.txt"))
    pre = plan.emails[0].preheader
    assert len(pre) <= PREHEADER_MAX and pre.endswith("…")
    assert long_sentence.startswith(pre[:-1])
    assert pre[:-1].split()[-1] in long_sentence.split()


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 10, "short"), ("one two three four", 12, "one two…"), ("abcdefghijkl", 6, "abcde…")],
)
def test_trim_words(text, limit, expected):
    assert trim_words(text, limit) == expected


def test_balanced_cuts_make_every_part_non_empty():
    assert balanced_cuts([1] * 10, 3) == [3, 7]
    assert balanced_cuts([100, 1, 1, 1], 3) == [1, 2]
    assert balanced_cuts([5, 5], 5) == [1]
