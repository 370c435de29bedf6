"""`wildmail campaign create` takes a template by name; paths are refused, nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign

ARTICLE = "Intro paragraph.\n\n# Second\n\nMore text.\n"
ESCAPE = "<mjml><mj-body><mj-raw>{{ cycler.__init__.__globals__.os.mkdir('%s') }}</mj-raw></mj-body></mjml>"


def _campaigns(engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Campaign)) or 0)


def _evil(cli_env: Path) -> tuple[Path, Path]:
    marker = cli_env / "ran"
    evil = cli_env / "evil.mjml.j2"
    evil.write_text(ESCAPE % marker, encoding="utf-8")
    return evil, marker


def test_create_with_a_template_name(run, cli_env, engine):
    path = cli_env / "cats.md"
    path.write_text(ARTICLE, encoding="utf-8")
    result = run("campaign", "create", path, "--name", "Cats", "--template", "letter")
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        campaign = s.scalars(select(Campaign)).one()
        assert campaign.template == "letter"
        assert "Dear %%WM_NAME%%," in campaign.emails[0].compiled_html
    assert "template letter" in run("campaign", "show", "cats").output


@pytest.mark.parametrize("kind", ["option", "front_matter"])
def test_a_template_path_is_refused_and_never_runs(run, cli_env, engine, kind):
    evil, marker = _evil(cli_env)
    path = cli_env / "cats.md"
    if kind == "option":
        path.write_text(ARTICLE, encoding="utf-8")
        result = run("campaign", "create", path, "--name", "Cats", "--template", evil)
        expected = f"unknown template {str(evil)!r}; available: default, letter"
    else:
        path.write_text(f"---\ntitle: Cats\ntemplate: {evil}\n---\n{ARTICLE}", encoding="utf-8")
        result = run("campaign", "create", path, "--name", "Cats")
        expected = f"{path}:3: unknown template {str(evil)!r}; available: default, letter"
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not marker.exists() and _campaigns(engine) == 0


@pytest.mark.parametrize("spec", ["/etc/shadow", "/etc/wildmail-no-such-file", "../email/letter", "/"])
def test_server_files_are_not_revealed(run, cli_env, engine, spec):
    path = cli_env / "cats.md"
    path.write_text(ARTICLE, encoding="utf-8")
    result = run("campaign", "create", path, "--name", "Cats", "--template", spec)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert f"unknown template {spec!r}; available: default, letter" in out
    assert out.replace(repr(spec), "X").strip() == "error: unknown template X; available: default, letter"
    assert _campaigns(engine) == 0
