"""Send-slot arithmetic: pure functions of (time, weekday, local hour, time zone), DST-correct.

A *slot* is a local wall-clock hour on a given weekday in a subscriber's time zone, returned
as an aware UTC datetime. Series advance by calendar days in local time, so a weekly email
stays at 09:00 local across daylight-saving changes. A local time that does not exist (the
spring-forward gap) is moved to the first instant after the gap; an ambiguous one (the
autumn fold) takes its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=1024)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone called ``name``; unknown or empty names give ``fallback``."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_instant(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """``day`` at ``hour``:00 local time as UTC, resolving DST gaps and folds."""
    wall = datetime.combine(day, time(hour), tzinfo=tz)  # fold=0: first occurrence
    utc = wall.astimezone(UTC)
    back = utc.astimezone(tz)
    if back.replace(tzinfo=None) != wall.replace(tzinfo=None):
        # Nonexistent local time (spring-forward gap): the first instant after the gap.
        utc = _gap_end(day, hour, tz)
    return utc


def _gap_end(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """First UTC instant whose local time is at or after ``day`` ``hour``:00 (for gaps)."""
    target = datetime.combine(day, time(hour))
    lo = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC) - timedelta(hours=26)
    hi = lo + timedelta(hours=52)
    while hi - lo > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= target:
            hi = mid
        else:
            lo = mid
    return hi.replace(second=0, microsecond=0)


def next_slot(after: datetime, weekday: int | None, hour: int, tz: ZoneInfo) -> datetime:
    """The first slot at or after ``after`` (any weekday when ``weekday`` is None)."""
    local_day = after.astimezone(tz).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if weekday is not None and day.weekday() != weekday:
            continue
        slot = local_instant(day, hour, tz)
        if slot >= after:
            return slot
    raise AssertionError("unreachable: a weekly slot exists within 8 days")


def add_local_days(slot: datetime, days: int, hour: int, tz: ZoneInfo) -> datetime:
    """The slot ``days`` calendar days after ``slot`` in local time, at ``hour``."""
    return local_instant(slot.astimezone(tz).date() + timedelta(days=days), hour, tz)


@dataclass(frozen=True)
class Timetable:
    """A campaign's timing rules (hours and days are whole numbers, as stored)."""

    weekday: int
    hour: int
    cadence_days: int = 7
    grace: timedelta = timedelta(hours=24)
    min_gap: timedelta = timedelta(hours=72)

    @property
    def slot_weekday(self) -> int | None:
        """Weekday constraint: only when the cadence keeps the weekday (multiples of 7)."""
        return self.weekday if self.cadence_days % 7 == 0 else None

    def first_send(self, joined: datetime, start: date | None, tz: ZoneInfo) -> datetime:
        """First slot for someone joining at ``joined``, never before the campaign start day."""
        anchor = joined
        if start is not None:
            anchor = max(anchor, local_instant(start, 0, tz))
        return next_slot(anchor, self.slot_weekday, self.hour, tz)

    def broadcast_send(self, start_slot: datetime, position: int, tz: ZoneInfo) -> datetime:
        """Broadcast: email ``position`` goes out at start + (position - 1) x cadence."""
        return add_local_days(start_slot, (position - 1) * self.cadence_days, self.hour, tz)

    def following_send(self, due: datetime, sent_at: datetime, tz: ZoneInfo) -> datetime:
        """After sending the email due at ``due`` (actually at ``sent_at``): the next one's slot.

        One cadence after the due slot in local days, but never closer than ``min_gap`` to
        ``sent_at`` (a late catch-up send pushes the next email to a later slot).
        """
        candidate = add_local_days(due, self.cadence_days, self.hour, tz)
        earliest = sent_at + self.min_gap
        if candidate < earliest:
            candidate = next_slot(earliest, self.slot_weekday, self.hour, tz)
        return candidate

    def is_late_beyond_grace(self, due: datetime, now: datetime) -> bool:
        """True when a due send is so late it must move to the next slot instead."""
        return now - due > self.grace

    def reschedule(self, now: datetime, last_sent: datetime | None, tz: ZoneInfo) -> datetime:
        """The next slot at or after ``now`` that respects the minimum gap (missed or resumed)."""
        earliest = now if last_sent is None else max(now, last_sent + self.min_gap)
        return next_slot(earliest, self.slot_weekday, self.hour, tz)
