"""Figures for send-time optimisation (the A/B halves) and sunset (per campaign and list).

STO halves: the campaign's deliveries queued since STO was switched on (``Campaign.sto_since``),
split by the half recorded on the person's enrolment (``sto`` moves, ``control`` keeps the
campaign's hour); delivered, human openers and human clickers per half come from the rollup's
per-delivery bits (:mod:`stats.rollup`, so machine opens and bot clicks never count), and the
rates are over delivered. Sunset: the re-engagement episodes counted against each campaign (the
campaign of the person's last silent delivery), by how they ended.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Enrolment
from delivery.models import Delivery
from stats import definitions as d
from stats import rollup
from stats.figures import rate
from stats.models import StatsMark
from subscribers.models import SubscriberList
from subscribers.queries import inactive_counts
from tracking.engagement_models import Reengagement, ReengagementState
from tracking.sendtime import CONTROL, STO
from wildmail.core.store import Store


@dataclass
class Half:
    """One A/B half of a campaign with STO."""

    arm: str
    people: int = 0
    delivered: int = 0
    human_openers: int = 0
    human_clickers: int = 0
    moved: int = 0  # people whose slot has a learnt hour

    @property
    def open_rate(self) -> float | None:
        return rate(self.human_openers, self.delivered)

    @property
    def ctr(self) -> float | None:
        return rate(self.human_clickers, self.delivered)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "open_rate": self.open_rate, "ctr": self.ctr}


@dataclass
class SendTimeFigures:
    """STO switch, window and the two halves."""

    enabled: bool
    window: tuple[int, int]
    since: datetime | None
    halves: list[Half] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "window": list(self.window),
            "since": self.since.isoformat() if self.since else None,
            "halves": [h.as_dict() for h in self.halves],
        }


def send_time(engine: Engine, c: Campaign, now: datetime) -> SendTimeFigures:
    """The A/B figures of ``c`` (rollup refreshed first)."""
    rollup.refresh(engine, now)
    figures = SendTimeFigures(c.sto_enabled, (c.sto_window_start, c.sto_window_end), c.sto_since)
    halves = {arm: Half(arm) for arm in (STO, CONTROL)}
    with Session(engine) as s:
        for arm, people, moved in s.execute(
            select(Enrolment.sto_arm, func.count(), func.count(Enrolment.sto_hour))
            .where(Enrolment.campaign_id == c.id, Enrolment.sto_arm.in_(halves))
            .group_by(Enrolment.sto_arm)
        ):
            halves[arm].people, halves[arm].moved = people, moved
        if c.sto_since is not None:
            marks = func.coalesce(StatsMark.marks, 0)
            query = (
                select(
                    Enrolment.sto_arm,
                    func.count(),
                    func.sum(case((marks.op("&")(d.HUMAN_OPEN) != 0, 1), else_=0)),
                    func.sum(case((marks.op("&")(d.HUMAN_CLICK) != 0, 1), else_=0)),
                )
                .select_from(Delivery)
                .join(
                    Enrolment,
                    and_(Enrolment.subscriber_id == Delivery.subscriber_id, Enrolment.campaign_id == c.id),
                )
                .outerjoin(StatsMark, StatsMark.delivery_id == Delivery.id)
                .where(
                    Delivery.campaign_id == c.id,
                    Delivery.queued_at >= c.sto_since,
                    Delivery.state.in_(("sent", "unknown")),
                    Enrolment.sto_arm.in_(halves),
                )
                .group_by(Enrolment.sto_arm)
            )
            for arm, delivered, opened, clicked in s.execute(query):
                h = halves[arm]
                h.delivered, h.human_openers, h.human_clickers = (
                    delivered,
                    int(opened or 0),
                    int(clicked or 0),
                )
    figures.halves = [halves[STO], halves[CONTROL]]
    return figures


def sunset_by_campaign(s: Session, campaign_id: int) -> dict[str, int]:
    """Re-engagement episodes counted against one campaign, by state (every state present)."""
    counts: Counter[str] = Counter({state.value: 0 for state in ReengagementState})
    for state, n in s.execute(
        select(Reengagement.state, func.count())
        .where(Reengagement.campaign_id == campaign_id)
        .group_by(Reengagement.state)
    ):
        counts[state] = n
    return dict(counts)


class UnknownCampaign(LookupError):
    """No campaign has the slug given (the message names it)."""


@dataclass
class CampaignEngagement:
    """Everything the engagement report and page show for one campaign."""

    campaign: Campaign
    send_time: SendTimeFigures
    sunset: dict[str, int]
    list_slug: str
    policy: str
    inactive: int

    def as_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign.slug, "send_time": self.send_time.as_dict(), "sunset": self.sunset}


def campaign_engagement(store: Store, slug: str) -> CampaignEngagement:
    """The STO halves, the sunset figures and the list's policy of the campaign ``slug``."""
    with store.session() as s:
        c = s.scalar(select(Campaign).where(Campaign.slug == slug))
        if c is None:
            raise UnknownCampaign(f"no campaign named {slug!r}")
        s.expunge(c)
        sunsets = sunset_by_campaign(s, c.id)
        lst = s.get(SubscriberList, c.list_id) if c.list_id is not None else None
        inactive = inactive_counts(s).get(lst.id, 0) if lst is not None else 0
        policy = sunset_policy(lst) if lst is not None else "no list"
    figures = send_time(store.engine, c, store.clock.now())
    return CampaignEngagement(c, figures, sunsets, lst.slug if lst else "", policy, inactive)


def summary_lines(store: Store, campaign_id: int) -> list[str]:
    """One line each for the STO halves and the sunset figures of a campaign, when there are any
    (printed under ``wildmail stats NAME``)."""
    with store.session() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            return []
        s.expunge(c)
        sunsets = sunset_by_campaign(s, campaign_id)
    lines = []
    if c.sto_enabled or c.sto_since is not None:
        halves = send_time(store.engine, c, store.clock.now()).halves
        parts = [
            f"{h.arm} {_pct(h.open_rate)} opened, {_pct(h.ctr)} clicked of {h.delivered}" for h in halves
        ]
        lines.append("Send-time optimisation (human opens and clicks): " + "; ".join(parts))
    if any(sunsets.values()):
        lines.append("Sunset: " + ", ".join(f"{n} {state}" for state, n in sunsets.items() if n))
    return lines


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def sunset_policy(lst: SubscriberList) -> str:
    """A list's policy in words ("off", or "after 8 silent emails, 14 days to answer")."""
    if not lst.sunset_after:
        return "off"
    unknown = "machine-only readers too" if lst.sunset_unknown else "machine-only readers kept"
    return f"after {lst.sunset_after} silent emails, {lst.sunset_wait_days} days to answer, {unknown}"
