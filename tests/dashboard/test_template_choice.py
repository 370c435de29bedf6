"""The new-campaign form offers templates by name; a path (form field or article front matter) is a
form error, never rendered, over real HTTP (issue 14, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from tests.dashboard.conftest import csrf_of, log_in

NEW = "/dashboard/campaigns/new"
ARTICLE = "Intro paragraph.\n\n# Second\n\nMore text.\n"
ESCAPE = "<mjml><mj-body><mj-raw>{{ cycler.__init__.__globals__.os.mkdir('%s') }}</mj-raw></mj-body></mjml>"


def _create(client, name: str, article: str, **fields: str):
    token = csrf_of(client.get(NEW).text)
    return client.post(
        NEW,
        data={"csrf": token, "name": name, **fields},
        files={"article": ("cats.md", article.encode(), "text/markdown")},
        follow_redirects=False,
    )


def _campaigns(engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Campaign)) or 0)


def test_the_form_offers_the_template_names(client, users):
    log_in(client, users["marketer"])
    page = client.get(NEW).text
    assert '<select name="template">' in page
    assert '<option value="default">default</option>' in page
    assert '<option value="letter">letter</option>' in page


def test_a_chosen_name_renders_that_template(client, users, engine):
    log_in(client, users["marketer"])
    r = _create(client, "Cats", ARTICLE, template="letter")
    assert r.status_code == 303, r.text
    with Session(engine) as s:
        campaign = s.scalars(select(Campaign)).one()
        assert campaign.template == "letter"
    preview = client.get("/dashboard/campaigns/cats/emails/1/preview.html")
    assert preview.status_code == 200 and "Dear Alex," in preview.text


@pytest.mark.parametrize("where", ["front_matter", "form"])
def test_an_uploaded_template_path_never_runs(client, users, engine, tmp_path: Path, where):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.mjml.j2"
    evil.write_text(ESCAPE % marker, encoding="utf-8")
    log_in(client, users["marketer"])
    if where == "front_matter":
        r = _create(client, "Evil", f"---\ntitle: Cats\ntemplate: {evil}\n---\n{ARTICLE}")
        expected = f"cats.md:3: unknown template &#39;{evil}&#39;; available: default, letter"
    else:
        r = _create(client, "Evil", ARTICLE, template=str(evil))
        expected = f"unknown template &#39;{evil}&#39;; available: default, letter"
    assert r.status_code == 400, r.text
    assert expected in r.text and 'value="Evil"' in r.text
    assert not marker.exists() and _campaigns(engine) == 0


def test_server_files_are_not_revealed(client, users, engine):
    log_in(client, users["marketer"])
    errors = []
    for spec in ("/etc/shadow", "/etc/wildmail-no-such-file", "../../etc/shadow"):
        r = _create(client, "Probe", f"---\ntemplate: {spec}\n---\n{ARTICLE}")
        assert r.status_code == 400
        start = r.text.index("cats.md:2:")
        errors.append(r.text[start : r.text.index("<", start)].replace(spec, "X"))
    assert (
        errors[0]
        == errors[1]
        == errors[2]
        == "cats.md:2: unknown template &#39;X&#39;; available: default, letter"
    )
    assert _campaigns(engine) == 0
