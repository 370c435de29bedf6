"""Compile one email: Jinja -> MJML -> HTML (mjml-python) -> CSS inlined -> plain-text part.

This runs once per email. The result keeps the placeholders of :mod:`campaigns.compiled`
(``%%WM_NAME%%``, ``%%WM_OPEN_URL%%``, ``%%WM_UNSUBSCRIBE_URL%%``, ``%%WM_LINK_<n>%%``) so
sending only fills in per-recipient values. Links are numbered in this order: links in the
body, then the donation button, then the invisible honeypot link. The donation ask must sit in
the optional donation block of both parts (see :mod:`campaigns.compiled`), so it can be left
out for donors; a template that puts it elsewhere is refused.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import css_inline
import mjml
from markupsafe import Markup

from campaigns import templates
from campaigns.compiled import UnbalancedBlock, donation_variants
from campaigns.markup import placeholder, render_paragraph, scaled
from campaigns.models import LinkKind

ENGINES = ("css-inline", "premailer")
MAX_HTML_BYTES = 100 * 1024
TEXT_WIDTH = 72


class RenderError(ValueError):
    """The email could not be compiled (bad engine, oversized HTML, MJML failure)."""


@dataclass(frozen=True)
class EmailContent:
    """What one email says."""

    position: int
    count: int
    title: str
    subject: str
    preheader: str
    paragraphs: list[str]
    reading_minutes: int = 1
    format: str = "text"  # "markdown" | "text"
    image_sizes: Mapping[str, Sequence[int]] = field(default_factory=dict)  # (width, height) by address
    view_url: str = ""  # the email's web version ("view in your browser"); "" leaves the link out


@dataclass(frozen=True)
class Branding:
    """Per-campaign and per-organisation parts of every email."""

    organisation: str
    postal_address: str
    campaign_title: str
    donation_url: str = ""
    donation_text: str = "Donate"
    honeypot_url: str = ""
    lang: str = "en"
    template: str = ""  # a template name (see campaigns.templates.available); "" is the default
    engine: str = "css-inline"
    template_dir: str = ""  # the operator's template folder (the template_dir setting), if any
    logo_url: str = ""  # shown in the header of the default template when set
    brand_colour: str = "#1d6b45"  # header band and button
    hero_image: str = ""  # front matter ``image``: shown on top of an email whose section has none
    hero_alt: str = ""  # front matter ``image_alt``
    metadata: dict[str, Any] = field(default_factory=dict)  # the article's own front matter keys


@dataclass(frozen=True)
class LinkSpec:
    """A tracked destination; becomes a ``Link`` row at ``position``."""

    position: int
    url: str
    kind: str
    label: str


@dataclass(frozen=True)
class RenderedEmail:
    html: str
    text: str
    links: list[LinkSpec] = field(default_factory=list)
    mjml: str = ""


def why_line(brand: Branding) -> str:
    """The footer sentence telling readers why they get this email."""
    return (
        f"You are receiving this because you signed up for news from {brand.organisation} "
        f"and joined the series \u201c{brand.campaign_title}\u201d."
    )


def wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap each line of ``text`` without breaking words or URLs."""
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) if line else ""
        for line in text.split("\n")
    )


def inline_css(html: str, engine: str) -> str:
    """Inline CSS with ``engine``, keeping ``<style>`` blocks for media queries."""
    if engine == "css-inline":
        inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
        return str(inliner.inline(html))
    if engine == "premailer":
        from premailer import Premailer

        out = Premailer(
            html,
            keep_style_tags=True,
            remove_classes=False,
            strip_important=False,
            disable_validation=True,
            allow_network=False,
            cssutils_logging_level=logging.CRITICAL,
        ).transform()
        text = str(out)
        return text if text.lower().startswith("<!doctype") else "<!doctype html>\n" + text
    raise RenderError(f"unknown render engine {engine!r}, expected one of {', '.join(ENGINES)}")


HERO_WIDTH = 600
LONE_IMAGE = re.compile(r"^\s*!\[([^\]]*)\]\(\s*<?(https?://[^)\s>]+)>?\s*\)\s*$", re.IGNORECASE)


