"""Property, for HTML and .docx articles: no paragraph lost, duplicated or reordered.

Generated articles hold prose with Markdown's special characters (``*``, ``_``, ``#``, ``[``, a
leading ``1.``), so a paragraph must come out as exactly one paragraph whose words are the
same. HTML goes through the HTML->Markdown step the HTML reader uses (trafilatura's choice of
the main article is pinned by the golden corpus instead); .docx goes through mammoth whole.
"""

from __future__ import annotations

import html
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.article import parse_article_text, read_article_file
from campaigns.html_markdown import html_to_markdown
from campaigns.markup import plain_text
from campaigns.splitter import split_article
from tests.corpus.make_docx import write

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé*_#[]`<>&!", min_size=1, max_size=9).filter(
    lambda w: any(c.isalpha() for c in w)
)
lead = st.sampled_from(["", "1. ", "- ", "# ", "> ", "2) "])
paragraph = st.tuples(lead, st.lists(word, min_size=3, max_size=25)).map(
    lambda t: t[0] + " ".join(t[1]).capitalize() + "."
)
heading = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=8), min_size=1, max_size=5).map(
    lambda ws: " ".join(ws).title()
)
section = st.tuples(heading, st.lists(paragraph, min_size=1, max_size=3))


def _words(texts: list[str]) -> list[str]:
    return [" ".join(t.split()) for t in texts]


@settings(max_examples=60, deadline=None)
@given(intro=st.lists(paragraph, min_size=1, max_size=3), sections=st.lists(section, max_size=5))
def test_html_round_trip(intro, sections):
    body = "".join(f"<p>{html.escape(p)}</p>" for p in intro)
    expected = list(intro)
    for title, paragraphs in sections:
        body += f"<h2>{html.escape(title)}</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        expected += paragraphs
    text = html_to_markdown(f"<html><body><article>{body}</article></body></html>")
    plan = split_article(parse_article_text(text, "generated.html", "markdown"))
    assert _words([plain_text(p, "markdown") for p in plan.paragraphs]) == _words(expected)
    assert [e.title for e in plan.emails[1:]] == [t for t, _ in sections]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(intro=st.lists(paragraph, min_size=1, max_size=3), sections=st.lists(section, max_size=4))
def test_docx_round_trip(tmp_path: Path, intro, sections):
    paras = [("", [(p, "")]) for p in intro]
    expected = list(intro)
    for title, paragraphs in sections:
        paras.append(("Heading1", [(title, "")]))
        paras += [("", [(p, "")]) for p in paragraphs]
        expected += paragraphs
    path = tmp_path / "generated.docx"
    write(path, paras)
    article = read_article_file(path)
    plan = split_article(article)
    assert article.reader == "docx"
    assert _words([plain_text(p, "markdown") for p in plan.paragraphs]) == _words(expected)
    assert [e.title for e in plan.emails[1:]] == [t for t, _ in sections]


plain_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
sentence_text = st.lists(plain_word, min_size=4, max_size=12).map(lambda ws: " ".join(ws).capitalize() + ".")
long_paragraph = st.lists(sentence_text, min_size=3, max_size=5).map(" ".join)
heading_words = st.lists(plain_word, min_size=1, max_size=5).map(" ".join)
STYLES = {
    "plain": lambda h, n: h.capitalize(),
    "question": lambda h, n: f"Why {h}?",
    "straight quotes": lambda h, n: f'"{h.capitalize()}"',
    "curly quotes": lambda h, n: f"\u201c{h.capitalize()}\u201d",
    "numbered": lambda h, n: f"{n}. {h.capitalize()}",
    "part": lambda h, n: f"Part {n}: {h.capitalize()}",
    "capitals": lambda h, n: f"{h} notes".upper() + ".",  # three letters at least: "OK." is prose
    "colon": lambda h, n: f"{h.capitalize()}:",
}
styled_section = st.tuples(
    st.sampled_from(sorted(STYLES)), heading_words, st.lists(long_paragraph, min_size=1, max_size=3)
)


@settings(max_examples=50, deadline=None)
@given(intro=st.lists(long_paragraph, max_size=2), sections=st.lists(styled_section, min_size=1, max_size=6))
def test_plain_text_heading_styles_round_trip(intro, sections):
    """Each heading style of the issue is a heading, and no paragraph is lost, merged or reordered."""
    blocks, expected, titles = list(intro), list(intro), []
    for n, (style, words, paragraphs) in enumerate(sections, start=1):
        title = STYLES[style](words, n)
        blocks.append(title)
        blocks += paragraphs
        expected += paragraphs
        titles.append(title)
    plan = split_article(parse_article_text("\n\n".join(blocks) + "\n", "styles.txt", "text"))
    assert plan.paragraphs == expected
    assert [e.title for e in plan.emails[1 if intro else 0 :]] == titles
