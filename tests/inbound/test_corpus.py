"""The corpus (tests/inbound/corpus, written from the documented formats): every message read as
expected, by the parser and through ``wildmail inbound process``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inbound.parse import read_message
from wildmail.cli import app

CORPUS = Path(__file__).parent / "corpus"


def _expected() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in (CORPUS / "expected.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, source, kind, recipient = ([*line.split("\t"), ""])[:4]
            rows.append((name, source, kind, recipient))
    return rows


def test_the_corpus_covers_the_sources_and_kinds() -> None:
    rows = _expected()
    assert len(rows) >= 30
    assert {r[0] for r in rows} == {p.name for p in CORPUS.glob("*.eml")}
    sources = Counter(r[1] for r in rows)
    for source in ("Postfix", "Exim", "Exchange", "Gmail", "Yahoo", "SES", "Postmark"):
        assert sources[source] >= 2, source
    kinds = Counter(r[2] for r in rows)
    assert {"hard", "soft", "block", "delay", "complaint", "auto_reply", "unknown"} <= set(kinds)


@pytest.mark.parametrize("row", _expected(), ids=lambda r: r[0])
def test_each_message_reads_as_expected(row: tuple[str, str, str, str]) -> None:
    name, _source, kind, recipient = row
    finding = read_message((CORPUS / name).read_bytes()).findings[0]
    assert (finding.kind.value, finding.recipient) == (kind, recipient)


def test_inbound_process_classifies_every_corpus_message(db_url, monkeypatch) -> None:
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "test-secret-key-not-for-production")
    rows = _expected()
    files = [str(CORPUS / r[0]) for r in rows]
    result = CliRunner().invoke(app, ["inbound", "process", *files])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(rows)
    for (name, _source, kind, _recipient), line in zip(rows, lines, strict=True):
        label, _, rest = line.partition(": ")
        assert label.endswith(name) and rest.split()[0] == kind, line
        # None of these is about a delivery of this (empty) database: nothing may change.
        assert rest.split()[1] == "ignored", line
