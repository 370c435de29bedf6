"""Send-time optimisation (STO): move a person's weekly slot to the local hour they read at.

**Estimate.** :mod:`tracking.engagement` counts each person's human opens and clicks per local
hour (machine opens and bot clicks never count). With at least ``min_events`` of them
(:data:`MIN_EVENTS` by default, setting ``sto_min_events``) the preferred hour is the peak of the
histogram smoothed on the 24-hour circle with the kernel :data:`KERNEL` (weights 4, 2, 1 for the
hour itself, its neighbours, and the next ones: 23:00 and 00:00 are neighbours); ties go to the
earliest hour. Fewer events: no estimate, the campaign's hour stays.

**A/B.** A campaign with STO on splits its enrolments in two halves by a keyed hash (HMAC-SHA256
with the campaign's own random ``sto_key``) of the subscriber id: the ``sto`` half moves, the
``control`` half keeps the campaign's hour. The half is recorded on the enrolment, so the figures
(:mod:`stats.engagement`) compare the two honestly.

**Moving the slot.** The tick stays as it is (set-based per time zone and slot, at the campaign's
hour). After each tick :func:`apply` sets ``Enrolment.sto_hour`` (the preferred hour clipped to
the campaign's window ``[sto_window_start, sto_window_end)``) and moves each pending slot to that
hour on the *same local day*: the weekday, the weekly cadence and so one email a week hold. One
``UPDATE`` per (zone, slot, hour) group. A slot is left alone when the new time has passed, when
it would come closer than the campaign's minimum gap to the previous send, or while the frequency
cap holds the person (``held``): the cap's slot is never moved earlier.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign, CampaignStatus, Enrolment, EnrolmentStatus
from campaigns.timetable import local_instant, zone
from tracking.engagement_models import SendTimeProfile
from wildmail.core.db import write_transaction
from wildmail.core.sql import rowcount
from wildmail.core.store import Store

MIN_EVENTS = 3
KERNEL = (4, 2, 1)  # weight of the hour itself, of hours 1 away, of hours 2 away
STO, CONTROL = "sto", "control"
ACTIVE = EnrolmentStatus.ACTIVE.value
_CHUNK = 1000


class StoError(ValueError):
    """A send-time setting that cannot be used (the message names it)."""


def preferred_hour(hours: Sequence[int] | None, min_events: int = MIN_EVENTS) -> int | None:
    """The smoothed peak hour of a 24-hour histogram, None below ``min_events`` events."""
    if not hours or len(hours) != 24 or sum(hours) < max(1, min_events):
        return None
    smoothed = [
        sum(w * (hours[(h - d) % 24] + (hours[(h + d) % 24] if d else 0)) for d, w in enumerate(KERNEL))
        for h in range(24)
    ]
    return smoothed.index(max(smoothed))


def arm_of(key: str, subscriber_id: int) -> str:
    """The A/B half of a subscriber for a campaign keyed with ``key`` (deterministic)."""
    digest = hmac.new(bytes.fromhex(key), f"sto-arm:{subscriber_id}".encode(), hashlib.sha256).digest()
    return STO if digest[0] & 1 else CONTROL


def configure(c: Campaign, now: datetime, *, enabled: bool, window: tuple[int, int] | None = None) -> None:
    """Switch STO on or off for ``c`` (and set its window, local hours ``[start, end)``)."""
    if window is not None:
        start, end = window
        if not (0 <= start < end <= 24):
            raise StoError(f"window {start}-{end}: give two hours from 0 to 24, the first before the second")
        c.sto_window_start, c.sto_window_end = start, end
    if enabled and not c.sto_enabled:
        c.sto_key = c.sto_key or secrets.token_hex(16)
        c.sto_since = now
    c.sto_enabled = enabled
    c.updated_at = now


def parse_window(text: str) -> tuple[int, int]:
    """``"7-20"`` -> (7, 20); :class:`StoError` naming the value otherwise."""
    parts = text.replace(":00", "").split("-")
    try:
        start, end = (int(p) for p in parts)
    except ValueError:
        raise StoError(f"window {text!r}: write it as START-END in local hours, e.g. 7-20") from None
    if not (0 <= start < end <= 24):
        raise StoError(f"window {text!r}: give two hours from 0 to 24, the first before the second")
    return start, end


def switch(store: Store, slug: str, *, enabled: bool, window: str | None = None) -> Campaign:
    """The use case behind ``wildmail campaign send-time`` and the dashboard's switch."""
    bounds = parse_window(window) if window else None
    with write_transaction(store.engine) as s:
        c = s.scalar(select(Campaign).where(Campaign.slug == slug))
        if c is None:
            raise StoError(f"no campaign named {slug!r}")
        configure(c, store.clock.now(), enabled=enabled, window=bounds)
        s.flush()
        if c.sto_enabled:
            _set_hours(s, c)  # the window may have changed: every hour of the half again
        s.expunge(c)
    return c


