"""The campaign lifecycle, the one owner of it for the CLI and the dashboard.

Create (from a file or text), list, show, edit, delete, the timetable, schedule, pause, resume,
status and test send. It lives in ``delivery`` because schedule, resume, status and test send
need delivery, and delivery may import campaigns but not the reverse; the pure parts (article,
split, compile, templates, preview) stay in ``campaigns``.

Functions taking a ``Session`` flush but never commit: the caller commits, so a failure writes
nothing. Functions taking an ``Store`` run their own transaction. User mistakes raise
:class:`CampaignError` (or ``ArticleError``/``TemplateProblem``/``RenderError``, all
``ValueError``, together :data:`USER_ERRORS`) with a message fit to show as is.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from campaigns import templates
from campaigns.article import (
    LOCALE,
    Article,
    ArticleError,
    parse_article_text,
    read_article_bytes,
    read_article_file,
)
from campaigns.compiling import compile_campaign, compile_email
from campaigns.enrolment import enrol_members, first_sends
from campaigns.images import MediaStore, fetch, settle_images
from campaigns.markup import plain_text, text_as_markdown
from campaigns.models import Campaign, CampaignMode, CampaignStatus, Email, Enrolment, EnrolmentStatus
from campaigns.preview import PreviewEmail, preview_emails
from campaigns.render import ENGINES, RenderError
from campaigns.slugs import slugify
from campaigns.splitter import WORDS_PER_MINUTE, SeriesPlan, split_article
from campaigns.templates import TemplateProblem
from campaigns.timetable import zone
from delivery.alerts import relay_alerts
from delivery.compose import build_message
from delivery.enqueue import reschedule_overdue
from delivery.message import Sender, mailbox
from delivery.models import Delivery
from delivery.transport import Envelope, Transport
from subscribers.models import SubscriberList
from wildmail.core.db import is_sqlite, write_transaction
from wildmail.core.outbox import EventType, emit
from wildmail.core.settings import Settings
from wildmail.core.store import Store


class CampaignError(ValueError):
    """A user mistake about a campaign (bad option, duplicate name, refused action)."""


class CampaignNotFound(CampaignError):
    """No campaign has that name or slug."""


class CampaignInUse(CampaignError):
    """The campaign has deliveries, so it cannot be deleted."""


USER_ERRORS: tuple[type[ValueError], ...] = (ArticleError, TemplateProblem, RenderError, CampaignError)
"""Exceptions whose message is meant for the user (CLI exit code 2, a form error on the web)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WEEKDAY = "tue"
DEFAULT_HOUR = 9


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
    locale: str | None = None  # language of the emails (html lang), e.g. en or fr-CA


def plan_file(path: Path | str, parts: int | None = None) -> SeriesPlan:
    """Read and split an article file without touching the database."""
    return split_article(read_article_file(path), parts=parts)


def _pick(given: Any, article: Article, key: str, default: Any) -> Any:
    if given is not None:
        return given
    return article.options.get(key, default)


def _free_name(session: Session, given: str) -> tuple[str, str]:
    """``(name, slug)`` for a new campaign called ``given``; raises :class:`CampaignError` when it
    has no letter or digit or another campaign has that slug."""
    name = " ".join(given.split())
    slug = slugify(name)
    if not slug:
        raise CampaignError("campaign name needs at least one letter or digit")
    if session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is not None:
        raise CampaignError(f"a campaign named {slug!r} already exists")
    return name, slug


def _email(like: Any, paragraphs: list[str]) -> Email:
    """A new email row with ``like``'s position, titles and reading figures (a planned email or a
    stored one) and ``paragraphs``."""
    return Email(
        position=like.position,
        title=like.title,
        subject=like.subject,
        preheader=like.preheader,
        paragraphs=paragraphs,
        word_count=like.word_count,
        reading_minutes=like.reading_minutes,
    )


