"""Rendering: both CSS engines, placeholders, links, honeypot, size, template errors and the operator's
template folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import templates
from campaigns.compiled import CompiledEmail, Recipient, Template
from campaigns.preview import personalise
from campaigns.render import ENGINES, MAX_HTML_BYTES, Branding, EmailContent, RenderError, render_email
from campaigns.templates import TemplateProblem
from tests.reference import fill

CONTENT = EmailContent(
    position=2,
    count=6,
    title="Who is <helping>",
    subject="Who is helping",
    preheader="Groups on both sides of the border.",
    paragraphs=[
        "Read about the [national park](https://park.example/en?a=1&b=2) and *why* it matters.",
        "- rangers\n- [cameras](https://cams.example/)",
        "A <script>alert(1)</script> attempt stays text.",
    ],
    reading_minutes=1,
    format="markdown",
)


def brand(**over) -> Branding:
    values: dict[str, Any] = {
        "organisation": "Wildlife Fund",
        "postal_address": "1 Test Lane, 00000 Testville",
        "campaign_title": "Amur leopard",
        "donation_url": "https://give.example/amur",
        "donation_text": "Give a leopard a forest",
        "honeypot_url": "http://testserver/",
    }
    values.update(over)
    return Branding(**values)


@pytest.mark.parametrize("engine", ENGINES)
def test_both_engines_produce_complete_inlined_html(engine):
    rendered = render_email(CONTENT, brand(engine=engine))
    html = rendered.html
    assert html.lower().startswith("<!doctype html>")
    assert 'lang="en"' in html
    for placeholder in ("%%WM_NAME%%", "%%WM_OPEN_URL%%", "%%WM_UNSUBSCRIBE_URL%%"):
        assert (placeholder in html and placeholder in rendered.text) or placeholder == "%%WM_OPEN_URL%%"
    for link in rendered.links:
        assert f'href="%%WM_LINK_{link.position}%%"' in html
    assert "park.example" not in html  # destinations live in Link rows only
    assert "Give a leopard a forest" in html
    assert "1 Test Lane, 00000 Testville" in html
    assert "You are receiving this because you signed up" in html
    assert "Who is &lt;helping&gt;" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<em>why</em>" in html
    assert "Groups on both sides of the border." in html  # preheader
    assert re.search(r"<a [^>]*href=\"%%WM_LINK_1%%\"[^>]*style=\"[^\"]*color", html), "CSS was not inlined"
    assert "@media" in html  # responsive rules kept in <style>
    assert len(html.encode()) < MAX_HTML_BYTES


def test_links_are_numbered_body_then_donation_then_honeypot():
    rendered = render_email(CONTENT, brand())
    assert [(link.position, link.kind, link.url) for link in rendered.links] == [
        (1, "content", "https://park.example/en?a=1&b=2"),
        (2, "content", "https://cams.example/"),
        (3, "donation", "https://give.example/amur"),
        (4, "honeypot", "http://testserver/"),
    ]
    assert rendered.links[0].label == "national park"


def test_honeypot_link_is_hidden_and_not_in_text_part():
    rendered = render_email(CONTENT, brand())
    anchor = re.search(r"<a [^>]*href=\"%%WM_LINK_4%%\"[^>]*>", rendered.html)
    assert anchor is not None
    tag = anchor.group(0)
    assert "display:none" in tag.replace(" ", "") and 'aria-hidden="true"' in tag and 'tabindex="-1"' in tag
    assert "%%WM_LINK_4%%" not in rendered.text


def test_open_pixel_has_empty_alt():
    html = render_email(CONTENT, brand()).html
    pixel = re.search(r"<img [^>]*src=\"%%WM_OPEN_URL%%\"[^>]*>", html)
    assert pixel is not None and 'alt=""' in pixel.group(0) and 'width="1"' in pixel.group(0)


def test_text_part_lists_links_and_reads_well():
    text = render_email(CONTENT, brand()).text
    assert text.startswith("Hello %%WM_NAME%%,")
    assert "national park [1]" in text
    assert "[1] national park: %%WM_LINK_1%%" in text
    assert "[2] cameras: %%WM_LINK_2%%" in text
    assert "Give a leopard a forest: %%WM_LINK_3%%" in text
    assert "Unsubscribe: %%WM_UNSUBSCRIBE_URL%%" in text
    assert not re.search(r"</?(p|a|em|ul|li|div|table)\b", text)
    assert max(len(line) for line in text.splitlines() if "%%" not in line) <= 80


def test_without_donation_url_there_is_no_button():
    rendered = render_email(CONTENT, brand(donation_url=""))
    assert [link.kind for link in rendered.links] == ["content", "content", "honeypot"]


def test_personalise_fills_every_placeholder():
    rendered = render_email(CONTENT, brand())
    compiled = CompiledEmail(1, 1, 2, "s", "p", rendered.html, rendered.text)
    assert compiled.placeholders == {
        "NAME",
        "OPEN_URL",
        "UNSUBSCRIBE_URL",
        "LINK_1",
        "LINK_2",
        "LINK_3",
        "LINK_4",
    }
    links = {link.position: f"http://t/c/{link.position}?x=1&y=2" for link in rendered.links}
    html, text = personalise(compiled, Recipient("Ana <b>", "http://t/o.gif", "http://t/u/1", links))
    assert "%%WM_" not in html and "%%WM_" not in text
    assert "Ana &lt;b&gt;" in html and "Hello Ana <b>," in text
    assert 'href="http://t/c/1?x=1&amp;y=2"' in html


def test_letter_template_override_by_name():
    rendered = render_email(CONTENT, brand(template="letter"))
    assert "Dear %%WM_NAME%%," in rendered.html


def test_the_operator_template_folder_overrides_the_default(tmp_path: Path):
    (tmp_path / "email.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>Custom {{ email.title }}</mj-text></mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    rendered = render_email(CONTENT, brand(template_dir=str(tmp_path)))
    assert "Custom Who is &lt;helping&gt;" in rendered.html
    assert "%%WM_UNSUBSCRIBE_URL%%" in rendered.html  # the default footer still applies


def _broken(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "broken.mjml.j2"
    path.write_text(body, encoding="utf-8")
    return path


def test_unknown_mjml_tag_names_template_and_line(tmp_path: Path):
    path = _broken(
        tmp_path,
        '{% extends "base.mjml.j2" %}\n{% block content %}\n<mj-section>\n  <mj-colum>\n'
        "  </mj-colum>\n</mj-section>\n{% endblock %}\n",
    )
    with pytest.raises(TemplateProblem) as info:
        render_email(CONTENT, brand(template="broken", template_dir=str(path.parent)))
    assert info.value.template == "broken.mjml.j2" and info.value.line == 4
    assert "unknown MJML tag <mj-colum>" in str(info.value)


def test_divider_padding_shorthand_is_refused(tmp_path: Path):
    path = _broken(tmp_path, '<mjml>\n<mj-body>\n<mj-divider padding="4px" />\n</mj-body>\n</mjml>\n')
    with pytest.raises(TemplateProblem) as info:
        render_email(CONTENT, brand(template="broken", template_dir=str(path.parent)))
    assert info.value.line == 3 and "padding-top" in str(info.value)


def test_jinja_syntax_error_names_template_and_line(tmp_path: Path):
    path = _broken(tmp_path, "<mjml>\n<mj-body>\n{% if email.title %}\n</mj-body>\n</mjml>\n")
    with pytest.raises(TemplateProblem) as info:
        render_email(CONTENT, brand(template="broken", template_dir=str(path.parent)))
    assert info.value.template == "broken.mjml.j2" and info.value.line is not None
    assert "broken.mjml.j2:" in str(info.value)


def test_jinja_undefined_variable_names_template_and_line(tmp_path: Path):
    path = _broken(
        tmp_path, "<mjml>\n<mj-body>\n<mj-raw>\n{{ email.no_such_field }}\n</mj-raw>\n</mj-body>\n</mjml>\n"
    )
    with pytest.raises(TemplateProblem) as info:
        render_email(CONTENT, brand(template="broken", template_dir=str(path.parent)))
    assert info.value.template == "broken.mjml.j2" and info.value.line == 4
    assert "no_such_field" in str(info.value)


def test_unknown_engine_and_oversized_html_are_errors():
    with pytest.raises(RenderError, match="unknown render engine"):
        render_email(CONTENT, brand(engine="magic"))
    huge = EmailContent(1, 1, "T", "S", "P", ["word " * 30_000], 1, "text")
    with pytest.raises(RenderError, match="limit is 100 KB"):
        render_email(huge, brand())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", templates.available())
def test_donation_ask_is_left_out_only_when_the_recipient_should_not_be_asked(engine, name):
    rendered = render_email(CONTENT, brand(engine=engine, template=name))
    assert "<!--%%WM_IF_DONATION%%-->" in rendered.html and "%%WM_IF_DONATION%%\n" in rendered.text
    compiled = CompiledEmail(1, 1, 2, "s", "p", rendered.html, rendered.text)
    assert compiled.has_donation_block
    links = {link.position: f"http://t/c/{link.position}" for link in rendered.links}
    donation = next(link.position for link in rendered.links if link.kind == "donation")
    person = Recipient("Ana", "http://t/o.gif", "http://t/u/1", links)
    asked = personalise(compiled, person)
    spared = personalise(
        compiled, Recipient("Ana", "http://t/o.gif", "http://t/u/1", links, ask_donation=False)
    )
    assert person.ask_donation is True  # the default keeps asking
    for html, text in (asked, spared):
        assert "%%WM_" not in html + text and "http://t/c/1" in html and "http://t/c/1" in text
        assert "http://t/u/1" in html and "You are receiving this because" in html
    assert f'href="http://t/c/{donation}"' in asked[0] and "Give a leopard a forest" in asked[0]
    assert f"Give a leopard a forest: http://t/c/{donation}" in asked[1]
    assert f"http://t/c/{donation}" not in spared[0] + spared[1]
    assert "Give a leopard a forest" not in spared[0] + spared[1]
    assert spared[0].count("<table") == spared[0].count("</table>")  # the cut keeps the markup whole
    assert spared[1] == asked[1].replace(f"Give a leopard a forest: http://t/c/{donation}\n\n", "")


def test_an_email_without_donation_url_is_the_same_either_way():
    rendered = render_email(CONTENT, brand(donation_url=""))
    compiled = CompiledEmail(1, 1, 2, "s", "p", rendered.html, rendered.text)
    assert not compiled.has_donation_block and compiled.parts(True) == compiled.parts(False)


def test_a_donation_button_outside_the_block_is_refused(tmp_path: Path):
    (tmp_path / "email.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        '<mj-button href="{{ donation.href }}">{{ donation.text }}</mj-button>'
        "</mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    with pytest.raises(TemplateProblem, match="donation link must sit between"):
        render_email(CONTENT, brand(template_dir=str(tmp_path)))


def test_an_unclosed_donation_block_is_refused(tmp_path: Path):
    (tmp_path / "email.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}{% block content %}<mj-raw><!--%%WM_IF_DONATION%%--></mj-raw>'
        '<mj-section><mj-column><mj-button href="{{ donation.href }}">Give</mj-button>'
        "</mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    with pytest.raises(TemplateProblem, match="unbalanced"):
        render_email(CONTENT, brand(template_dir=str(tmp_path)))


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(["a", "%", "%%WM_NAME%%", "%%WM_LINK_1%%", "WM_", "\n"])).map("".join))
def test_template_cuts_at_every_placeholder_and_fills_back(text):
    template = Template.parse(text)
    assert len(template.literals) == len(template.names) + 1
    assert template.fill({name: f"%%WM_{name}%%" for name in template.names}) == text
    values = {name: f"<{name.lower()}> & %%WM_X%%" for name in template.names}
    assert template.fill(values) == fill(text, values)
