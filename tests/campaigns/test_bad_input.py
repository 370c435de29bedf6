"""Bad articles: a clear error naming file and line, exit code 2, nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from campaigns.models import Campaign, Email, Link

CASES = {
    "missing": (None, "file not found", None),
    "empty": (b"  \n\n \n", "article is empty", 1),
    "binary": (b"GIF89a\x01\x00\x00\x00\xff\n", "binary", 1),
    "latin1": ("First line.\n\nCaf\u00e9 au lait.\n".encode("latin-1"), "not UTF-8", 3),
    "heading_without_body": (
        b"Opening paragraph here.\n\nA Heading\n\nBody of it.\n\nLonely Heading\n\nNext Heading\n\nText.\n",
        "'Lonely Heading' has no text below it",
        7,
    ),
    "heading_at_end": (b"Opening paragraph.\n\nThe End\n", "'The End' has no text below it", 3),
    "huge": (b"Words words words.\n\n" * 262_144, "limit is 2 MB", 1),
    "bad_front_matter": (b"---\ntitle: ok\nparts: [1, 2\n---\nText.\n", "front matter does not parse", 3),
    "unclosed_front_matter": (b"---\ntitle: x\nText.\n", "never closed", 1),
    "bad_colour": (
        b"---\ntitle: x\nbrand_colour: red\n---\nText.\n",
        "'brand_colour' must be a hex colour",
        3,
    ),
    "markdown_empty_heading_body": (b"# One\n\ntext\n\n# Two\n", "'Two' has no text below it", 5),
}


def _write(cli_env, name: str, data: bytes | None):
    suffix = ".md" if name.startswith(("bad_", "unclosed", "markdown")) else ".txt"
    path = cli_env / f"{name}{suffix}"
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_reports_file_and_line(run, cli_env, case):
    data, message, line = CASES[case]
    path = _write(cli_env, case, data)
    result = run("campaign", "split", path, "--json")
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert message in out
    where = f"{path}:{line}" if line is not None else str(path)
    assert where in out
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", ["empty", "latin1", "heading_without_body", "bad_front_matter", "huge"])
def test_create_writes_nothing(run, cli_env, engine, case):
    data, message, _line = CASES[case]
    path = _write(cli_env, case, data)
    result = run("campaign", "create", path, "--name", "Broken")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    with engine.connect() as conn:
        for table in (Campaign, Email, Link):
            assert conn.scalar(select(func.count()).select_from(table)) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "weekly"], "mode must be drip or broadcast"),
        (["--weekday", "someday"], "weekday must be one of"),
        (["--hour", "25"], "hour must be 0..23"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--engine", "magic"], "engine must be one of"),
        (["--donation-url", "javascript:alert(1)"], "donation URL must be an absolute http(s) URL"),
        (
            ["--template", "no-such-template"],
            "unknown template 'no-such-template'; available: default, letter",
        ),
        (["--list", "nobody"], "no subscriber list 'nobody'"),
        (["--start", "next tuesday"], "--start: expected a date"),
    ],
)
def test_create_rejects_bad_options(run, cli_env, engine, seed_article, args, message):
    result = run("campaign", "create", seed_article, "--name", "Leopards", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Campaign)) == 0
