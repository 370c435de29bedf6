"""Compile a campaign's Email rows: store HTML/text with placeholders and their Link rows."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import object_session

from campaigns.models import Campaign, Email, Link
from campaigns.render import Branding, EmailContent, RenderedEmail, render_email
from campaigns.variant_models import SubjectVariant
from wildmail.core import tokens
from wildmail.core.settings import Settings, secret_key_problem


def branding(campaign: Campaign, settings: Settings) -> Branding:
    """The per-campaign parts of every email of ``campaign``."""
    return Branding(
        organisation=campaign.organisation or settings.organisation,
        postal_address=settings.postal_address,
        campaign_title=campaign.public_title,
        donation_url=campaign.donation_url,
        donation_text=campaign.donation_text or "Donate",
        honeypot_url=f"{settings.base_url}/",
        template=campaign.template,
        engine=campaign.render_engine,
        template_dir=settings.template_dir,
        lang=campaign.locale or settings.default_locale,
        logo_url=absolute(campaign.logo_url or settings.logo_url or "", settings.base_url),
        brand_colour=campaign.brand_colour or settings.brand_colour,
        hero_image=hero
        if (hero := campaign.hero_image or "").lower().startswith(("http://", "https://"))
        else "",
        hero_alt=campaign.hero_alt or "",
        metadata=dict(campaign.article_metadata or {}),
    )


def content(campaign: Campaign, email: Email, settings: Settings | None = None) -> EmailContent:
    """What ``email`` says, as the renderer wants it."""
    return EmailContent(
        position=email.position,
        count=len(campaign.emails),
        title=email.title,
        subject=email.subject,
        preheader=email.preheader,
        paragraphs=list(email.paragraphs),
        reading_minutes=email.reading_minutes,
        format=campaign.source_format or "text",
        image_sizes=dict(campaign.images or {}),
        view_url=VIEW_PLACEHOLDER if settings is not None and signs(settings) else "",
    )


# Filled per message: each delivery's own web version (``delivery.message``), the email's for
# test sends and previews; the link is left out when there is no usable key to sign it.
VIEW_PLACEHOLDER = "%%WM_VIEW_URL%%"


def signs(settings: Settings) -> bool:
    """Whether ``settings`` has a usable key to sign URLs with."""
    return bool(settings.secret_key) and not secret_key_problem(settings.secret_key)


def web_version_url(email: Email, settings: Settings) -> str:
    """The signed address of ``email``'s web version, or "" before it has an id or without a usable key."""
    if email.id is None or not signs(settings):
        return ""
    return tokens.view_url(settings.base_url, settings.secret, email.id)


def render_row(campaign: Campaign, email: Email, settings: Settings) -> RenderedEmail:
    """Render an Email row without storing anything."""
    return render_email(content(campaign, email, settings), branding(campaign, settings))


def compile_email(campaign: Campaign, email: Email, settings: Settings, now: datetime) -> None:
    """Render ``email`` and store the result; existing Link rows are updated in place (ids kept)."""
    rendered = render_row(campaign, email, settings)
    email.compiled_html = rendered.html
    email.compiled_text = rendered.text
    email.compiled_at = now
    existing = {link.position: link for link in email.links}
    for spec in rendered.links:
        link = existing.pop(spec.position, None)
        if link is None:
            email.links.append(
                Link(position=spec.position, url=spec.url, kind=spec.kind, label=spec.label[:300])
            )
        else:
            link.url, link.kind, link.label = spec.url, spec.kind, spec.label[:300]
    for stale in existing.values():
        email.links.remove(stale)
    _recompile_variants(campaign, email, settings, now)


def compile_variant(
    campaign: Campaign, email: Email, variant: SubjectVariant, settings: Settings, now: datetime
) -> None:
    """Render ``email`` with ``variant``'s subject and preheader and store it on the variant.

    Only the subject and preheader differ, so the links are the email's own: the parts refer to
    them by position (their addresses come from the ``Link`` rows when clicked); a template that
    numbered them differently is refused rather than sent with the wrong links."""
    said = dataclasses.replace(
        content(campaign, email, settings), subject=variant.subject, preheader=variant.preheader
    )
    rendered = render_email(said, branding(campaign, settings))
    if sorted((x.position, x.kind) for x in rendered.links) != sorted(
        (x.position, x.kind) for x in email.links
    ):
        raise ValueError(f"email {email.position}: the variant's links differ from the email's")
    variant.compiled_html, variant.compiled_text, variant.compiled_at = rendered.html, rendered.text, now


def _recompile_variants(campaign: Campaign, email: Email, settings: Settings, now: datetime) -> None:
    """Keep the email's subject variants in step with an edited body (none before it has an id)."""
    session = object_session(email)
    if session is None or email.id is None:
        return
    session.flush()
    for variant in session.scalars(select(SubjectVariant).where(SubjectVariant.email_id == email.id)):
        compile_variant(campaign, email, variant, settings, now)


def compile_campaign(campaign: Campaign, settings: Settings, now: datetime) -> None:
    """Compile every email of ``campaign`` (all or nothing: the first error propagates)."""
    for email in campaign.emails:
        compile_email(campaign, email, settings, now)


def absolute(url: str, base_url: str) -> str:
    """``url`` as mail clients need it: a path on this site (``/static/logo.png``) under ``base_url``."""
    return f"{base_url.rstrip('/')}{url}" if url.startswith("/") else url
