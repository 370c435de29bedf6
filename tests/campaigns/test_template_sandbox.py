"""Templates are chosen by name from the template folders and rendered in Jinja's sandbox;
article text is only ever data (issue 14, item 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns import templates
from campaigns.article import ArticleError
from campaigns.models import Campaign
from campaigns.render import Branding, EmailContent, render_email
from campaigns.templates import TemplateProblem
from delivery import lifecycle

CONTENT = EmailContent(1, 2, "Title", "Subject", "Preheader", ["A paragraph."], 1, "text")


def brand(**over: Any) -> Branding:
    return Branding("Wildlife Fund", "1 Test Lane", "Leopards", "https://give.example/", **over)


def escape_attempts(marker: Path) -> dict[str, str]:
    """Template sources that, unsandboxed, reach ``os`` (creating ``marker``) or Python internals."""
    expressions = {
        "globals": f"cycler.__init__.__globals__.os.mkdir('{marker}')",
        "mro": "''.__class__.__mro__[1].__subclasses__()",
        "format": "'{0.__class__.__mro__}'.format('')",
    }
    return {
        k: f"<mjml><mj-body><mj-raw>{{{{ {e} }}}}</mj-raw></mj-body></mjml>" for k, e in expressions.items()
    }


@pytest.mark.parametrize("attempt", ["globals", "mro", "format"])
def test_a_template_cannot_reach_python_internals(tmp_path: Path, attempt: str):
    marker = tmp_path / "ran"
    (tmp_path / "evil.mjml.j2").write_text(escape_attempts(marker)[attempt], encoding="utf-8")
    with pytest.raises(TemplateProblem, match=r"unsafe|not safe"):
        templates.render((str(tmp_path),), "evil.mjml.j2", {})
    assert not marker.exists()


def test_an_operator_template_renders_sandboxed(tmp_path: Path):
    marker = tmp_path / "ran"
    (tmp_path / "evil.mjml.j2").write_text(escape_attempts(marker)["globals"], encoding="utf-8")
    with pytest.raises(TemplateProblem, match="unsafe"):
        render_email(CONTENT, brand(template="evil", template_dir=str(tmp_path)))
    assert not marker.exists()


def test_by_name_selection_renders_the_letter_template():
    rendered = render_email(CONTENT, brand(template="letter"))
    assert "Dear %%WM_NAME%%," in rendered.html
    assert "Hello %%WM_NAME%%," not in rendered.html
    default = render_email(CONTENT, brand(template="default"))
    assert "Hello %%WM_NAME%%," in default.html and "Dear" not in default.html


def test_the_available_names_are_listed():
    assert templates.available() == ["default", "letter"]


def test_an_operator_folder_adds_names_and_overrides_layouts(tmp_path: Path):
    (tmp_path / "base.mjml.j2").write_text((templates.TEMPLATE_DIR / "base.mjml.j2").read_text() + "\n")
    (tmp_path / "appeal.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>Appeal: {{ email.title }}</mj-text></mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    (tmp_path / "not a name.mjml.j2").write_text("<mjml></mjml>", encoding="utf-8")
    assert templates.available(str(tmp_path)) == ["appeal", "default", "letter"]
    rendered = render_email(CONTENT, brand(template="appeal", template_dir=str(tmp_path)))
    assert "Appeal: Title" in rendered.html and "%%WM_UNSUBSCRIBE_URL%%" in rendered.html


@pytest.mark.parametrize(
    "spec",
    [
        "/etc/shadow",
        "/etc/no-such-file",
        "../email/letter",
        "..",
        "email/letter",
        "letter/",
        "./letter",
        "~/letter",
        "base",
        "nope",
        "letter.txt.j2",
        "C:\\letter",
    ],
)
def test_paths_and_unknown_names_are_refused_alike(spec: str):
    with pytest.raises(TemplateProblem) as info:
        templates.resolve(spec)
    assert str(info.value) == f"unknown template {spec!r}; available: default, letter"


def test_a_long_name_is_shortened_in_the_message():
    with pytest.raises(TemplateProblem) as info:
        templates.resolve("x" * 5000)
    assert str(info.value) == f"unknown template '{'x' * 197}...'; available: default, letter"


def test_an_existing_and_a_missing_server_file_give_the_same_message():
    messages = []
    for spec in ("/etc/shadow", "/etc/wildmail-no-such-file"):
        with pytest.raises(TemplateProblem) as info:
            render_email(CONTENT, brand(template=spec))
        messages.append(str(info.value).replace(spec, "X"))
    assert messages[0] == messages[1]


def test_the_template_named_in_a_stored_legacy_form_still_renders():
    assert "Dear %%WM_NAME%%," in render_email(CONTENT, brand(template="letter.mjml.j2")).html
    assert "Hello %%WM_NAME%%," in render_email(CONTENT, brand(template="")).html


JINJA_TEXT = "{{ 7*191 }} and {% if true %}yes{% endif %} and {# note #}"
ARTICLE = (
    "---\ntitle: Cats {{ 7*7 }}\n---\n"
    f"Intro: {JINJA_TEXT}\n\n# Range {{{{ 6*1117 }}}}\n\nHigh mountains {{% raw %}}.\n"
)


@pytest.mark.postgres
def test_jinja_syntax_in_article_text_is_shown_literally(ctx):
    opts = lifecycle.CampaignOptions(name="Jinja Cats")
    with ctx.session() as s:
        campaign = lifecycle.create_campaign_from_text(s, ctx.settings, ARTICLE, opts, ctx.clock.now())
        lifecycle.edit_email(
            s,
            ctx.settings,
            campaign,
            1,
            subject="Subject {{ 7*191 }}",
            preheader="Pre {% if 1 %}x{% endif %}",
        )
        s.commit()
        first, second = campaign.emails
        for part in (first.compiled_html, first.compiled_text):
            assert JINJA_TEXT.replace("{# note #}", "") in part.replace("{# note #}", "")
            assert "{# note #}" in part
            assert "1337" not in part and "yes and" not in part.replace("yes{% endif %} and", "")
        assert "Subject {{ 7*191 }}" in first.compiled_html
        assert "Pre {% if 1 %}x{% endif %}" in first.compiled_html
        assert "Range {{ 6*1117 }}" in second.compiled_html and "6702" not in second.compiled_html
        assert "High mountains {% raw %}." in second.compiled_text


def test_an_operator_folder_is_a_server_setting(ctx, tmp_path: Path):
    (tmp_path / "appeal.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>Appeal {{ email.title }}</mj-text></mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    settings = ctx.settings.with_overrides(template_dir=str(tmp_path))
    assert lifecycle.available_templates(settings) == ["appeal", "default", "letter"]
    assert lifecycle.available_templates(ctx.settings) == ["default", "letter"]
    with ctx.session() as s:
        opts = lifecycle.CampaignOptions(name="Appeal", template="appeal")
        campaign = lifecycle.create_campaign_from_text(s, settings, ARTICLE, opts, ctx.clock.now())
        assert campaign.template == "appeal" and "Appeal Cats" in campaign.emails[0].compiled_html
        with pytest.raises(TemplateProblem, match="unknown template 'appeal'; available: default, letter"):
            lifecycle.create_campaign_from_text(
                s,
                ctx.settings,
                ARTICLE,
                lifecycle.CampaignOptions(name="Other", template="appeal"),
                ctx.clock.now(),
            )


def test_a_missing_operator_folder_is_a_settings_error(ctx, tmp_path: Path):
    from wildmail.core.settings import SettingsError

    with pytest.raises(SettingsError, match=r"WILDMAIL_TEMPLATE_DIR: .* is not a directory"):
        ctx.settings.with_overrides(template_dir=str(tmp_path / "missing"))


def test_a_path_in_front_matter_is_an_article_error_with_the_line(ctx, tmp_path: Path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.mjml.j2"
    evil.write_text(escape_attempts(marker)["globals"], encoding="utf-8")
    article = f"---\ntitle: Cats\ntemplate: {evil}\n---\nIntro.\n\n# Two\n\nMore.\n"
    with ctx.session() as s, pytest.raises(ArticleError) as info:
        lifecycle.create_campaign_from_text(
            s, ctx.settings, article, lifecycle.CampaignOptions(name="Evil"), ctx.clock.now(), "cats.md"
        )
    assert str(info.value) == f"cats.md:3: unknown template {str(evil)!r}; available: default, letter"
    assert not marker.exists()
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Campaign)) == 0