def _store_compiled(session: Session, settings: Settings, campaign: Campaign, now: datetime) -> None:
    """Add the new campaign, then compile its emails (their ids go into their web version links)."""
    session.add(campaign)
    session.flush()
    compile_campaign(campaign, settings, now)
    session.flush()


def _campaign_fields(
    session: Session, settings: Settings, article: Article, o: CampaignOptions
) -> dict[str, Any]:
    name, slug = _free_name(session, o.name)
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
    locale = str(_pick(o.locale, article, "locale", "")).strip()
    if locale and not LOCALE.match(locale):
        raise CampaignError(f"locale must be a language tag like en or fr-CA, got {locale!r}")
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
        "locale": locale,
        "logo_url": str(article.options.get("logo_url", "")),
        "brand_colour": str(article.options.get("brand_colour", "")),
        "organisation": str(article.options.get("organisation", "")),
        "hero_image": str(article.options.get("image", "")),
        "hero_alt": str(article.options.get("image_alt", "")),
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
    session: Session,
    settings: Settings,
    article: Article,
    options: CampaignOptions,
    now: datetime,
    notices: list[str] | None = None,
) -> Campaign:
    """Split ``article``, store the campaign (status draft) and its compiled emails.

    Its pictures are settled once (:mod:`campaigns.images`); what the user should know about them
    (a remote picture that could not be fetched) is added to ``notices``.
    """
    fields = _campaign_fields(session, settings, article, options)
    plan = split_article(article, parts=options.parts)
    extra = (fields["hero_image"], fields["logo_url"])
    store = MediaStore(settings.media_dir)
    get = functools.partial(fetch, allowed=settings.fetch_allowed_networks)
    per_email = [e.paragraphs for e in plan.emails]
    settled = settle_images(article, per_email, store, settings.base_url, extra, get)
    fields["hero_image"] = settled.extra.get(fields["hero_image"], "")
    fields["logo_url"] = settled.extra.get(fields["logo_url"], "")
    if notices is not None:
        notices.extend(settled.notices)
    campaign = Campaign(
        **fields,
        source_name=article.source,
        source_text=article.text,
        source_format=article.format,
        article_title=plan.title,
        article_metadata=dict(article.metadata),
        images=settled.sizes,
        segment={},
        cadence_days=7,
        created_at=now,
        updated_at=now,
    )
    for planned, paragraphs in zip(plan.emails, settled.paragraphs, strict=True):
        campaign.emails.append(_email(planned, paragraphs))
    _store_compiled(session, settings, campaign, now)
    return campaign


def create_campaign_from_file(
    session: Session, settings: Settings, path: Path | str, options: CampaignOptions, now: datetime
) -> Campaign:
    """:func:`create_campaign` from an article file (Markdown by extension/front matter, else text)."""
    return create_campaign(session, settings, read_article_file(path), options, now)


def create_campaign_from_bytes(
    session: Session,
    settings: Settings,
    file_name: str,
    data: bytes,
    options: CampaignOptions,
    now: datetime,
) -> Campaign:
    """:func:`create_campaign` from an uploaded file's name and bytes (any format the readers know)."""
    return create_campaign(session, settings, read_article_bytes(data, file_name), options, now)


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


BODY_MAX_CHARS = 100_000


def email_body(campaign: Campaign, email: Email) -> str:
    """The email's body as the editor shows it: its paragraphs with a blank line between them."""
    return "\n\n".join(email.paragraphs)


def _paragraphs(body: str) -> list[str]:
    if len(body) > BODY_MAX_CHARS:
        raise CampaignError(f"body is {len(body):,} characters, the limit is {BODY_MAX_CHARS:,}")
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text)]
    paragraphs = [p.rstrip() for p in paragraphs if p.strip()]
    if not paragraphs:
        raise CampaignError("body cannot be empty")
    return paragraphs


def _as_markdown(campaign: Campaign) -> None:
    """Turn a plain-text campaign's paragraphs into Markdown that renders the same (once)."""
    if campaign.source_format == "markdown":
        return
    for other in campaign.emails:
        other.paragraphs = [text_as_markdown(p) for p in other.paragraphs]
    campaign.source_format = "markdown"