def hero_of(content: EmailContent, brand: Branding) -> tuple[dict[str, Any] | None, int]:
    """The email's hero picture and how many leading paragraphs it takes from the body.

    A section that opens with a picture shows it as the hero, above the title; a section without
    any picture gets the campaign's (front matter ``image``); the rest have none.
    """
    first = LONE_IMAGE.match(content.paragraphs[0]) if content.paragraphs else None
    if content.format == "markdown" and first is not None:
        src, alt, skip = first.group(2), first.group(1), 1
    elif brand.hero_image and not (
        content.format == "markdown" and any("![" in p for p in content.paragraphs)
    ):
        src, alt, skip = brand.hero_image, brand.hero_alt, 0
    else:
        return None, 0
    size = scaled(content.image_sizes.get(src), HERO_WIDTH)
    return {"src": src, "alt": " ".join(alt.split()), "width": size[0] if size else HERO_WIDTH}, skip


def build_context(content: EmailContent, brand: Branding) -> tuple[dict[str, Any], list[LinkSpec]]:
    """Template variables and the email's tracked links."""
    links: list[LinkSpec] = []
    html_paragraphs: list[Markup] = []
    text_paragraphs: list[str] = []
    hero, skip = hero_of(content, brand)
    for source in content.paragraphs[skip:]:
        rendered = render_paragraph(source, content.format, len(links) + 1, content.image_sizes)
        links.extend(LinkSpec(f.position, f.url, LinkKind.CONTENT.value, f.label) for f in rendered.links)
        html_paragraphs.append(Markup(rendered.html))  # noqa: S704 - markdown-it output, raw HTML disabled
        text_paragraphs.append(wrap(rendered.text))
    donation: dict[str, str] | None = None
    if brand.donation_url:
        spec = LinkSpec(len(links) + 1, brand.donation_url, LinkKind.DONATION.value, brand.donation_text)
        links.append(spec)
        donation = {"href": placeholder(spec.position), "text": brand.donation_text}
    honeypot = LinkSpec(len(links) + 1, brand.honeypot_url, LinkKind.HONEYPOT.value, "")
    links.append(honeypot)
    listed = [
        {"position": link.position, "label": link.label, "href": placeholder(link.position)}
        for link in links
        if link.kind == LinkKind.CONTENT.value
    ]
    context: dict[str, Any] = {
        "lang": brand.lang,
        "hero": hero,
        "metadata": brand.metadata,
        "email": content,
        "brand": brand,
        "footer": {"why": why_line(brand)},
        "paragraphs": html_paragraphs,
        "paragraphs_text": text_paragraphs,
        "donation": donation,
        "links": listed,
        "honeypot_href": placeholder(honeypot.position),
    }
    return context, links


def check_donation_block(name: str, part: str, source: str, links: list[LinkSpec]) -> None:
    """Refuse a part whose donation blocks are unbalanced or whose donation link lies outside them."""
    try:
        _, without_ask = donation_variants(source)
    except UnbalancedBlock as exc:
        raise templates.TemplateProblem(name, f"{part}: {exc}") from None
    for link in links:
        if link.kind == LinkKind.DONATION.value and placeholder(link.position) in without_ask:
            raise templates.TemplateProblem(
                name,
                f"{part}: the donation link must sit between the WM_IF_DONATION and "
                "WM_END_DONATION markers (see templates/email/email.mjml.j2)",
            )


def render_email(content: EmailContent, brand: Branding) -> RenderedEmail:
    """Compile one email; raises TemplateProblem or RenderError with a clear message."""
    if brand.engine not in ENGINES:
        raise RenderError(f"unknown render engine {brand.engine!r}, expected one of {', '.join(ENGINES)}")
    search, name = templates.resolve(brand.template, brand.template_dir)
    context, links = build_context(content, brand)
    source = templates.render(search, name, context)
    templates.validate_mjml(source, f"{name} (rendered)")
    try:
        raw_html = mjml.mjml2html(source, fonts={})
    except Exception as exc:  # MRML reports malformed markup as a plain exception
        raise templates.TemplateProblem(name, f"MJML does not compile: {exc}") from None
    html = inline_css(raw_html, brand.engine)
    size = len(html.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise RenderError(f"email {content.position} HTML is {size // 1024} KB, the limit is 100 KB")
    text = templates.render(search, templates.TEXT_TEMPLATE, context)
    check_donation_block(name, "HTML", html, links)
    check_donation_block(templates.TEXT_TEMPLATE, "text", text, links)
    return RenderedEmail(html=html, text=text.strip() + "\n", links=links, mjml=source)
