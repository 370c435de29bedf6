"""The figure records a report is made of (see :mod:`stats.definitions` for their meaning)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from stats import definitions as d


def rate(num: int, den: int) -> float | None:
    """``num / den`` rounded to 4 places (a share: 0.1234 is 12.34 %); None when ``den`` is 0."""
    return round(num / den, 4) if den else None


@dataclass
class Funnel:
    """Delivery and engagement figures for one email position, or a campaign total (position 0)."""

    position: int = 0
    subject: str = ""
    queued: int = 0
    suppressed: int = 0
    sent: int = 0
    bounced: int = 0
    soft_bounces: int = 0
    blocked: int = 0
    unknown: int = 0
    human_openers: int = 0
    machine_openers: int = 0
    human_clickers: int = 0
    donors: int = 0
    donation_clicks: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    opens_raw: int = 0
    opens_human: int = 0
    opens_implied: int = 0
    opens_machine: int = 0
    clicks_raw: int = 0
    clicks_human: int = 0
    donation_clicks_raw: int = 0
    donations: int = 0  # donations attributed to the email (stats.definitions, "Donations")
    converted: int = 0  # donation clickers with an attributed donation
    raised: dict[str, int] = field(default_factory=dict)  # per currency, in minor units

    @property
    def delivered(self) -> int:
        return self.sent - self.bounced - self.soft_bounces - self.blocked

    @property
    def open_rate(self) -> float | None:
        return rate(self.human_openers, self.delivered)

    @property
    def ctr(self) -> float | None:
        return rate(self.human_clickers, self.delivered)

    @property
    def click_to_open(self) -> float | None:
        return rate(self.human_clickers, self.human_openers)

    @property
    def donation_ctr(self) -> float | None:
        return rate(self.donors, self.delivered)

    @property
    def unsubscribe_rate(self) -> float | None:
        return rate(self.unsubscribes, self.delivered)

    @property
    def donation_conversion(self) -> float | None:
        return rate(self.converted, self.donors)

    @property
    def revenue_per_1000(self) -> dict[str, int]:
        """Per currency, minor units raised per 1,000 delivered (rounded); empty before delivery."""
        delivered = self.delivered
        if not delivered:
            return {}
        return {code: round(amount * 1000 / delivered) for code, amount in sorted(self.raised.items())}

    def add_donations(self, count: int, raised: Mapping[str, int], converted: int) -> None:
        """Add attributed donations: their number, amounts per currency and converted clickers."""
        self.donations += count
        self.converted += converted
        for code, amount in raised.items():
            self.raised[code] = self.raised.get(code, 0) + amount

    def add_counters(self, metrics: Mapping[str, int]) -> None:
        """Fill the engagement fields from rollup metric counts."""
        u = d.UNIQUE_METRIC
        self.human_openers += metrics.get(u[d.HUMAN_OPEN], 0)
        self.machine_openers += metrics.get(u[d.MACHINE_OPEN], 0)
        self.human_clickers += metrics.get(u[d.HUMAN_CLICK], 0)
        self.donors += metrics.get(u[d.DONATION], 0)
        self.unsubscribes += metrics.get(u[d.UNSUBSCRIBE], 0)
        self.complaints += metrics.get(u[d.COMPLAINT], 0)
        self.soft_bounces += metrics.get(u[d.SOFT_BOUNCE], 0)
        self.blocked += metrics.get(u[d.BLOCKED], 0)
        self.opens_human += metrics.get(d.OPENS_HUMAN, 0)
        self.opens_implied += metrics.get(d.OPENS_IMPLIED, 0)
        self.opens_machine += metrics.get(d.OPENS_MACHINE, 0)
        self.opens_raw = self.opens_human + self.opens_machine
        self.clicks_raw += metrics.get(d.CLICKS_RAW, 0)
        self.clicks_human += metrics.get(d.CLICKS_HUMAN, 0)
        self.donation_clicks += metrics.get(d.DONATION_CLICKS, 0)
        self.donation_clicks_raw += metrics.get(d.DONATION_CLICKS_RAW, 0)

    def add_states(self, states: Mapping[str, int]) -> None:
        """Fill the delivery fields from counts per delivery state."""
        self.sent += sum(states.get(s, 0) for s in d.SENT_STATES)
        self.bounced += states.get("bounced", 0)
        self.unknown += states.get("unknown", 0)
        self.queued += sum(states.get(s, 0) for s in d.QUEUED_STATES)
        self.suppressed += states.get("suppressed", 0)

    def merge(self, other: Funnel) -> None:
        """Add another funnel's counts into this one (for totals)."""
        for name, value in asdict(other).items():
            if isinstance(value, int) and name not in ("position", "donations", "converted"):
                setattr(self, name, getattr(self, name) + value)
        self.add_donations(other.donations, other.raised, other.converted)

    def as_dict(self) -> dict[str, Any]:
        """Counts, delivered and the rates, flat (JSON and CSV use this)."""
        out = asdict(self)
        out["delivered"] = self.delivered
        for key in RATES:
            out[key] = getattr(self, key)
        out["raised"] = dict(sorted(self.raised.items()))
        out["revenue_per_1000"] = self.revenue_per_1000
        return out


