"""Server-rendered SVG charts (no JavaScript, no CDN): time series and the series drop-off.

Every function returns a self-contained ``<svg>`` string with escaped text, usable inline in a
dashboard page or in the standalone HTML report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from html import escape

from stats.figures import Bucket, DropOff

WIDTH, HEIGHT = 600, 250  # drawn at about its own size in a half-width dashboard card
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 44, 30
SERIES = (
    ("opens", "Human opens", "#1f6f43"),
    ("clicks", "Clicks", "#c0792a"),
    ("donations", "Donation clicks", "#8a1c6d"),
)


TICKS = 4


def _nice_max(value: int) -> int:
    """The axis top for counts up to ``value``: four whole-number steps of 1, 2 or 5 x 10^n."""
    top, scale = max(value, 1), 1
    while True:
        for step in (1, 2, 5):
            if top <= step * scale * TICKS:
                return step * scale * TICKS
        scale *= 10


def _frame(title: str, y_max: int, y_label: str = "") -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart" width="100%">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#1d2a22">{escape(title)}</text>',
    ]
    for i in range(TICKS + 1):
        value = y_max * i / TICKS
        y = TOP + plot_h - plot_h * i / TICKS
        label = f"{value:.0%}" if y_label == "%" else f"{value:,.0f}"
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4dfd3"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#55645a">{label}</text>'
        )
    return out


def _legend(items: Sequence[tuple[str, str]]) -> str:
    """The legend on its own line under the title, left-aligned."""
    parts, x = [], LEFT
    for label, colour in items:
        parts.append(f'<rect x="{x}" y="23" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="32" font-size="11" fill="#1d2a22">{escape(label)}</text>')
        x += 14 + int(6.2 * len(label)) + 16
    return "".join(parts)


MAX_BUCKETS = 400


MIN_DAYS = 7  # a daily chart spans at least a week, so one day of data is not a lone dot


def dense(buckets: Sequence[Bucket], step: timedelta) -> list[Bucket]:
    """The buckets with empty ones filled in between the first and the last (so lines do not skip
    gaps); at most the last :data:`MAX_BUCKETS` of them."""
    if not buckets:
        return []
    return last_window(buckets, step, MAX_BUCKETS, span_all=True)


def last_window(
    buckets: Sequence[Bucket], step: timedelta, count: int, *, span_all: bool = False
) -> list[Bucket]:
    """The ``count`` buckets ending at the last one with data, empty ones filled in.

    The window is the end of the campaign's data, however long ago it started (a campaign that
    ran for weeks shows its last 72 hours, not hours 1-72). ``span_all``: start at the first
    bucket instead when that is later (no leading empties).
    """
    if not buckets:
        return []
    last = buckets[-1].start
    first = last - step * (count - 1)
    if span_all:
        first = max(first, buckets[0].start)
    by_start = {b.start: b for b in buckets if b.start >= first}
    return [
        by_start.get(first + step * i) or Bucket(start=first + step * i)
        for i in range((last - first) // step + 1)
    ]


CHAR_WIDTH = 5.6  # of a 10-px label, roughly: enough to keep labels apart


def _date_labels(buckets: Sequence[Bucket], xs: Sequence[float], hourly: bool) -> list[str]:
    """Dates under the axis: at most six, placed from the latest backwards, none overlapping and
    none outside the chart (the latest is right-aligned to its point)."""
    n = len(buckets)
    every = max(1, math.ceil(n / 6))
    out: list[str] = []
    left_edge = float(WIDTH)  # the left end of the label placed last (to its right)
    for i in range(n - 1, -1, -every):
        text = f"{buckets[i].start:%d %b %H:00}" if hourly else f"{buckets[i].start:%d %b}"
        width = CHAR_WIDTH * len(text)
        x = xs[i]
        anchor, start = ("end", x - width) if x + width / 2 > WIDTH - RIGHT else ("middle", x - width / 2)
        if start + width + 6 > left_edge or start < 0:
            continue
        left_edge = start
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="{anchor}" '
            f'fill="#55645a">{escape(text)}</text>'
        )
    return out


def timeline_svg(buckets: Sequence[Bucket], title: str = "Activity per day", hourly: bool = False) -> str:
    """Lines of human opens, clicks and donation clicks per hour or day (empty-state text when none)."""
    if not buckets:
        return _empty(title, "No opens or clicks yet.")
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    buckets = dense(buckets, step)
    if not hourly and len(buckets) < MIN_DAYS:
        buckets = last_window(buckets, step, MIN_DAYS)
    y_max = _nice_max(max(max(b.opens, b.clicks, b.donations) for b in buckets))
    out = _frame(title, y_max)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(buckets)
    dx = plot_w / max(n - 1, 1)

    def xy(i: int, v: int) -> tuple[float, float]:
        x = LEFT + (i * dx if n > 1 else plot_w / 2)
        return x, TOP + plot_h - plot_h * v / y_max

    for name, label, colour in SERIES:
        points = [xy(i, getattr(b, name)) for i, b in enumerate(buckets)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}" data-series="{name}"/>'
        )
        for (x, y), b in zip(points, buckets, strict=True):
            tip = f"{label} {b.start:%Y-%m-%d %H:00}: {getattr(b, name)}"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    out.extend(_date_labels(buckets, [xy(i, 0)[0] for i in range(n)], hourly))
    out.append(_legend([(label, colour) for _, label, colour in SERIES]))
    out.append("</svg>")
    return "".join(out)


def dropoff_svg(steps: Sequence[DropOff], title: str = "Drop-off along the series") -> str:
    """Bars per email position: received and opened, as shares of email 1's delivered."""
    if not steps or not steps[0].received:
        return _empty(title, "Nothing delivered yet.")
    out = _frame(title, 1, "%")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(steps)
    bar = min(40.0, slot / 3)
    bars = (("received_share", "Received", "#9db8a5"), ("opened_share", "Opened (human)", "#1f6f43"))
    for i, step in enumerate(steps):
        for j, (name, label, colour) in enumerate(bars):
            share = min(getattr(step, name) or 0.0, 1.0)
            h = plot_h * share
            x = LEFT + i * slot + slot / 2 - bar + j * bar
            tip = f"Email {step.position} {label.lower()}: {share:.1%}"
            out.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                f'fill="{colour}" data-position="{step.position}"><title>{escape(tip)}</title></rect>'
            )
        out.append(
            f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" '
            f'text-anchor="middle" fill="#55645a">Email {step.position}</text>'
        )
    out.append(_legend([(label, colour) for _, label, colour in bars]))
    out.append("</svg>")
    return "".join(out)


def _empty(title: str, message: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 80" role="img" class="chart empty" '
        f'aria-label="{escape(title)}" width="100%">'
        f"<title>{escape(title)}</title>"
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#1d2a22">{escape(title)}</text>'
        f'<text x="{LEFT}" y="50" font-size="13" fill="#55645a">{escape(message)}</text></svg>'
    )
