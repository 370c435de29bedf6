"""Campaign use cases shared by the CLI and the dashboard (no typer/fastapi here).

Every function takes a SQLAlchemy ``Session`` (and ``Settings`` where rendering is
involved), flushes but never commits: the caller commits, so a failure writes nothing.
User mistakes raise :class:`CampaignError` (or ``ArticleError``/``TemplateProblem``, both
``ValueError``) with a message fit to show as is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from campaigns import templates
from campaigns.article import Article, ArticleError, parse_article_text, read_article_file
from campaigns.compiling import compile_campaign, compile_email
from campaigns.models import Campaign, CampaignMode, Email
from campaigns.render import ENGINES, RenderError
from campaigns.splitter import SeriesPlan, split_article
from campaigns.templates import TemplateProblem
from subscribers.models import SubscriberList
from wildmail.core.settings import Settings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WEEKDAY = "tue"
DEFAULT_HOUR = 9


class CampaignError(ValueError):
    """A user mistake about a campaign (bad option, duplicate name, refused action)."""


class CampaignNotFound(CampaignError):
    """No campaign has that name or slug."""


class CampaignInUse(CampaignError):
    """The campaign has deliveries, so it cannot be deleted."""


USER_ERRORS: tuple[type[ValueError], ...] = (ArticleError, TemplateProblem, RenderError, CampaignError)
"""Exceptions whose message is meant for the user (CLI exit code 2, a form error on the web)."""


@dataclass(frozen=True)
class CampaignOptions:
    """Options for a new campaign; ``None`` means front matter value, else the default."""

    name: str
    list_slug: str | None = None
    start: date | None = None
    weekday: str | None = None  # mon..sun
    hour: int | None = None
    timezone: str | None = None
    mode: str | None = None  # drip | broadcast
    donation_url: str | None = None
    donation_text: str | None = None
    engine: str | None = None  # css-inline | premailer
    template: str | None = None
    parts: int | None = None


def slugify(name: str) -> str:
    """'Amur Leopard 2026!' -> 'amur-leopard-2026' (ASCII, at most 100 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].strip("-")


def plan_file(path: Path | str, parts: int | None = None) -> SeriesPlan:
    """Read and split an article file without touching the database."""
    return split_article(read_article_file(path), parts=parts)


def _pick(given: Any, article: Article, key: str, default: Any) -> Any:
    if given is not None:
        return given
    return article.options.get(key, default)


def _campaign_fields(
    session: Session, settings: Settings, article: Article, o: CampaignOptions
) -> dict[str, Any]:
    name = " ".join(o.name.split())
    slug = slugify(name)
    if not slug:
        raise CampaignError("campaign name needs at least one letter or digit")
    if session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is not None:
        raise CampaignError(f"a campaign named {slug!r} already exists")
    mode = str(_pick(o.mode, article, "mode", CampaignMode.DRIP.value)).lower()
    if mode not in {m.value for m in CampaignMode}:
        raise CampaignError(f"mode must be drip or broadcast, got {mode!r}")
    weekday = str(_pick(o.weekday, article, "weekday", DEFAULT_WEEKDAY)).lower()[:3]
    if weekday not in WEEKDAYS:
        raise CampaignError(f"weekday must be one of {', '.join(WEEKDAYS)}, got {weekday!r}")
    hour = _pick(o.hour, article, "hour", DEFAULT_HOUR)
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise CampaignError(f"hour must be 0..23, got {hour!r}")
    zone = str(_pick(o.timezone, article, "timezone", settings.default_timezone))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignError(f"unknown time zone {zone!r}") from None
    engine = str(_pick(o.engine, article, "engine", ENGINES[0]))
    if engine not in ENGINES:
        raise CampaignError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    template = _template(settings, article, o.template)
    donation_url = str(_pick(o.donation_url, article, "donation_url", "")).strip()
    check_donation_url(donation_url)
    donation_text = " ".join(str(_pick(o.donation_text, article, "donation_text", "Donate")).split())
    list_id = None
    if o.list_slug:
        list_id = session.scalar(select(SubscriberList.id).where(SubscriberList.slug == o.list_slug))
        if list_id is None:
            raise CampaignError(f"no subscriber list {o.list_slug!r}")
    return {
        "slug": slug,
        "title": name,
        "mode": mode,
        "send_weekday": WEEKDAYS.index(weekday),
        "send_hour": hour,
        "timezone": zone,
        "render_engine": engine,
        "template": template,
        "donation_url": donation_url,
        "donation_text": donation_text or "Donate",
        "list_id": list_id,
        "start_date": o.start,
    }


def available_templates(settings: Settings) -> list[str]:
    """The email template names a campaign can use (shipped, plus the operator's ``template_dir``)."""
    return templates.available(settings.template_dir)