def _assign_arms(s: Session, c: Campaign) -> list[int]:
    """Record the half of every enrolment that has none yet; returns the new ``sto`` members."""
    ids = s.scalars(
        select(Enrolment.subscriber_id).where(Enrolment.campaign_id == c.id, Enrolment.sto_arm == "")
    ).all()
    chosen: list[int] = []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for arm in (STO, CONTROL):
            members = [sid for sid in chunk if arm_of(c.sto_key, sid) == arm]
            if members:
                s.execute(
                    update(Enrolment)
                    .where(Enrolment.campaign_id == c.id, Enrolment.subscriber_id.in_(members))
                    .values(sto_arm=arm)
                    .execution_options(synchronize_session=False)
                )
            if arm == STO:
                chosen += members
    return chosen


def _set_hours(s: Session, c: Campaign, subscriber_ids: Sequence[int] | None = None) -> None:
    """Set ``sto_hour`` of the ``sto`` half (only of ``subscriber_ids`` when given) from their
    profiles, clipped to the campaign's window."""
    preferred = (
        select(SendTimeProfile.preferred_hour)
        .where(SendTimeProfile.subscriber_id == Enrolment.subscriber_id)
        .scalar_subquery()
    )
    last = c.sto_window_end - 1
    clipped = case(
        (preferred < c.sto_window_start, c.sto_window_start), (preferred > last, last), else_=preferred
    )
    where = [Enrolment.campaign_id == c.id, Enrolment.status == ACTIVE, Enrolment.sto_arm == STO]
    chunks = (
        [None]
        if subscriber_ids is None
        else [subscriber_ids[i : i + _CHUNK] for i in range(0, len(subscriber_ids), _CHUNK)]
    )
    for chunk in chunks:
        scope = where if chunk is None else [*where, Enrolment.subscriber_id.in_(chunk)]
        s.execute(
            update(Enrolment)
            .where(*scope)
            .values(sto_hour=clipped)
            .execution_options(synchronize_session=False)
        )


def _sto_campaigns(s: Session) -> Sequence[Campaign]:
    active = (CampaignStatus.SCHEDULED.value, CampaignStatus.RUNNING.value)
    query = select(Campaign).where(Campaign.sto_enabled.is_(True), Campaign.status.in_(active))
    return s.scalars(query.order_by(Campaign.id)).all()


def hours_changed(s: Session, subscriber_ids: Sequence[int]) -> None:
    """The fold learnt a new preferred hour for these people: update their STO enrolments."""
    if subscriber_ids:
        for c in _sto_campaigns(s):
            _set_hours(s, c, subscriber_ids)


def _move_slots(s: Session, c: Campaign, now: datetime) -> int:
    groups = s.execute(
        select(Enrolment.timezone, Enrolment.next_send_at, Enrolment.sto_hour)
        .where(
            Enrolment.campaign_id == c.id,
            Enrolment.status == ACTIVE,
            Enrolment.sto_hour.is_not(None),
            Enrolment.next_send_at > now,
            Enrolment.held == "",
        )
        .distinct()
    ).all()
    gap = timedelta(hours=c.min_gap_hours)
    moved = 0
    for tz, due, hour in groups:
        local = zone(tz, c.timezone)
        target = local_instant(due.astimezone(local).date(), hour, local)
        if target == due or target <= now:
            continue
        stmt = (
            update(Enrolment)
            .where(
                Enrolment.campaign_id == c.id,
                Enrolment.status == ACTIVE,
                Enrolment.timezone == tz,
                Enrolment.next_send_at == due,
                Enrolment.sto_hour == hour,
                Enrolment.held == "",
                or_(Enrolment.last_sent_at.is_(None), and_(Enrolment.last_sent_at <= target - gap)),
            )
            .values(next_send_at=target)
            .execution_options(synchronize_session=False)
        )
        moved += rowcount(s.execute(stmt))
    return moved


def apply(s: Session, now: datetime) -> int:
    """For every scheduled or running campaign with STO on: record new enrolments' halves (and the
    hours of the new ``sto`` members), then move pending slots; returns how many moved."""
    moved = 0
    for c in _sto_campaigns(s):
        _set_hours(s, c, _assign_arms(s, c))
        moved += _move_slots(s, c, now)
    return moved
