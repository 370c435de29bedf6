"""The charts on the stats page: the 72-hour window sits at the end of the campaign's data, axes
have whole-number steps, one point is not a lone dot (the page itself: tests/dashboard/test_stats_page.py)."""

from __future__ import annotations

import re
from datetime import timedelta

from stats.charts import LEFT, MAX_BUCKETS, _nice_max, dense, last_window, timeline_svg
from stats.figures import Bucket
from tests.stats import scenario as sc

HOUR = timedelta(hours=1)


def test_the_window_is_the_last_72_hours_of_data_however_old_the_campaign() -> None:
    first = sc.T0
    last = sc.T0 + timedelta(days=40, hours=5)
    buckets = [
        Bucket(start=first, opens=3),
        Bucket(start=last - 2 * HOUR, clicks=1),
        Bucket(start=last, opens=2),
    ]
    window = last_window(buckets, HOUR, 72)
    assert len(window) == 72
    assert window[0].start == last - 71 * HOUR and window[-1].start == last
    assert [b.clicks for b in window if b.clicks] == [1] and window[-1].opens == 2
    assert sum(b.opens for b in window) == 2  # day one is outside the window


def test_dense_keeps_the_latest_buckets_when_there_are_too_many() -> None:
    buckets = [Bucket(start=sc.T0, opens=1), Bucket(start=sc.T0 + 1000 * HOUR, opens=4)]
    filled = dense(buckets, HOUR)
    assert len(filled) == MAX_BUCKETS and filled[-1].opens == 4  # the end, not the first 400 hours
    assert dense(buckets[:1], HOUR) == buckets[:1]


def test_axes_have_whole_number_steps() -> None:
    assert [_nice_max(v) for v in (0, 1, 3, 4, 5, 9, 37, 1234)] == [4, 4, 4, 4, 8, 20, 40, 2000]
    svg = timeline_svg([Bucket(start=sc.T0, opens=1)], "Per day")
    labels = re.findall(rf'<text x="{LEFT - 6}" [^>]+>([^<]+)<', svg)
    assert labels == ["0", "1", "2", "3", "4"]  # not 0, 0.5, 1, 1.5, 2


def test_one_day_of_data_is_drawn_on_a_week() -> None:
    svg = timeline_svg([Bucket(start=sc.T0, opens=5)], "Per day")
    points = re.search(r'data-series="opens"', svg) and re.findall(r"<circle cx", svg)
    assert points and len(points) == 3 * 7  # three series over seven days: a line, not a dot
