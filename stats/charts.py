"""Server-rendered SVG charts (no JavaScript, no CDN): time series and the series drop-off.

Every function returns a self-contained ``<svg>`` string with escaped text, usable inline in a
dashboard page or in the standalone HTML report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from html import escape

from stats.figures import Bucket, DropOff

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 44
SERIES = (
    ("opens", "Human opens", "#1f6f43"),
    ("clicks", "Clicks", "#c0792a"),
    ("donations", "Donation clicks", "#8a1c6d"),
)


def _nice_max(value: int) -> int:
    top = max(value, 1)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000):
        if top <= step * 4:
            return step * 4 if top > step * 2 else max(step * 2, top)
    return top


def _frame(title: str, y_max: int, y_label: str = "") -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart" width="100%">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#1d2a22">{escape(title)}</text>',
    ]
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        label = f"{value:.0%}" if y_label == "%" else f"{value:g}"
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4dfd3"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#55645a">{label}</text>'
        )
    return out


def _legend(items: Sequence[tuple[str, str]]) -> str:
    parts, x = [], WIDTH - RIGHT
    for label, colour in reversed(items):
        x -= 12 + 7 * len(label) + 14
        parts.append(f'<rect x="{x}" y="7" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="16" font-size="11" fill="#1d2a22">{escape(label)}</text>')
    return "".join(parts)


MAX_BUCKETS = 400


def dense(buckets: Sequence[Bucket], step: timedelta) -> list[Bucket]:
    """The buckets with empty ones filled in between the first and the last (so lines do not skip gaps)."""
    if not buckets:
        return []
    by_start = {b.start: b for b in buckets}
    out: list[Bucket] = []
    at = buckets[0].start
    while at <= buckets[-1].start and len(out) < MAX_BUCKETS:
        out.append(by_start.get(at) or Bucket(start=at))
        at += step
    return out


def timeline_svg(buckets: Sequence[Bucket], title: str = "Activity per day", hourly: bool = False) -> str:
    """Lines of human opens, clicks and donation clicks per hour or day (empty-state text when none)."""
    if not buckets:
        return _empty(title, "No opens or clicks yet.")
    buckets = dense(buckets, timedelta(hours=1) if hourly else timedelta(days=1))
    y_max = _nice_max(max(max(b.opens, b.clicks, b.donations) for b in buckets))
    out = _frame(title, y_max)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(buckets)
    step = plot_w / max(n - 1, 1)

    def xy(i: int, v: int) -> tuple[float, float]:
        x = LEFT + (i * step if n > 1 else plot_w / 2)
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
    every = max(1, n // 8)
    for i, b in enumerate(buckets):
        if i % every == 0 or i == n - 1:
            x, _ = xy(i, 0)
            text = f"{b.start:%d %b %H:00}" if hourly else f"{b.start:%d %b}"
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle" '
                f'fill="#55645a">{escape(text)}</text>'
            )
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