def edit_email(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    position: int,
    *,
    subject: str | None = None,
    preheader: str | None = None,
    body: str | None = None,
    now: datetime | None = None,
) -> Email:
    """Change an email's subject, preheader and/or body (Markdown) and recompile it.

    Links keep their ids. Editing the body of a plain-text campaign first turns every email of it
    into Markdown that renders the same, so the body is Markdown from then on.
    """
    email = get_email(campaign, position)
    if subject is not None:
        subject = _one_line(subject, "subject", 300)
        if not subject:
            raise CampaignError("subject cannot be empty")
    if preheader is not None:
        preheader = _one_line(preheader, "preheader", 300)
    paragraphs = _paragraphs(body) if body is not None else None
    if subject is not None:
        email.subject = subject
    if preheader is not None:
        email.preheader = preheader
    if paragraphs is not None and paragraphs != list(email.paragraphs):
        _as_markdown(campaign)
        email.paragraphs = paragraphs
        words = sum(len(plain_text(p, "markdown").split()) for p in paragraphs)
        email.word_count = words
        email.reading_minutes = max(1, math.ceil(words / WORDS_PER_MINUTE))
    now = now or datetime.now(UTC)
    compile_email(campaign, email, settings, now)
    campaign.updated_at = now
    session.flush()
    return email


_COPIED_COLUMNS = (
    *("source_name", "source_text", "source_format", "list_id", "segment", "mode", "cadence_days"),
    *("send_weekday", "send_hour", "timezone", "donation_url", "donation_text", "template"),
    *("render_engine", "track_identity", "stop_donation_after_click", "grace_hours", "min_gap_hours"),
    *("article_title", "article_metadata", "locale", "logo_url", "brand_colour", "organisation"),
    *("hero_image", "hero_alt", "images"),
)


def duplicate_campaign(
    session: Session, settings: Settings, campaign: Campaign, name: str, now: datetime
) -> Campaign:
    """A new draft copy of ``campaign`` named ``name``: its emails as edited, its timetable and
    list, no start date, nothing enrolled or sent."""
    title, slug = _free_name(session, name)
    copied = {column: getattr(campaign, column) for column in _COPIED_COLUMNS}
    copy = Campaign(
        **copied,
        slug=slug,
        title=title,
        status=CampaignStatus.DRAFT.value,
        start_date=None,
        created_at=now,
        updated_at=now,
    )
    for email in campaign.emails:
        copy.emails.append(_email(email, list(email.paragraphs)))
    _store_compiled(session, settings, copy, now)
    return copy


def has_deliveries(session: Session, campaign_id: int) -> bool:
    """True once any delivery row (queued or sent) exists for the campaign."""
    return session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id).limit(1)) is not None


def delete_campaign(session: Session, campaign: Campaign) -> None:
    """Delete a campaign with its emails and links; refused once anything was queued or sent."""
    if has_deliveries(session, campaign.id):
        raise CampaignInUse(
            f"campaign {campaign.slug!r} already has deliveries; pause it instead of deleting"
        )
    session.delete(campaign)
    session.flush()


def email_preview(
    store: Store, settings: Settings, slug: str, position: int
) -> tuple[Campaign, Email, PreviewEmail]:
    """Email ``position`` of a campaign with its sample preview (objects detached, safe to read).

    Raises :class:`CampaignError` when the campaign or the email does not exist.
    """
    with store.session() as s:
        campaign = get_campaign(s, slug)
        email = get_email(campaign, position)
        if not email.compiled_html:
            raise CampaignError(f"email {position} of {campaign.slug!r} is not compiled yet")
        item = next(p for p in preview_emails(campaign, settings) if p.position == position)
        s.expunge_all()
    return campaign, email, item


