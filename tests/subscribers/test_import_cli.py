"""``wildmail subscribers import`` on hostile files, through the real CLI and a real database:
unclosed quotes, non-UTF-8 files, standard input, unknown time zones; exit codes and reports."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from subscribers.models import Subscriber
from wildmail.cli import app
from wildmail.core.db import make_engine

pytestmark = pytest.mark.postgres

KEY = "import-cli-test-secret-key-not-for-production"


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "WILDMAIL_DATABASE_URL": db_url,
        "WILDMAIL_CONFIG": "/dev/null",
        "WILDMAIL_SECRET_KEY": KEY,
        "COLUMNS": "400",  # one report line per line, not wrapped to a terminal's width
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["subscribers", "list-create", "news", "--single-opt-in"]).exit_code == 0
    return values


def run(*args: str, code: int):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["subscribers", "import", *args, "--list", "news"])
    assert result.exit_code == code, (args, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def people(db_url: str) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return {s.email: (s.name, s.timezone) for s in session.scalars(select(Subscriber))}
    finally:
        engine.dispose()


def rejects_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def test_unclosed_quote_rejects_its_line_and_reads_the_swallowed_lines_again(env, tmp_path) -> None:
    source = tmp_path / "quotes.csv"
    source.write_text(
        'email,name\nada@example.org,"Ada\nbob@example.org,Bob\ncy@example.org,"Cy"\ndee@example.org,"Dee\n'
    )
    result = run(str(source), "--rejects", "rejects.csv", code=0)
    assert "4 rows read" in result.stdout and "2 new" in result.stdout and "2 rejected" in result.stdout
    assert (
        "  line 2: unclosed quote: the quoted field opened on this line runs on to line 4; "
        "the row is rejected and lines 3-4 read again as rows"
    ) in result.stderr.splitlines()
    assert "  line 5: unclosed quote: the quoted field opened on this line is never closed" in result.stderr
    assert people(env["WILDMAIL_DATABASE_URL"]) == {
        "bob@example.org": ("Bob", None),
        "cy@example.org": ("Cy", None),
    }
    rows = rejects_of(tmp_path / "rejects.csv")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("2", "ada@example.org", "Ada"),
        ("5", "dee@example.org", "Dee"),
    ]


def test_a_quoted_field_holding_a_line_break_is_one_valid_row(env, tmp_path) -> None:
    source = tmp_path / "notes.csv"
    text = 'email,name,note\nada@example.org,Ada,"first line\nsecond line"\nbob@example.org,Bob,x\n'
    source.write_text(text)
    result = run(str(source), code=0)
    assert "2 new" in result.stdout and "0 rejected" in result.stdout, result.stdout + result.stderr
    assert people(env["WILDMAIL_DATABASE_URL"]) == {
        "ada@example.org": ("Ada", None),
        "bob@example.org": ("Bob", None),
    }


def test_latin1_file_with_every_row_rejected_exits_2_and_imports_with_encoding(env, tmp_path) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes(b"email,name\nada@example.org,Jos\xe9\nbob@example.org,Ren\xe9e\n")
    result = run(str(source), code=2)
    assert "0 new" in result.stdout and "2 rejected" in result.stdout
    errors = result.stderr.splitlines()
    assert errors == [
        "  line 2: not UTF-8; save the file as UTF-8 or pass --encoding latin-1",
        "  line 3: not UTF-8; save the file as UTF-8 or pass --encoding latin-1",
        f"error: nothing imported from {source}: all 2 rows were rejected",
    ]
    assert people(env["WILDMAIL_DATABASE_URL"]) == {}
    assert "2 new" in run(str(source), "--encoding", "latin-1", code=0).stdout
    assert people(env["WILDMAIL_DATABASE_URL"]) == {
        "ada@example.org": ("José", None),
        "bob@example.org": ("Renée", None),
    }
    bad = run(str(source), "--encoding", "klingon", code=2)
    assert (
        bad.stderr.strip() == "error: --encoding: unknown encoding 'klingon' (try utf-8, latin-1 or cp1252)"
    )


def test_nothing_valid_exits_2_but_some_valid_exits_0(env, tmp_path) -> None:
    header_only = tmp_path / "empty.csv"
    header_only.write_text("email,name\n")
    result = run(str(header_only), code=2)
    assert result.stderr.strip() == f"error: nothing imported from {header_only}: it has a header but no rows"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("email\nnot-an-address\nada@example.org\n")
    dry = run(str(mixed), "--dry-run", code=0)
    assert "1 new" in dry.stdout and "1 rejected" in dry.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnot-an-address\n")
    assert "error: nothing would be imported" in run(str(bad), "--dry-run", code=2).stderr


def test_unknown_time_zone_is_a_warning_and_the_row_is_kept(env, tmp_path) -> None:
    source = tmp_path / "zones.csv"
    source.write_text("email,timezone\nada@example.org,Mars/Olympus\nbob@example.org,Europe/Paris\n")
    result = run(str(source), "--rejects", "rejects.csv", code=0)
    assert "2 new" in result.stdout and "0 rejected" in result.stdout
    assert "1 imported with a warning" in result.stdout
    message = "unknown time zone 'Mars/Olympus' ignored; the campaign's time zone applies"
    assert result.stderr.splitlines() == [f"  line 2: warning: {message}"]
    assert people(env["WILDMAIL_DATABASE_URL"]) == {
        "ada@example.org": ("", None),
        "bob@example.org": ("", "Europe/Paris"),
    }
    assert rejects_of(tmp_path / "rejects.csv") == [
        ["2", f"imported with a warning: {message}", "ada@example.org", "Mars/Olympus"]
    ]


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_import_from_a_pipe(env, tmp_path, name) -> None:
    data = b"email,name\nada@example.org,Ada\nnot-an-address,X\nbob@example.org,Bob\n"
    proc = subprocess.run(
        [sys.executable, "-m", "wildmail.cli", "subscribers", "import", name, "--list", "news"],
        input=data,
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "3 rows read" in out and "2 new" in out and "1 rejected" in out
    assert "line 3: invalid email address" in err
    assert set(people(env["WILDMAIL_DATABASE_URL"])) == {"ada@example.org", "bob@example.org"}
    everything_bad = subprocess.run(
        [sys.executable, "-m", "wildmail.cli", "subscribers", "import", name, "--list", "news"],
        input=b"email\nnope\n",
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert everything_bad.returncode == 2
    assert everything_bad.stderr.decode().splitlines()[-1].startswith("error: nothing imported from ")


@pytest.mark.parametrize(
    ("header", "row", "name"),
    [
        ("E-mail,First name,Last name", "ada@example.org,Ada,Lovelace", "Ada Lovelace"),
        ("email,first_name,last_name", "ada@example.org,Ada,", "Ada"),
        ("Email Address,FirstName,Surname", "ada@example.org, Ada , Lovelace ", "Ada Lovelace"),
        ("email,Given name,Family name", "ada@example.org,Ada,Lovelace", "Ada Lovelace"),
        ("email,Full Name,First name", "ada@example.org,Ada King,Ada", "Ada King"),
        ("email,Display-Name", "ada@example.org,Ada L.", "Ada L."),
    ],
)
def test_first_last_and_full_name_columns_become_the_name(env, tmp_path, header, row, name) -> None:
    source = tmp_path / "people.csv"
    source.write_text(f"{header}\n{row}\n")
    run(str(source), code=0)
    assert people(env["WILDMAIL_DATABASE_URL"]) == {"ada@example.org": (name, None)}


def test_rejects_are_written_beside_the_input_by_default(env, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "people.csv"
    source.write_text("email,timezone\nnot-an-address,UTC\nada@example.org,Mars/Olympus\n")
    result = run(str(source), code=0)
    beside = folder / "people.rejects.csv"
    assert f"written to {beside}" in result.stdout
    rows = rejects_of(beside)
    assert [r[0] for r in rows] == ["2", "3"] and "not-an-address" in rows[0]
    assert rows[1][1].startswith("imported with a warning: unknown time zone 'Mars/Olympus'")
    source.write_text("email\nbob@example.org\n")
    quiet = run(str(source), code=0)
    assert not beside.exists() and "written to" not in quiet.stdout  # nothing to report: no stale file
    source.write_text("email\nnot-an-address\nbob@example.org\n")
    run(str(source), "--no-rejects", code=0)
    assert not beside.exists()
