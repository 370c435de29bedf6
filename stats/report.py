"""Build campaign reports and the all-campaigns overview from the rollup tables.

``campaign_report`` and ``overview`` are the one code path behind the CLI, the dashboard
and the demo. Both refresh the rollup first (folding only events that arrived since).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Link, LinkKind
from campaigns.variant_models import SubjectVariant, VariantRole
from delivery.models import Delivery, DeliveryKind
from stats import donation_figures, rollup
from stats.definitions import resend_position
from stats.figures import Bucket, CampaignReport, CampaignSummary, DropOff, Funnel, TopLink
from stats.models import StatsHourly, StatsLink, StatsTotal
from wildmail.core.clock import Clock, SystemClock
from wildmail.core.db import MAX_ROW_ID

TOP_LINKS = 10


class UnknownCampaign(LookupError):
    """No campaign has that slug (or id)."""


def find_campaign(session: Session, name: str | int) -> Campaign:
    """The campaign with this slug or numeric id, or raise :class:`UnknownCampaign`."""
    campaign = session.scalar(select(Campaign).where(Campaign.slug == str(name)))
    if campaign is None and str(name).isdigit() and int(name) <= MAX_ROW_ID:
        campaign = session.get(Campaign, int(name))
    if campaign is None:
        raise UnknownCampaign(f"no campaign named {name!r}")
    return campaign


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _emails(session: Session, campaign_id: int) -> dict[int, Funnel]:
    q = select(Email.position, Email.subject).where(Email.campaign_id == campaign_id).order_by(Email.position)
    funnels = {pos: Funnel(position=pos, subject=subject) for pos, subject in session.execute(q)}
    resends = (
        select(Email.position, SubjectVariant.subject)
        .join(SubjectVariant, SubjectVariant.email_id == Email.id)
        .where(Email.campaign_id == campaign_id, SubjectVariant.role == VariantRole.RESEND.value)
    )
    for pos, subject in session.execute(resends):
        funnels[resend_position(pos)] = Funnel(position=resend_position(pos), subject=f"resend: {subject}")
    return funnels


def _order(position: int) -> tuple[int, int]:
    """Email n, then its resend (position -n)."""
    return abs(position), int(position < 0)


def _fill(session: Session, campaign_id: int, funnels: dict[int, Funnel]) -> None:
    states: dict[int, dict[str, int]] = defaultdict(dict)
    q = (
        select(Delivery.position, Delivery.kind, Delivery.state, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.position, Delivery.kind, Delivery.state)
    )
    for pos, kind, state, n in session.execute(q):
        key = resend_position(pos) if kind == DeliveryKind.RESEND.value else pos
        states[key][state] = states[key].get(state, 0) + n
    metrics: dict[int, dict[str, int]] = defaultdict(dict)
    q2 = select(StatsTotal.position, StatsTotal.metric, StatsTotal.n).where(
        StatsTotal.campaign_id == campaign_id
    )
    for pos, metric, n in session.execute(q2):
        metrics[pos][metric] = n
    for pos in sorted(set(states) | set(metrics), key=_order):
        funnel = funnels.setdefault(pos, Funnel(position=pos, subject="(email removed)"))
        funnel.add_states(states.get(pos, {}))
        funnel.add_counters(metrics.get(pos, {}))


def _timeline(session: Session, campaign_id: int) -> tuple[list[Bucket], list[Bucket]]:
    hours: dict[int, dict[str, int]] = defaultdict(dict)
    q = select(StatsHourly.hour, StatsHourly.metric, StatsHourly.n).where(
        StatsHourly.campaign_id == campaign_id
    )
    for hour, metric, n in session.execute(q):
        hours[hour][metric] = n
    hourly = [
        Bucket(start=datetime.fromtimestamp(h * 3600, UTC), **hours[h])  # type: ignore[arg-type]
        for h in sorted(hours)
    ]
    days: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in hourly:
        day = b.start.replace(hour=0)
        for name in ("opens", "clicks", "donations", "unsubscribes"):
            days[day][name] += getattr(b, name)
    daily = [Bucket(start=day, **counts) for day, counts in sorted(days.items())]
    return hourly, daily


def _top_links(session: Session, campaign_id: int) -> list[TopLink]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    q = select(StatsLink.link_id, StatsLink.metric, StatsLink.n).where(StatsLink.campaign_id == campaign_id)
    for link_id, metric, n in session.execute(q):
        counts[link_id][metric] = n
    if not counts:
        return []
    q2 = (
        select(Link.id, Link.url, Link.kind, Link.label, Email.position)
        .join(Email, Email.id == Link.email_id)
        .where(Link.id.in_(list(counts)), Link.kind != LinkKind.HONEYPOT.value)
    )
    links = [
        TopLink(
            pos, lid, url, kind, label, counts[lid].get("click.human", 0), counts[lid].get("click.all", 0)
        )
        for lid, url, kind, label, pos in session.execute(q2)
    ]
    links.sort(key=lambda x: (-x.human_clicks, -x.all_clicks, x.position, x.link_id))
    return links[:TOP_LINKS]


def _dropoff(emails: list[Funnel]) -> list[DropOff]:
    if not emails:
        return []
    base = emails[0].delivered
    return [
        DropOff(
            f.position, f.delivered, f.human_openers, _share(f.delivered, base), _share(f.human_openers, base)
        )
        for f in emails
    ]


def campaign_report(engine: Engine, name: str | int, clock: Clock | None = None) -> CampaignReport:
    """Every figure for one campaign (by slug or id); raises :class:`UnknownCampaign`."""
    now = (clock or SystemClock()).now()
    rollup.refresh(engine, now)
    with Session(engine) as s:
        c = find_campaign(s, name)
        funnels = _emails(s, c.id)
        _fill(s, c.id, funnels)
        donation_figures.add_to_emails(s, c.id, funnels)
        emails = [funnels[p] for p in sorted(funnels, key=_order)]
        total = Funnel(position=0, subject="All emails")
        for f in emails:
            total.merge(f)
        hourly, daily = _timeline(s, c.id)
        return CampaignReport(
            campaign_id=c.id,
            slug=c.slug,
            title=c.title,
            status=c.status,
            mode=c.mode,
            track_identity=c.track_identity,
            generated_at=now,
            pause_reason=c.pause_reason,
            emails=emails,
            total=total,
            dropoff=_dropoff([f for f in emails if f.position > 0]),
            hourly=hourly,
            daily=daily,
            top_links=_top_links(s, c.id),
        )


def overview(engine: Engine, clock: Clock | None = None) -> list[CampaignSummary]:
    """A total funnel for every campaign, newest first."""
    rollup.refresh(engine, (clock or SystemClock()).now())
    with Session(engine) as s:
        campaigns = s.execute(select(Campaign.id, Campaign.slug, Campaign.title, Campaign.status)).all()
        counts = dict(
            s.execute(select(Email.campaign_id, func.count()).group_by(Email.campaign_id)).tuples().all()
        )
        states: dict[int, dict[str, int]] = defaultdict(dict)
        q = select(Delivery.campaign_id, Delivery.state, func.count()).group_by(
            Delivery.campaign_id, Delivery.state
        )
        for cid, state, n in s.execute(q):
            states[cid][state] = n
        metrics: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        q2 = select(StatsTotal.campaign_id, StatsTotal.metric, func.sum(StatsTotal.n)).group_by(
            StatsTotal.campaign_id, StatsTotal.metric
        )
        for cid, metric, n in s.execute(q2):
            metrics[cid][metric] = int(n)
        totals = {cid: Funnel(position=0, subject="All emails") for cid, *_ in campaigns}
        donation_figures.add_to_campaigns(s, totals)
    out = []
    for cid, slug, title, status in sorted(campaigns, key=lambda r: -r[0]):
        total = totals[cid]
        total.add_states(states.get(cid, {}))
        total.add_counters(metrics.get(cid, {}))
        out.append(CampaignSummary(cid, slug, title, status, counts.get(cid, 0), total))
    return out