def set_timetable(
    store: Store,
    slug: str,
    *,
    weekday: str,
    hour: str,
    timezone: str,
    mode: str,
    start: str = "",
    list_slug: str = "",
) -> None:
    """Change a draft campaign's timetable from form text; raises :class:`CampaignError` naming the field."""
    with write_transaction(store.engine) as s:
        campaign = get_campaign(s, slug)
        if campaign.status != CampaignStatus.DRAFT.value:
            raise CampaignError("the timetable can only be changed before the campaign starts")
        try:
            day, at_hour = int(weekday), int(hour)
        except ValueError:
            raise CampaignError("weekday and hour must be numbers") from None
        if not 0 <= day <= 6 or not 0 <= at_hour <= 23:
            raise CampaignError("hour must be 0..23 and weekday Monday..Sunday")
        zone = timezone.strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CampaignError(f"unknown time zone {zone!r} (use a name like Europe/Berlin)") from None
        if mode not in {m.value for m in CampaignMode}:
            raise CampaignError("mode must be drip or broadcast")
        start = start.strip()
        try:
            start_date = date.fromisoformat(start) if start else None
        except ValueError:
            raise CampaignError(f"start date {start!r} is not a date (YYYY-MM-DD)") from None
        list_id = None
        if list_slug:
            list_id = s.scalar(select(SubscriberList.id).where(SubscriberList.slug == list_slug))
            if list_id is None:
                raise CampaignError(f"no subscriber list {list_slug!r}")
        campaign.send_weekday, campaign.send_hour, campaign.timezone = day, at_hour, zone
        campaign.mode, campaign.start_date, campaign.list_id = mode, start_date, list_id
        campaign.updated_at = store.clock.now()


Start = datetime | date | None
"""When a campaign starts: ``None`` its own start day (else today) at the timetable's slots, a
``date`` the first slot on or after that day, a ``datetime`` (e.g. ``store.clock.now()``) email 1
due at that instant for everyone enrolled (an instant already past means at once)."""


@dataclass(frozen=True)
class SchedulePreview:
    """Who gets email 1 and when, before a campaign is scheduled (times in UTC)."""

    slug: str
    recipients: int
    first_send: datetime | None  # the earliest email 1 (None: nobody to send to)
    last_first_send: datetime | None  # the latest one (subscribers' time zones differ)
    at_once: bool  # email 1 is due at one instant for everyone
    weekday: int  # later emails: this weekday (Monday=0) ...
    hour: int  # ... at this local hour
    timezone: str  # the campaign's zone (a subscriber's own zone wins)
    title: str = ""  # the campaign's, for the dashboard's confirmation step
    list_name: str = ""  # the list email 1 goes to


def _check_schedulable(s: Session, c: Campaign, slug: str) -> None:
    if c.status in (CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value):
        raise CampaignError(f"campaign {slug!r} is already {c.status}")
    if c.status == CampaignStatus.FINISHED.value:
        raise CampaignError(f"campaign {slug!r} is finished")
    if c.list_id is None:
        raise CampaignError(f"campaign {slug!r} has no subscriber list")
    emails = s.execute(select(Email.position, Email.compiled_html).where(Email.campaign_id == c.id)).all()
    if not emails:
        raise CampaignError(f"campaign {slug!r} has no emails")
    missing = sorted(p for p, html in emails if not html)
    if missing:
        raise CampaignError(f"campaign {slug!r}: email(s) {missing} are not compiled yet")


def _apply_start(c: Campaign, start: Start, now: datetime) -> datetime | None:
    """Set the campaign's start day (and, for an instant, its weekday); the instant email 1 is due."""
    tz = zone(c.timezone)
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise CampaignError("a start time needs a time zone")
        first = max(start.astimezone(UTC), now)
        local = first.astimezone(tz)
        c.start_date = local.date()
        if c.cadence_days % 7 == 0:
            # Later emails keep the weekly rhythm from this first send, not the weekday chosen before.
            c.send_weekday = local.weekday()
        return first
    if isinstance(start, date):
        if start < now.astimezone(tz).date():
            raise CampaignError(f"start date {start.isoformat()} is in the past (use --now to start now)")
        c.start_date = start
        return None
    c.start_date = c.start_date or now.date()
    return None


