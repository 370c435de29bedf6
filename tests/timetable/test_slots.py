"""Pure slot arithmetic: weekdays, local hours, DST gaps and folds, far-off time zones, gaps."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.timetable import Timetable, add_local_days, local_instant, next_slot, zone

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14
HONOLULU = ZoneInfo("Pacific/Honolulu")  # UTC-10
MON = 0


def utc(*args: int) -> datetime:
    return datetime(*args[:6]).replace(tzinfo=UTC)  # type: ignore[arg-type]


def test_next_slot_same_day_before_the_hour_and_next_week_after_it():
    assert next_slot(utc(2026, 1, 5, 8), MON, 9, ZoneInfo("UTC")) == utc(2026, 1, 5, 9)
    assert next_slot(utc(2026, 1, 5, 9), MON, 9, ZoneInfo("UTC")) == utc(2026, 1, 5, 9)
    assert next_slot(utc(2026, 1, 5, 9, 1), MON, 9, ZoneInfo("UTC")) == utc(2026, 1, 12, 9)


def test_weekly_slot_keeps_local_hour_across_spring_and_autumn_changes():
    first = local_instant(date(2026, 3, 22), 9, BERLIN)
    assert first == utc(2026, 3, 22, 8)  # CET, UTC+1
    assert add_local_days(first, 7, 9, BERLIN) == utc(2026, 3, 29, 7)  # CEST, UTC+2
    autumn = local_instant(date(2026, 10, 18), 9, BERLIN)
    assert add_local_days(autumn, 7, 9, BERLIN) == utc(2026, 10, 25, 8)  # back to CET


def test_nonexistent_local_hour_moves_to_the_end_of_the_gap():
    # 2026-03-29 02:00 does not exist in Berlin (02:00 -> 03:00 CEST = 01:00 UTC).
    assert local_instant(date(2026, 3, 29), 2, BERLIN) == utc(2026, 3, 29, 1)
    # New York springs forward on 2026-03-08 at 02:00 -> 03:00 EDT = 07:00 UTC.
    assert local_instant(date(2026, 3, 8), 2, NEW_YORK) == utc(2026, 3, 8, 7)


def test_ambiguous_local_hour_takes_the_first_occurrence():
    # 2026-10-25 02:00 happens twice in Berlin: first at 00:00 UTC (CEST), again at 01:00 UTC.
    assert local_instant(date(2026, 10, 25), 2, BERLIN) == utc(2026, 10, 25, 0)


def test_utc_plus_14_and_minus_10_get_their_own_monday_nine():
    monday = utc(2026, 1, 5, 8)
    # Monday 09:00 in Kiritimati was Sunday 19:00 UTC, already past: next is a week later.
    assert next_slot(monday, MON, 9, KIRITIMATI) == utc(2026, 1, 11, 19)
    assert next_slot(monday, MON, 9, HONOLULU) == utc(2026, 1, 5, 19)


def test_unknown_zone_names_fall_back():
    assert zone("Mars/Olympus", "Europe/Berlin") == BERLIN
    assert zone(None, "Nowhere/At_all").key == "UTC"


def test_following_send_is_one_cadence_later_unless_the_gap_is_too_small():
    t = Timetable(weekday=MON, hour=9, cadence_days=7, min_gap=timedelta(hours=72))
    due = utc(2026, 1, 5, 9)
    assert t.following_send(due, due, ZoneInfo("UTC")) == utc(2026, 1, 12, 9)
    # Sent 5 days late (inside a long grace): the next one moves a week on to keep 72 h apart.
    assert t.following_send(due, utc(2026, 1, 10, 9), ZoneInfo("UTC")) == utc(2026, 1, 19, 9)
    daily = Timetable(weekday=MON, hour=9, cadence_days=1, min_gap=timedelta(hours=72))
    assert daily.slot_weekday is None
    assert daily.following_send(due, due, ZoneInfo("UTC")) == utc(2026, 1, 8, 9)


def test_grace_and_reschedule():
    t = Timetable(weekday=MON, hour=9, grace=timedelta(hours=24), min_gap=timedelta(hours=72))
    due = utc(2026, 1, 5, 9)
    assert not t.is_late_beyond_grace(due, due + timedelta(hours=23))
    assert t.is_late_beyond_grace(due, due + timedelta(hours=25))
    now = utc(2026, 1, 26, 10)  # three weeks later
    assert t.reschedule(now, utc(2026, 1, 5, 9), ZoneInfo("UTC")) == utc(2026, 2, 2, 9)
    # Resuming shortly after a send waits for the minimum gap first.
    assert t.reschedule(utc(2026, 1, 6, 10), utc(2026, 1, 5, 9), ZoneInfo("UTC")) == utc(2026, 1, 12, 9)


def test_broadcast_email_n_at_start_plus_cadence():
    t = Timetable(weekday=MON, hour=9)
    start = t.first_send(utc(2026, 1, 1), date(2026, 1, 5), BERLIN)
    assert start == utc(2026, 1, 5, 8)
    assert t.broadcast_send(start, 3, BERLIN) == utc(2026, 1, 19, 8)
    assert t.broadcast_send(start, 13, BERLIN) == utc(2026, 3, 30, 7)  # after the spring change


ZONES = st.sampled_from(
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Pacific/Kiritimati",
        "Pacific/Honolulu",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "Africa/Casablanca",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    after=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
    name=ZONES,
)
def test_next_slot_properties(after, weekday, hour, name):
    tz = ZoneInfo(name)
    slot = next_slot(after, weekday, hour, tz)
    assert after <= slot < after + timedelta(days=8)
    local = slot.astimezone(tz)
    assert local.weekday() == weekday
    # The local hour is the one asked for, unless that hour did not exist that day (DST gap).
    if local.hour != hour or local.minute != 0:
        assert local_instant(local.date(), hour, tz) == slot
        naive = datetime.combine(local.date(), datetime.min.time()).replace(hour=hour, tzinfo=tz)
        assert naive.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive.replace(tzinfo=None)
    # Nothing earlier qualifies: the previous matching weekday's slot is before ``after``.
    previous = local_instant(local.date() - timedelta(days=7), hour, tz)
    assert previous < after
