"""Preview a campaign: every email personalised with sample values, written as files.

``.html`` and ``.txt`` come from here. MIME is built by the delivery package, so the
caller (the CLI) passes an ``.eml`` builder in; campaigns never imports delivery.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from campaigns.compiled import CompiledEmail, Recipient, compiled_email
from campaigns.compiling import web_version_url
from campaigns.models import Campaign, Email
from campaigns.slugs import slugify
from wildmail.core.settings import Settings

SAMPLE_NAME = "Alex"
# A transparent 1x1 GIF, so previews open offline without a tracking request.
SAMPLE_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


@dataclass(frozen=True)
class PreviewEmail:
    """One email as a sample subscriber would read it."""

    position: int
    stem: str  # file name without extension, e.g. "01-a-glimpse-into-the-past"
    subject: str
    preheader: str
    html: str
    text: str


def sample_recipient(email: Email, settings: Settings) -> Recipient:
    """Sample values: links go straight to their destinations, the pixel is inline."""
    return Recipient(
        name=SAMPLE_NAME,
        open_url=SAMPLE_PIXEL,
        unsubscribe_url=f"{settings.base_url}/u/preview",
        link_urls={link.position: link.url for link in email.links},
        view_url=web_version_url(email, settings),
    )


WEB_NAME = "friend"  # the greeting of the web version, which has no reader


def web_version(session: Session, email_id: int, view_url: str = "#") -> str | None:
    """The HTML of an email as anyone may read it in a browser (the per-email page and the public
    archive): a neutral greeting, links straight to their destinations (nothing is tracked), no
    open pixel, no unsubscribe address (it needs a reader); ``view_url``: where its own "view in
    your browser" link points. None when there is no such compiled email."""
    email = session.get(Email, email_id)
    if email is None or not email.compiled_html:
        return None
    return neutral_html(email, view_url)


def neutral_html(email: Email, view_url: str = "#") -> str:
    """:func:`web_version` of a compiled ``Email`` row."""
    recipient = Recipient(
        name=WEB_NAME,
        open_url=SAMPLE_PIXEL,
        unsubscribe_url="#",
        link_urls={link.position: link.url for link in email.links},
        view_url=view_url,
    )
    html_part, _text = personalise(compiled_email(email), recipient)
    return html_part


def fill_html(compiled: CompiledEmail, values: Mapping[str, str], ask_donation: bool = True) -> str:
    """The HTML part of ``compiled`` with raw placeholder ``values`` HTML-escaped and filled in."""
    escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
    return compiled.templates(ask_donation)[0].fill(escaped)


def personalise(compiled: CompiledEmail, recipient: Recipient) -> tuple[str, str]:
    """(html, text) as ``recipient`` reads them; values are HTML-escaped in the HTML part only and
    ``recipient.ask_donation`` False drops the donation blocks. (The worker splices QP-encoded
    bytes instead: ``delivery.qp_template``.)"""
    raw = recipient.values()
    text_template = compiled.templates(recipient.ask_donation)[1]
    return fill_html(compiled, raw, recipient.ask_donation), text_template.fill(raw)


def _stem(email: Email) -> str:
    return f"{email.position:02d}-{slugify(email.title)[:60] or 'email'}"


def preview_emails(campaign: Campaign, settings: Settings) -> list[PreviewEmail]:
    """Every email of ``campaign`` personalised with sample values."""
    out: list[PreviewEmail] = []
    for email in campaign.emails:
        html, text = personalise(compiled_email(email), sample_recipient(email, settings))
        out.append(PreviewEmail(email.position, _stem(email), email.subject, email.preheader, html, text))
    return out


EmlBuilder = Callable[[Email], bytes]
"""Builds the complete ``.eml`` of an email for the sample subscriber (given by the caller)."""


def write_preview(campaign: Campaign, settings: Settings, out_dir: Path) -> list[Path]:
    """Write ``NN-title.html`` and ``NN-title.txt`` per email into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in preview_emails(campaign, settings):
        html_path = out_dir / f"{item.stem}.html"
        text_path = out_dir / f"{item.stem}.txt"
        html_path.write_text(item.html, encoding="utf-8")
        text_path.write_text(item.text, encoding="utf-8")
        written += [html_path, text_path]
    return written


def write_eml_preview(campaign: Campaign, out_dir: Path, build_eml: EmlBuilder) -> list[Path]:
    """Write ``NN-title.eml`` per email with ``build_eml`` (the delivery package's MIME builder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for email in campaign.emails:
        path = out_dir / f"{_stem(email)}.eml"
        path.write_bytes(build_eml(email))
        written.append(path)
    return written
