"""``wildmail campaign split`` and ``create`` with HTML, .docx and rich Markdown articles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Link
from tests.campaigns.conftest import PictureServer
from tests.conftest import REPO

pytestmark = pytest.mark.postgres  # campaigns with the new columns on both backends
ARTICLES = REPO / "tests" / "corpus" / "articles"


def _copy(name: str, folder: Path, server: PictureServer) -> Path:
    """A corpus article in ``folder`` with its pictures served by the local picture server."""
    path = folder / name
    path.write_bytes(
        (ARTICLES / name).read_bytes().replace(b"https://example.org/", f"{server.url}/800x600.png?".encode())
    )
    return path


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("17-wordpress-post.html", "HTML (trafilatura)"),
        ("21-word-report.docx", "Word .docx (mammoth)"),
        ("13-rich-front-matter.md", "Markdown"),
        ("01-question-headings.txt", "plain text"),
    ],
)
def test_split_says_which_reader(run, cli_env, name, reader):
    path = cli_env / name
    shutil.copy(ARTICLES / name, path)
    result = run("campaign", "split", path)
    assert result.exit_code == 0, result.output
    assert f"read{path}as{reader}".replace(" ", "") in "".join(result.output.split())


def test_create_from_html_and_docx(run, cli_env, engine, picture_server):
    for name, slug in (("18-ghost-export.html", "storks"), ("22-word-core-title.docx", "saltmarsh")):
        result = run("campaign", "create", _copy(name, cli_env, picture_server), "--name", slug)
        assert result.exit_code == 0, result.output
        assert "read " in result.output and "created campaign" in result.output
    with Session(engine) as s:
        storks = s.scalar(select(Campaign).where(Campaign.slug == "storks"))
        assert storks is not None and storks.article_title == "The return of the white stork"
        assert [e.title for e in storks.emails][1:] == ["The first nest", "Where they go", "What next"]
        assert "Subscribe now" not in storks.source_text  # the page's chrome stayed behind
        marsh = s.scalar(select(Campaign).where(Campaign.slug == "saltmarsh"))
        assert marsh is not None and marsh.emails[0].subject == "Letting the sea back in"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("23-corrupt.docx", "the .docx file is damaged"),
        ("20-html-without-article.html", "no article found in this HTML page"),
    ],
)
def test_bad_html_and_docx_exit_2_and_write_nothing(run, cli_env, engine, name, message):
    path = cli_env / name
    shutil.copy(ARTICLES / name, path)
    for args in (("split", path), ("create", path, "--name", "Broken")):
        result = run("campaign", *args)
        assert result.exit_code == 2, result.output
        out = " ".join(result.output.split())
        assert f"{path}: {message}" in out and "Traceback" not in result.output
    with engine.connect() as conn:
        for table in (Campaign, Email, Link):
            assert conn.scalar(select(func.count()).select_from(table)) == 0


def test_docx_that_is_a_zip_without_a_document(run, cli_env):
    import zipfile

    path = cli_env / "empty.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a document")
    result = run("campaign", "split", path)
    assert result.exit_code == 2, result.output
    assert "the .docx file is damaged" in " ".join(result.output.split())


def test_internal_name_never_reaches_subscribers(run, cli_env, engine):
    path = cli_env / "notes.txt"
    path.write_text(
        "Wild bees need bare ground to nest in, and most gardens have none left.\n\n"
        "Leave a patch\n\nA square metre of bare, sunny soil is enough for a small colony.\n",
        encoding="utf-8",
    )
    result = run("campaign", "create", path, "--name", "Q3 internal push")
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        campaign = s.scalar(select(Campaign))
        assert campaign is not None and campaign.title == "Q3 internal push"
        assert campaign.public_title == "Notes"
        for email in campaign.emails:
            seen = " ".join([email.subject, email.preheader, email.compiled_html, email.compiled_text])
            assert "Q3 internal push" not in seen and "Q3" not in seen
        assert "\u201cNotes\u201d" in campaign.emails[0].compiled_text


def test_unknown_front_matter_is_kept_with_one_notice(run, cli_env, engine, picture_server):
    path = _copy("13-rich-front-matter.md", cli_env, picture_server)
    result = run("campaign", "create", path, "--name", "hogs", "--locale", "cy")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert out.count("kept as campaign metadata") == 1 and "species, habitat" in out
    with Session(engine) as s:
        campaign = s.scalar(select(Campaign))
        assert campaign is not None
        assert campaign.article_metadata == {
            "species": "Erinaceus europaeus",
            "habitat": "gardens and hedgerows",
        }
        assert campaign.locale == "cy"
        assert '<html lang="cy"' in campaign.emails[0].compiled_html
        assert "color-scheme" in campaign.emails[0].compiled_html


def test_bad_locale_names_the_key_and_line(run, cli_env):
    path = cli_env / "bad.md"
    path.write_text("---\ntitle: Bees\nlocale: not a language\n---\nSome text here.\n", encoding="utf-8")
    result = run("campaign", "split", path, "--json")
    assert result.exit_code == 2
    assert f"{path}:3: front matter 'locale' must be a language tag" in " ".join(result.output.split())


def test_split_json_is_unchanged_in_shape(run, cli_env):
    path = cli_env / "storks.html"
    shutil.copy(ARTICLES / "18-ghost-export.html", path)
    result = run("campaign", "split", path, "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["title"] == "The return of the white stork"