def _template(settings: Settings, article: Article, given: str | None) -> str:
    """The template name to store: ``given``, else the article's ``template:`` line, else default.

    Only a name is accepted; a bad one in the front matter is an article error on its line.
    """
    spec = given if given is not None else str(article.options.get("template", ""))
    try:
        templates.resolve(spec, settings.template_dir)
    except TemplateProblem as exc:
        if given is None and "template" in article.options:
            raise article.error("template", str(exc)) from None
        raise
    return templates.canonical(spec)


def check_donation_url(url: str) -> None:
    """Donation links must be absolute http(s) URLs without spaces."""
    if url and (not re.match(r"https?://[^\s/]+", url) or any(c.isspace() for c in url)):
        raise CampaignError(f"donation URL must be an absolute http(s) URL, got {url!r}")


def create_campaign(
    session: Session, settings: Settings, article: Article, options: CampaignOptions, now: datetime
) -> Campaign:
    """Split ``article``, store the campaign (status draft) and its compiled emails."""
    fields = _campaign_fields(session, settings, article, options)
    plan = split_article(article, title=fields["title"], parts=options.parts)
    campaign = Campaign(
        **fields,
        source_name=article.source,
        source_text=article.text,
        source_format=article.format,
        segment={},
        cadence_days=7,
        created_at=now,
        updated_at=now,
    )
    for planned in plan.emails:
        campaign.emails.append(
            Email(
                position=planned.position,
                title=planned.title,
                subject=planned.subject,
                preheader=planned.preheader,
                paragraphs=planned.paragraphs,
                word_count=planned.word_count,
                reading_minutes=planned.reading_minutes,
            )
        )
    compile_campaign(campaign, settings, now)
    session.add(campaign)
    session.flush()
    return campaign


def create_campaign_from_file(
    session: Session, settings: Settings, path: Path | str, options: CampaignOptions, now: datetime
) -> Campaign:
    """:func:`create_campaign` from an article file (Markdown by extension/front matter, else text)."""
    return create_campaign(session, settings, read_article_file(path), options, now)


def create_campaign_from_text(
    session: Session,
    settings: Settings,
    article_text: str,
    options: CampaignOptions,
    now: datetime,
    source_name: str = "pasted article",
    fmt: str = "auto",
) -> Campaign:
    """:func:`create_campaign` from text (e.g. a dashboard form); ``fmt``: auto, markdown or text."""
    return create_campaign(
        session, settings, parse_article_text(article_text, source_name, fmt), options, now
    )


def list_campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def get_campaign(session: Session, name: str) -> Campaign:
    """The campaign whose slug is ``name`` or ``slugify(name)``; raises :class:`CampaignNotFound`."""
    for slug in dict.fromkeys((name.strip(), slugify(name))):
        found = session.scalar(select(Campaign).where(Campaign.slug == slug))
        if found is not None:
            return found
    raise CampaignNotFound(f"no campaign named {name!r} (see 'wildmail campaign list')")


def get_email(campaign: Campaign, position: int) -> Email:
    """Email ``position`` (1-based) of a campaign; raises :class:`CampaignError` when absent."""
    for email in campaign.emails:
        if email.position == position:
            return email
    raise CampaignError(f"campaign {campaign.slug!r} has emails 1..{len(campaign.emails)}, not {position}")


def _one_line(value: str, field_name: str, limit: int) -> str:
    if "\r" in value or "\n" in value:
        raise CampaignError(f"{field_name} must be a single line")
    value = " ".join(value.split())
    if len(value) > limit:
        raise CampaignError(f"{field_name} is {len(value)} characters, the limit is {limit}")
    return value


def edit_email(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    position: int,
    *,
    subject: str | None = None,
    preheader: str | None = None,
    now: datetime | None = None,
) -> Email:
    """Change an email's subject and/or preheader and recompile it (links keep their ids)."""
    email = get_email(campaign, position)
    if subject is not None:
        subject = _one_line(subject, "subject", 300)
        if not subject:
            raise CampaignError("subject cannot be empty")
        email.subject = subject
    if preheader is not None:
        email.preheader = _one_line(preheader, "preheader", 300)
    now = now or datetime.now(UTC)
    compile_email(campaign, email, settings, now)
    campaign.updated_at = now
    session.flush()
    return email


def has_deliveries(session: Session, campaign_id: int) -> bool:
    """True once any delivery row (queued or sent) exists for the campaign."""
    row = session.execute(
        text("SELECT 1 FROM deliveries WHERE campaign_id = :cid LIMIT 1"), {"cid": campaign_id}
    ).first()
    return row is not None


def delete_campaign(session: Session, campaign: Campaign) -> None:
    """Delete a campaign with its emails and links; refused once anything was queued or sent."""
    if has_deliveries(session, campaign.id):
        raise CampaignInUse(
            f"campaign {campaign.slug!r} already has deliveries; pause it instead of deleting"
        )
    session.delete(campaign)
    session.flush()
