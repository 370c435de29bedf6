"""Fold new opens and clicks into per-person engagement state, incrementally.

Like the stats rollup, this reads only events beyond its own cursor (``engagement_cursor``), in
id order, and only *settled* ones (older than :data:`SETTLE`, after which no classification
changes), so its cost follows the traffic, not the size of the log. Per person it keeps:

* a histogram of human opens and clicks per local hour (the person's zone, else the campaign's),
  from which :func:`tracking.sendtime.preferred_hour` estimates the hour to send;
* when they last opened or clicked as a human, and their machine opens (Apple's privacy proxy and
  the like) apart: the sunset policy (:mod:`tracking.sunset`) reads these.

Implied opens (written beside a human click) are skipped: the click already counts. A human open
or click also reactivates the person wherever they were sunset (:func:`tracking.sunset.reactivate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from campaigns.timetable import zone
from delivery.models import Delivery
from subscribers.models import Subscriber
from tracking import sendtime, sunset
from tracking.classify import HONEYPOT_WINDOW
from tracking.engagement_models import EngagementCursor, SendTimeProfile
from tracking.models import Classification, Event, EventKind
from tracking.sunset import reactivate
from wildmail.core.db import write_transaction
from wildmail.core.settings import Settings
from wildmail.core.sql import upsert_ignore
from wildmail.core.store import Store

CURSOR = "engagement"
SUNSET_CLOCK = "sunset"  # the cursor row holding when the sunset sweep last ran (epoch seconds)
SWEEP_EVERY = timedelta(hours=1)
SETTLE = HONEYPOT_WINDOW + timedelta(seconds=20)  # as stats.rollup: no folded event changes later
BATCH = 5000
HUMAN = Classification.HUMAN.value
MACHINE = Classification.MACHINE.value


def _rows(s: Session, after: int, batch: int) -> Sequence[Row[Any]]:
    return s.execute(
        select(
            Event.id,
            Event.kind,
            Event.classification,
            Event.implied,
            Event.at,
            Delivery.subscriber_id,
            Subscriber.timezone,
            Campaign.timezone.label("campaign_tz"),
        )
        .join(Delivery, Delivery.id == Event.delivery_id)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Campaign, Campaign.id == Event.campaign_id)
        .where(Event.id > after)
        .order_by(Event.id)
        .limit(batch)
    ).all()


def _settled(rows: Sequence[Row[Any]], cutoff: datetime) -> Sequence[Row[Any]]:
    for i, row in enumerate(rows):
        if row.at > cutoff:
            return rows[:i]
    return rows


def _profiles(s: Session, ids: set[int], now: datetime) -> dict[int, SendTimeProfile]:
    found = {
        p.subscriber_id: p
        for p in s.scalars(select(SendTimeProfile).where(SendTimeProfile.subscriber_id.in_(ids)))
    }
    for sid in ids - found.keys():
        profile = SendTimeProfile(
            subscriber_id=sid, hours=[0] * 24, human_events=0, machine_opens=0, updated_at=now
        )
        s.add(profile)
        found[sid] = profile
    return found


def _fold(s: Session, rows: Sequence[Row[Any]], now: datetime, min_events: int) -> None:
    useful = [
        r
        for r in rows
        if r.kind in (EventKind.OPEN.value, EventKind.CLICK.value)
        and not r.implied
        and (r.classification == HUMAN or (r.classification == MACHINE and r.kind == EventKind.OPEN.value))
    ]
    if not useful:
        return
    profiles = _profiles(s, {r.subscriber_id for r in useful}, now)
    engaged: dict[int, datetime] = {}
    for r in useful:
        p = profiles[r.subscriber_id]
        if r.classification == HUMAN:
            hours = list(p.hours or [0] * 24)
            hours[r.at.astimezone(zone(r.timezone, r.campaign_tz)).hour] += 1
            p.hours = hours
            p.human_events += 1
            p.last_human_at = max(p.last_human_at or r.at, r.at)
            engaged[r.subscriber_id] = max(engaged.get(r.subscriber_id, r.at), r.at)
        else:
            p.machine_opens += 1
            p.last_machine_at = max(p.last_machine_at or r.at, r.at)
        p.updated_at = now
    changed = []
    for p in profiles.values():
        hour = sendtime.preferred_hour(p.hours, min_events)
        if hour != p.preferred_hour:
            p.preferred_hour = hour
            changed.append(p.subscriber_id)
    s.flush()
    sendtime.hours_changed(s, changed)
    reactivate(s, engaged, now)


def refresh(engine: Engine, now: datetime, *, min_events: int, batch: int = BATCH) -> int:
    """Fold every settled event beyond the cursor; returns how many events were read."""
    cutoff = now - SETTLE
    total = 0
    while True:
        with write_transaction(engine) as s:
            s.execute(upsert_ignore(s, EngagementCursor.__table__).values(name=CURSOR, last_event_id=0))
            last = int(
                s.scalar(select(EngagementCursor.last_event_id).where(EngagementCursor.name == CURSOR)) or 0
            )
            rows = _settled(_rows(s, last, batch), cutoff)
            if not rows:
                return total
            _fold(s, rows, now, min_events)
            s.execute(
                update(EngagementCursor)
                .where(EngagementCursor.name == CURSOR)
                .values(last_event_id=rows[-1].id)
            )
        total += len(rows)


@dataclass
class StepReport:
    """What one engagement step did."""

    folded: int = 0
    moved: int = 0
    swept: sunset.SweepReport | None = None
    asked: int = 0


def _sweep_due(s: Session, now: datetime) -> bool:
    """True at most once per :data:`SWEEP_EVERY` (the sweep reads the lists' deliveries)."""
    s.execute(upsert_ignore(s, EngagementCursor.__table__).values(name=SUNSET_CLOCK, last_event_id=0))
    row = s.get(EngagementCursor, SUNSET_CLOCK, with_for_update=True)
    stamp = int(now.timestamp())
    if row is None or stamp - row.last_event_id < SWEEP_EVERY.total_seconds():
        return False
    row.last_event_id = stamp
    return True


def step(store: Store, settings: Settings, send: sunset.Send) -> StepReport:
    """After each tick: fold new opens and clicks, move the STO half's slots, and (hourly) apply
    the lists' sunset policies and send the re-engagement emails they chose."""
    now = store.clock.now()
    report = StepReport(folded=refresh(store.engine, now, min_events=settings.sto_min_events))
    with write_transaction(store.engine) as s:
        report.moved = sendtime.apply(s, now)
        if _sweep_due(s, now):
            report.swept = sunset.sweep(s, now)
    report.asked = sunset.send_due(store, settings, send)
    return report