def schedule_preview(store: Store, slug: str, start: Start = None) -> SchedulePreview:
    """What :func:`schedule_campaign` with the same ``start`` would do, changing nothing.

    Raises :class:`CampaignError` when the campaign could not be scheduled.
    """
    now = store.clock.now()
    with store.session() as s:
        c = get_campaign(s, slug)
        _check_schedulable(s, c, slug)
        list_name = s.scalar(select(SubscriberList.name).where(SubscriberList.id == c.list_id)) or ""
        s.expunge(c)  # the start is tried on a detached copy: nothing can be flushed
        first = _apply_start(c, start, now)
        due = first_sends(s, c, now, first)
    return SchedulePreview(
        slug=c.slug,
        recipients=sum(due.values()),
        first_send=min(due, default=None),
        last_first_send=max(due, default=None),
        at_once=first is not None,
        weekday=c.send_weekday,
        hour=c.send_hour,
        timezone=c.timezone,
        title=c.title,
        list_name=list_name,
    )


def schedule_campaign(store: Store, slug: str, start: Start = None) -> int:
    """Schedule a draft (or paused-before-start) campaign and enrol its list; returns enrolled count.

    ``start`` as in :data:`Start`: ``store.clock.now()`` makes email 1 due at once for everyone
    enrolled, later emails a cadence after that first send.
    """
    now = store.clock.now()
    if not is_sqlite(store.engine):
        # Fresh, committed statistics after a bulk import, so the bulk enrolment gets hash joins
        # (statistics gathered inside the enrolling transaction were not used by the planner).
        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE subscribers, list_memberships"))
            conn.commit()
    with write_transaction(store.engine) as s:
        c = get_campaign(s, slug)
        _check_schedulable(s, c, slug)
        first = _apply_start(c, start, now)
        c.status = CampaignStatus.SCHEDULED.value
        c.updated_at = now
        c.paused_at = None
        return enrol_members(s, c, now, first_send=first)


def pause_campaign(store: Store, slug: str) -> None:
    """Stop new deliveries; queued ones not yet claimed are held until resume."""
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        c = get_campaign(s, slug)
        if c.status not in (CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value):
            raise CampaignError(f"campaign {slug!r} is {c.status}, not running")
        c.status = CampaignStatus.PAUSED.value
        c.paused_at = now
        c.updated_at = now
        c.pause_reason = ""
        emit(s, EventType.CAMPAIGN_PAUSED, campaign_event(c, reason="paused by hand"), now)


def resume_campaign(store: Store, slug: str) -> int:
    """Continue each subscriber where they were, at their next slot (no burst of missed sends).

    Returns how many enrolments were moved to a later slot.
    """
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        c = get_campaign(s, slug)
        if c.status != CampaignStatus.PAUSED.value:
            raise CampaignError(f"campaign {slug!r} is {c.status}, not paused")
        c.status = CampaignStatus.RUNNING.value
        c.paused_at = None
        c.pause_reason = ""
        c.updated_at = now
        return reschedule_overdue(s, c, now, before=now)


@dataclass
class CampaignStatusReport:
    """What the ``status`` command and the dashboard show about a campaign's timetable."""

    slug: str
    status: str
    enrolments: dict[str, int] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    next_sends: list[tuple[datetime, int]] = field(default_factory=list)
    more_sends: int = 0  # send times after those in ``next_sends``
    more_people: int = 0  # subscribers due at them
    held: int = 0  # waiting for a free slot: another series mailed them within their list's cap
    cap_days: int = 0  # the list's frequency cap
    alerts: list[str] = field(default_factory=list)  # relay trouble (see delivery.alerts)
    pause_reason: str = ""  # why the campaign paused itself (its circuit breaker); '' otherwise


