"""A campaign's public web archive: which campaigns are public, which emails are published.

Off by default: a marketer turns it on per campaign (``wildmail campaign archive SLUG --on``,
or the campaign page). A public campaign lists its *published* emails: those whose first
delivery was sent, or every email when ``archive_all_emails`` is set. The first send time is
the publication date; it is noted on the email (``Email.published_at``) the first time the
archive finds it, so later page views cost one indexed read per campaign.

Lookups take the slug a URL carries and answer None for anything not public, so a private
campaign looks exactly like a missing one. Slugs are checked for shape before any query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.images import MARKDOWN_IMAGE
from campaigns.models import Campaign, Email
from campaigns.preview import neutral_html
from campaigns.slugs import slugify
from delivery.lifecycle import get_campaign
from delivery.models import Delivery, DeliveryState
from subscribers.models import SubscriberList

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?")  # what campaigns.slugs.slugify makes
EMAIL_PART = re.compile(r"([1-9][0-9]{0,3})(?:-([a-z0-9-]{1,60}))?")  # "<position>-<email slug>"


@dataclass(frozen=True)
class ArchiveEmail:
    """One published email as the archive shows it."""

    id: int
    position: int
    stem: str  # "<position>-<email slug>", the last part of its URL
    subject: str
    title: str
    preheader: str
    published_at: datetime | None  # None: not sent yet, listed because the marketer chose all
    image: str  # its first picture (or the campaign's), an absolute http(s) URL; "" for none


@dataclass(frozen=True)
class PublicCampaign:
    """A public campaign with its published emails (oldest first)."""

    id: int
    slug: str
    title: str
    list_slug: str  # the list its subscribe form signs people up to ("" when it has none)
    list_name: str
    created_at: datetime
    emails: list[ArchiveEmail]


def set_archive(session: Session, name: str, public: bool, all_emails: bool | None = None) -> Campaign:
    """Make campaign ``name`` (name or slug) public in the archive or private again; ``all_emails``
    True lists every email, False only those sent (None keeps the current choice). Raises
    ``delivery.lifecycle.CampaignNotFound``."""
    campaign = get_campaign(session, name)
    campaign.archive_public = public
    if all_emails is not None:
        campaign.archive_all_emails = all_emails
    return campaign


def email_stem(email: Email) -> str:
    """``<position>-<slug of the title>``: the email's clean URL part."""
    return f"{email.position}-{slugify(email.title)[:60].strip('-') or 'email'}"


def first_picture(email: Email, campaign: Campaign) -> str:
    """The first http(s) picture of ``email``'s text, else the campaign's hero image, else ""."""
    for paragraph in email.paragraphs or []:
        for match in MARKDOWN_IMAGE.finditer(paragraph):
            url = match.group(3)
            if url.lower().startswith(("http://", "https://")):
                return url
    hero = campaign.hero_image or ""
    return hero if hero.lower().startswith(("http://", "https://")) else ""


def _note_published(session: Session, campaign: Campaign) -> None:
    """Set ``published_at`` on the emails whose first delivery has been sent since the last look."""
    waiting = [e for e in campaign.emails if e.published_at is None]
    if not waiting:
        return
    first_sent = select(Delivery.position, func.min(Delivery.sent_at)).where(
        Delivery.campaign_id == campaign.id,
        Delivery.position.in_([e.position for e in waiting]),
        Delivery.state == DeliveryState.SENT.value,
    )
    found = dict(session.execute(first_sent.group_by(Delivery.position)).tuples().all())
    for email in waiting:
        sent_at = found.get(email.position)
        if sent_at is not None:
            email.published_at = sent_at


def _public(session: Session, slug: str) -> Campaign | None:
    if not SLUG.fullmatch(slug):
        return None
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    return campaign if campaign is not None and campaign.archive_public else None


def _describe(session: Session, campaign: Campaign) -> PublicCampaign:
    _note_published(session, campaign)
    emails = [
        ArchiveEmail(
            id=e.id,
            position=e.position,
            stem=email_stem(e),
            subject=e.subject,
            title=e.title,
            preheader=e.preheader,
            published_at=e.published_at,
            image=first_picture(e, campaign),
        )
        for e in campaign.emails
        if e.compiled_html and (e.published_at is not None or campaign.archive_all_emails)
    ]
    listed = session.get(SubscriberList, campaign.list_id) if campaign.list_id is not None else None
    return PublicCampaign(
        id=campaign.id,
        slug=campaign.slug,
        title=campaign.public_title,
        list_slug=listed.slug if listed is not None else "",
        list_name=listed.name if listed is not None else "",
        created_at=campaign.created_at,
        emails=emails,
    )


def public_campaign(session: Session, slug: str) -> PublicCampaign | None:
    """The public campaign at ``slug`` with its published emails; None when there is no such
    campaign or it is not public. Notes new publication times (the caller commits)."""
    campaign = _public(session, slug)
    return _describe(session, campaign) if campaign is not None else None


def public_campaigns(session: Session) -> list[PublicCampaign]:
    """Every public campaign, newest first (the caller commits the publication times noted)."""
    query = select(Campaign).where(Campaign.archive_public.is_(True)).order_by(Campaign.created_at.desc())
    return [_describe(session, c) for c in session.scalars(query)]


def public_email(session: Session, slug: str, part: str) -> tuple[PublicCampaign, ArchiveEmail] | None:
    """The published email at ``/archive/<slug>/<part>`` (``part`` is ``<position>-<email slug>``;
    the slug may be stale after a title edit: the caller redirects to ``stem``); None otherwise."""
    matched = EMAIL_PART.fullmatch(part)
    if matched is None:
        return None
    found = public_campaign(session, slug)
    if found is None:
        return None
    position = int(matched.group(1))
    email = next((e for e in found.emails if e.position == position), None)
    return (found, email) if email is not None else None


def email_html(session: Session, email: ArchiveEmail, view_url: str) -> str | None:
    """The neutral web version of a published email (its "view in your browser" link: ``view_url``)."""
    row = session.get(Email, email.id)
    return neutral_html(row, view_url) if row is not None else None