RATES = ("open_rate", "ctr", "click_to_open", "donation_ctr", "unsubscribe_rate", "donation_conversion")
COLUMNS = (
    "position", "subject", "sent", "delivered", "bounced", "soft_bounces", "blocked", "unknown", "queued",
    "suppressed",
    "human_openers", "machine_openers", "human_clickers", "donors", "donation_clicks", "unsubscribes",
    "complaints", "open_rate", "ctr", "click_to_open", "donation_ctr", "unsubscribe_rate",
    "opens_raw", "opens_human", "opens_implied", "opens_machine", "clicks_raw", "clicks_human",
    "donation_clicks_raw", "donations", "converted", "donation_conversion",
)  # fmt: skip
# Beside COLUMNS, the CSV exports have "raised_<CUR>" and "revenue_per_1000_<CUR>" per currency
# present (stats.export), in the currency's units: amounts in different currencies are never added.


@dataclass(frozen=True)
class DropOff:
    """One step of the series relative to the delivered of email 1."""

    position: int
    received: int
    opened: int
    received_share: float | None
    opened_share: float | None


@dataclass(frozen=True)
class Bucket:
    """Human activity in one UTC hour or day."""

    start: datetime
    opens: int = 0
    clicks: int = 0
    donations: int = 0
    unsubscribes: int = 0


@dataclass(frozen=True)
class TopLink:
    """Clicks on one link."""

    position: int
    link_id: int
    url: str
    kind: str
    label: str
    human_clicks: int
    all_clicks: int


@dataclass
class CampaignReport:
    """Everything known about one campaign's results."""

    campaign_id: int
    slug: str
    title: str
    status: str
    mode: str
    track_identity: bool
    generated_at: datetime
    pause_reason: str = ""  # why the campaign paused itself (its circuit breaker)
    emails: list[Funnel] = field(default_factory=list)
    total: Funnel = field(default_factory=Funnel)
    dropoff: list[DropOff] = field(default_factory=list)
    hourly: list[Bucket] = field(default_factory=list)
    daily: list[Bucket] = field(default_factory=list)
    top_links: list[TopLink] = field(default_factory=list)

    @property
    def has_events(self) -> bool:
        t = self.total
        return bool(t.opens_raw or t.opens_implied or t.clicks_raw or t.unsubscribes or t.complaints)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (datetimes as ISO 8601 strings)."""
        return {
            "campaign": {
                "id": self.campaign_id,
                "slug": self.slug,
                "title": self.title,
                "status": self.status,
                "mode": self.mode,
                "track_identity": self.track_identity,
                "pause_reason": self.pause_reason,
            },
            "generated_at": self.generated_at.isoformat(),
            "total": self.total.as_dict(),
            "emails": [f.as_dict() for f in self.emails],
            "dropoff": [asdict(x) for x in self.dropoff],
            "daily": [{**asdict(b), "start": b.start.isoformat()} for b in self.daily],
            "hourly": [{**asdict(b), "start": b.start.isoformat()} for b in self.hourly],
            "top_links": [asdict(x) for x in self.top_links],
        }


@dataclass
class CampaignSummary:
    """One line of the all-campaigns overview."""

    campaign_id: int
    slug: str
    title: str
    status: str
    email_count: int
    total: Funnel