def campaign_status(store: Store, slug: str, upcoming: int | None = 5) -> CampaignStatusReport:
    """Enrolments by state and position, deliveries by state, the next ``upcoming`` send times
    (all when None; how many more there are otherwise) and relay alerts."""
    with store.session() as s:
        c = get_campaign(s, slug)
        report = CampaignStatusReport(slug=c.slug, status=c.status, pause_reason=c.pause_reason)
        mine = Enrolment.campaign_id == c.id
        for state, n in s.execute(
            select(Enrolment.status, func.count()).where(mine).group_by(Enrolment.status)
        ):
            report.enrolments[state] = n
        active = (mine, Enrolment.status == EnrolmentStatus.ACTIVE.value)
        rows = s.execute(
            select(Enrolment.next_position, func.count()).where(*active).group_by(Enrolment.next_position)
        )
        report.positions = {pos: n for pos, n in rows}
        report.held = s.scalar(select(func.count()).where(*active, Enrolment.held != "")) or 0
        if c.list_id is not None:
            report.cap_days = (
                s.scalar(select(SubscriberList.frequency_cap_days).where(SubscriberList.id == c.list_id)) or 0
            )
        rows = s.execute(
            select(Delivery.state, func.count()).where(Delivery.campaign_id == c.id).group_by(Delivery.state)
        )
        report.deliveries = {state: n for state, n in rows}
        sends = [
            (when, n)
            for when, n in s.execute(
                select(Enrolment.next_send_at, func.count())
                .where(*active, Enrolment.next_send_at.is_not(None))
                .group_by(Enrolment.next_send_at)
                .order_by(Enrolment.next_send_at)
            )
        ]
        shown = sends if upcoming is None else sends[:upcoming]
        report.next_sends = shown
        report.more_sends = len(sends) - len(shown)
        report.more_people = sum(n for _, n in sends[len(shown) :])
        campaign_id = c.id
    report.alerts = relay_alerts(store, campaign_id)
    return report


def test_send(
    store: Store,
    sender: Sender,
    slug: str,
    to: str | Sequence[str],
    transport: Transport,
    position: int | None = None,
) -> int:
    """Send every email of the campaign (or one position) to each address in ``to``, subject
    prefixed ``[TEST]``, each message with a Message-ID of its own.

    Nothing is recorded as a delivery; tracking URLs carry delivery id 0 (links redirect, nothing
    is recorded). Every address is checked before anything is sent. Returns messages sent.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise CampaignError("no address to send the test to")
    for address in recipients:
        mailbox("", address, "test address")  # raises HeaderInjection (a ValueError)
    with store.session() as s:
        c = get_campaign(s, slug)
        query = select(Email.id, Email.position).where(Email.campaign_id == c.id).order_by(Email.position)
        if position is not None:
            query = query.where(Email.position == position)
        emails = s.execute(query).all()
    if not emails:
        raise CampaignError(f"campaign {slug!r} has no email at position {position}")
    sent = 0
    try:
        for address in recipients:
            for email_id, _position in emails:
                data = build_message(store, sender, email_id, address, subject_prefix="[TEST] ")
                transport.send(Envelope(sender.address, address, data), lambda: True)
                sent += 1
    finally:
        transport.close()
    return sent


test_send.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def trip_breaker(session: Session, campaign: Campaign, reason: str, now: datetime) -> bool:
    """Pause a running or scheduled campaign for ``reason`` (its circuit breaker, see
    ``inbound.policy``), inside the caller's transaction; False when it was not running."""
    if campaign.status not in (CampaignStatus.RUNNING.value, CampaignStatus.SCHEDULED.value):
        return False
    campaign.status = CampaignStatus.PAUSED.value
    campaign.paused_at = now
    campaign.updated_at = now
    campaign.pause_reason = reason[:1000]
    emit(session, EventType.CAMPAIGN_PAUSED, campaign_event(campaign, reason=campaign.pause_reason), now)
    return True


def campaign_event(c: Campaign, **extra: Any) -> dict[str, Any]:
    """The data of a ``campaign.*`` event."""
    return {"campaign_id": c.id, "slug": c.slug, "title": c.title, "status": c.status, **extra}
