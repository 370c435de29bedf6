"""The API's JSON shapes (request bodies and answers), kept apart from the tables they come from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool | None
SLUG = r"^[a-z0-9][a-z0-9-]*$"
Slug = Annotated[str, Field(min_length=1, max_length=100, pattern=SLUG)]
SlugPath = Annotated[str, Path(min_length=1, max_length=100, pattern=SLUG)]
Position = Annotated[int, Path(ge=1, le=1000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Lists -----------------------------------------------------------------------------------------


class ListIn(Strict):
    slug: Slug
    name: Annotated[str | None, Field(max_length=200)] = None
    description: Annotated[str, Field(max_length=2000)] = ""
    double_opt_in: bool = True
    frequency_cap_days: Annotated[int, Field(ge=0, le=365)] = 7


class ListPatch(Strict):
    name: Annotated[str | None, Field(max_length=200)] = None
    description: Annotated[str | None, Field(max_length=2000)] = None


class ListOut(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    double_opt_in: bool
    frequency_cap_days: int
    created_at: datetime
    members: int


# Subscribers -----------------------------------------------------------------------------------


class SubscriberIn(Strict):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    list: Slug
    name: Annotated[str, Field(max_length=200)] = ""
    timezone: Annotated[str | None, Field(max_length=64)] = None
    locale: Annotated[str | None, Field(max_length=16)] = None
    attributes: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict)
    confirmed: bool = Field(
        False,
        description="true: you hold their consent, they are active at once (no email);"
        " false: the list's opt-in applies (a confirmation email on double opt-in lists).",
    )


class SubscriberPatch(Strict):
    name: Annotated[str | None, Field(max_length=200)] = None
    timezone: Annotated[str | None, Field(max_length=64)] = None
    locale: Annotated[str | None, Field(max_length=16)] = None
    attributes: dict[Annotated[str, Field(max_length=64)], Scalar] | None = Field(
        None, description="Merged into the stored attributes; a null value removes that attribute."
    )


class SubscriberOut(BaseModel):
    id: int
    email: str
    name: str
    status: str
    timezone: str | None
    locale: str
    attributes: dict[str, Scalar]
    lists: list[str]
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    paused_until: datetime | None


class ConsentEventOut(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    source: str
    detail: str


class SuppressionState(BaseModel):
    reason: str
    since: datetime


class SubscriberDetail(SubscriberOut):
    history: list[ConsentEventOut]
    suppression: SuppressionState | None


class SubscribeOut(BaseModel):
    outcome: Literal["confirmation_sent", "confirmation_recent", "activated", "already_active"]
    subscriber: SubscriberOut


class UnsubscribeOut(BaseModel):
    changed: bool
    subscriber: SubscriberOut


# Imports ---------------------------------------------------------------------------------------


class RejectOut(BaseModel):
    line: int
    reason: str


class ImportJobOut(BaseModel):
    id: str
    state: Literal["running", "done", "failed"]
    phase: str
    rows: int
    rejects: int
    percent: int | None
    message: str
    figures: dict[str, int]
    first_rejects: list[RejectOut]


# Campaigns -------------------------------------------------------------------------------------


class EmailOut(BaseModel):
    position: int
    subject: str
    preheader: str
    word_count: int
    reading_minutes: int
    body: str


class CampaignOut(BaseModel):
    id: int
    slug: str
    title: str
    article_title: str
    status: str
    list: str | None
    mode: str
    send_weekday: int
    send_hour: int
    timezone: str
    start_date: date | None
    donation_url: str
    template: str
    email_count: int
    pause_reason: str
    created_at: datetime
    updated_at: datetime


class CampaignDetail(CampaignOut):
    emails: list[EmailOut]


class EmailPatch(Strict):
    subject: Annotated[str | None, Field(max_length=300)] = None
    preheader: Annotated[str | None, Field(max_length=300)] = None
    body: Annotated[str | None, Field(max_length=100_000)] = None


class PreviewOut(BaseModel):
    position: int
    subject: str
    preheader: str
    html: str
    text: str


class ScheduleIn(Strict):
    start: Annotated[
        str | None,
        Field(
            max_length=10,
            description='"now": email 1 at once; a date YYYY-MM-DD: the first slot that day;'
            " null: the campaign's own start day at its timetable's slots.",
        ),
    ] = None
    dry_run: bool = False


class ScheduleOut(BaseModel):
    slug: str
    scheduled: bool
    enrolled: int
    recipients: int
    first_send: datetime | None
    last_first_send: datetime | None


class NextSend(BaseModel):
    at: datetime
    people: int


class CampaignStatusOut(BaseModel):
    slug: str
    status: str
    enrolments: dict[str, int]
    positions: dict[str, int]
    deliveries: dict[str, int]
    next_sends: list[NextSend]
    held: int
    alerts: list[str]
    pause_reason: str


# Stats -----------------------------------------------------------------------------------------


class FunnelOut(BaseModel):
    """The figures of ``wildmail stats`` for one email (position >= 1) or the total (position 0);
    see stats/definitions.py for each one's meaning."""

    position: int
    subject: str
    queued: int
    suppressed: int
    sent: int
    delivered: int
    bounced: int
    soft_bounces: int
    blocked: int
    unknown: int
    human_openers: int
    machine_openers: int
    human_clickers: int
    donors: int
    donation_clicks: int
    unsubscribes: int
    complaints: int
    opens_raw: int
    opens_human: int
    opens_implied: int
    opens_machine: int
    clicks_raw: int
    clicks_human: int
    donation_clicks_raw: int
    open_rate: float | None
    ctr: float | None
    click_to_open: float | None
    donation_ctr: float | None
    unsubscribe_rate: float | None
    donations: int = Field(description="donations attributed to this email (stats/definitions.py)")
    converted: int = Field(description="human donation clickers who gave")
    donation_conversion: float | None = Field(description="converted / donors")
    raised: dict[str, int] = Field(description="amount raised per ISO 4217 currency, in minor units")
    revenue_per_1000: dict[str, int] = Field(
        description="raised per 1,000 delivered, per currency, minor units"
    )


class DropOffOut(BaseModel):
    position: int
    received: int
    opened: int
    received_share: float | None
    opened_share: float | None


class CampaignStatsOut(BaseModel):
    campaign: str
    title: str
    status: str
    generated_at: datetime
    total: FunnelOut
    emails: list[FunnelOut]
    dropoff: list[DropOffOut]


class CampaignSummaryOut(BaseModel):
    campaign_id: int
    campaign: str
    title: str
    status: str
    email_count: int
    total: FunnelOut


# Suppression and returns ---------------------------------------------------------------------


class SuppressionIn(Strict):
    email: Annotated[str, Field(min_length=3, max_length=320)]


class SuppressionOut(BaseModel):
    id: int
    address_hash: str = Field(description="SHA-256 of the normalised address (the entry keeps no address).")
    reason: str
    created_at: datetime
    email: str | None = Field(description="The address, when the request named it.")


class ReturnedOut(BaseModel):
    id: int
    received_at: datetime
    via: str
    kind: Literal["hard", "soft", "block", "complaint"]
    action: str
    reason: str
    status: str
    delivery_id: int | None
    subscriber_id: int | None
    campaign_id: int | None
