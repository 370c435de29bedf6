"""A standalone, offline HTML report for one campaign (inline CSS and SVG, no scripts)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, Template, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine

from stats.charts import dropoff_svg, timeline_svg
from stats.export import amounts, percent
from stats.figures import CampaignReport
from stats.report import campaign_report
from wildmail.core.clock import Clock

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}: campaign report</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;color:#1d2a22;background:#f6f4ef;margin:0}
main{max-width:980px;margin:0 auto;padding:1.5rem}
svg.chart{max-width:600px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.35rem .5rem;border-bottom:1px solid #d9d4c7;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:.75rem}.card{background:#fff;border:1px solid #d9d4c7;
border-radius:8px;padding:.6rem 1rem;min-width:9rem}.big{font-size:1.6rem;font-weight:bold}
.muted{color:#55645a}
</style></head><body><main>
<h1>{{ r.title }}</h1>
<p class="muted">Campaign <code>{{ r.slug }}</code>, {{ r.mode }}, status {{ r.status }}.
Figures at {{ r.generated_at.strftime("%Y-%m-%d %H:%M UTC") }}.
{% if not r.track_identity %}Tracked without identity: unique figures are event counts.{% endif %}</p>
<div class="cards">
{% for label, value in cards %}<div class="card"><div class="muted">{{ label }}</div>
<div class="big">{{ value }}</div></div>{% endfor %}
</div>
<h2>Per email</h2>
<table><thead><tr><th>#</th><th>Subject</th><th>Sent</th><th>Delivered</th><th>Hard bounces</th>
<th>Soft bounces</th><th>Complaints</th><th>Unknown</th><th>Human opens</th><th>Machine opens</th>
<th>Open rate</th><th>CTR</th>
<th>Click-to-open</th><th>People who clicked donate</th><th>Donation click rate</th>
<th>Unsubscribes</th></tr></thead><tbody>
{% for f in rows %}<tr><td>{% if f.position < 0 %}{{ -f.position }} (resend){% else %}
{{- f.position or "All" }}{% endif %}</td><td>{{ f.subject }}</td><td>{{ f.sent }}</td>
<td>{{ f.delivered }}</td><td>{{ f.bounced }}</td><td>{{ f.soft_bounces }}</td><td>{{ f.complaints }}</td>
<td>{{ f.unknown }}</td><td>{{ f.human_openers }}</td>
<td>{{ f.machine_openers }}</td><td>{{ pct(f.open_rate) }}</td><td>{{ pct(f.ctr) }}</td>
<td>{{ pct(f.click_to_open) }}</td><td>{{ f.donors }}</td><td>{{ pct(f.donation_ctr) }}</td>
<td>{{ f.unsubscribes }}</td></tr>{% endfor %}
</tbody></table>
{% if r.total.donations %}<h2>Donations</h2>
<table><thead><tr><th>#</th><th>Donations</th><th>Raised</th><th>Per 1,000 delivered</th>
<th>Donation clickers who gave</th></tr></thead><tbody>
{% for f in rows %}<tr><td>{{ f.position or "All" }}</td><td>{{ f.donations }}</td>
<td>{{ money(f.raised) }}</td><td>{{ money(f.revenue_per_1000) }}</td>
<td>{{ pct(f.donation_conversion) }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
<h2>Over time</h2>{{ timeline }}
<h2>Along the series</h2>{{ dropoff }}
<h2>Top links</h2>
{% if r.top_links %}<table><thead><tr><th>Email</th><th>Link</th><th>Kind</th><th>Human clicks</th>
<th>All clicks</th></tr></thead><tbody>{% for l in r.top_links %}<tr><td>{{ l.position }}</td>
<td>{{ l.label or l.url }}</td><td>{{ l.kind }}</td><td>{{ l.human_clicks }}</td><td>{{ l.all_clicks }}</td>
</tr>{% endfor %}</tbody></table>{% else %}<p class="muted">No clicks yet.</p>{% endif %}
</main></body></html>
"""


@cache
def _template() -> Template:
    """Compiled on first use, not at import (every command imports this module)."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE)


def headline_cards(report: CampaignReport) -> list[tuple[str, str]]:
    """The headline figures shown as cards (dashboard and standalone report)."""
    t = report.total
    return [
        ("Delivered", f"{t.delivered:,}"),
        ("Human open rate", percent(t.open_rate)),
        ("Click rate", percent(t.ctr)),
        ("Donation clicks", f"{t.donation_clicks:,}"),
        ("Unsubscribes", f"{t.unsubscribes:,}"),
        ("Bounces (hard / soft)", f"{t.bounced:,} / {t.soft_bounces:,}"),
        ("Complaints", f"{t.complaints:,}"),
    ]


def render_html_report(report: CampaignReport) -> str:
    """The report as one HTML document that works offline."""
    return _template().render(
        r=report,
        rows=[*report.emails, report.total],
        cards=headline_cards(report),
        pct=percent,
        money=amounts,
        timeline=Markup(timeline_svg(report.daily)),  # noqa: S704 - our own escaped SVG
        dropoff=Markup(dropoff_svg(report.dropoff)),  # noqa: S704
    )


def write_html_report(
    engine: Engine, campaign: str | int, path: str | Path, clock: Clock | None = None
) -> Path:
    """Build the report for ``campaign`` and write it to ``path``; returns the path."""
    target = Path(path)
    target.write_text(render_html_report(campaign_report(engine, campaign, clock)), encoding="utf-8")
    return target
