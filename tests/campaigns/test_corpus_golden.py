"""Every article of the corpus (tests/corpus/articles, written for these tests) splits into its
golden series (tests/corpus/golden/<article>.json): reader, title, notices, and each email's
title, subject, preheader and paragraphs. A bad article's golden file holds its one-line error.

After a deliberate change of the rules, rewrite the golden files with
``WILDMAIL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/campaigns/test_corpus_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from campaigns.article import ArticleError, read_article_file
from campaigns.splitter import split_article

CORPUS = Path(__file__).parents[1] / "corpus"
ARTICLES = sorted(p for p in (CORPUS / "articles").iterdir() if p.is_file())
GOLDEN = CORPUS / "golden"


def series(path: Path) -> dict[str, Any]:
    """What the golden file holds for ``path``: the planned series, or the error."""
    source = f"articles/{path.name}"
    try:
        article = read_article_file(path)
        plan = split_article(article)
    except ArticleError as exc:
        return {"error": str(exc).replace(str(path), source)}
    return {
        "reader": article.reader,
        "title": plan.title,
        "notices": list(plan.notices),
        "metadata": plan.metadata,
        "emails": [
            {
                "title": e.title,
                "subject": e.subject,
                "preheader": e.preheader,
                "paragraphs": e.paragraphs,
            }
            for e in plan.emails
        ],
    }


def test_corpus_has_every_kind_of_article():
    suffixes = {p.suffix for p in ARTICLES}
    assert len(ARTICLES) >= 20
    assert {".txt", ".md", ".docx"} <= suffixes and suffixes & {".html", ".htm"}


@pytest.mark.parametrize("path", ARTICLES, ids=[p.name for p in ARTICLES])
def test_article_splits_into_its_golden_series(path: Path):
    got = series(path)
    golden = GOLDEN / f"{path.name}.json"
    if os.environ.get("WILDMAIL_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))
