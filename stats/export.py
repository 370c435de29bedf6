"""Reports as JSON, CSV and plain rows: the CLI, the dashboard's CSV export and the demo use these."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

from donations.money import major, shown
from stats.figures import COLUMNS, CampaignReport, CampaignSummary, Funnel
from wildmail.core.csvsafe import SafeWriter

OVERVIEW_COLUMNS = ("campaign", "title", "status", "emails", *COLUMNS[2:])


def position_label(position: int) -> str:
    """``2``, or ``2 resend`` for email 2's resend (kept under position -2)."""
    return f"{-position} resend" if position < 0 else str(position)


def report_json(report: CampaignReport) -> str:
    """The whole report as pretty JSON."""
    return json.dumps(report.as_dict(), indent=2, sort_keys=False)


def overview_json(rows: Sequence[CampaignSummary]) -> str:
    """The overview as a JSON list of campaigns with their total figures."""
    data = [
        {
            "campaign": r.slug,
            "title": r.title,
            "status": r.status,
            "emails": r.email_count,
            **r.total.as_dict(),
        }
        for r in rows
    ]
    for item in data:
        item.pop("position", None)
        item.pop("subject", None)
    return json.dumps(data, indent=2)


def _fmt(value: object) -> object:
    return "" if value is None else value


def _currencies(funnels: Sequence[Funnel]) -> list[str]:
    return sorted({code for f in funnels for code in f.raised})


def _money_header(codes: Sequence[str]) -> list[str]:
    return [name for code in codes for name in (f"raised_{code}", f"revenue_per_1000_{code}")]


def _money_cells(funnel: Funnel, codes: Sequence[str]) -> list[str]:
    """Raised and revenue per 1,000 delivered in each currency's units (``25.00``), empty when none."""
    per_1000 = funnel.revenue_per_1000
    cells = []
    for code in codes:
        raised = funnel.raised.get(code)
        cells.append(major(raised, code) if raised is not None else "")
        cells.append(major(per_1000[code], code) if raised is not None and code in per_1000 else "")
    return cells


def report_csv(report: CampaignReport) -> str:
    """One row per email position, then a ``total`` row; rates as fractions (empty when undefined).

    Formula-safe (see :mod:`wildmail.core.csvsafe`), like every CSV export."""
    out = io.StringIO()
    writer = SafeWriter(out, lineterminator="\n")
    codes = _currencies([report.total])
    writer.writerow(["campaign", *COLUMNS, *_money_header(codes)])
    funnels: list[tuple[str, Funnel]] = [(position_label(f.position), f) for f in report.emails]
    funnels.append(("total", report.total))
    for label, funnel in funnels:
        row = funnel.as_dict()
        row["position"] = label
        writer.writerow([report.slug, *(_fmt(row[c]) for c in COLUMNS), *_money_cells(funnel, codes)])
    return out.getvalue()


def overview_csv(rows: Sequence[CampaignSummary]) -> str:
    """One row per campaign with its total figures."""
    out = io.StringIO()
    writer = SafeWriter(out, lineterminator="\n")
    codes = _currencies([r.total for r in rows])
    writer.writerow([*OVERVIEW_COLUMNS, *_money_header(codes)])
    for r in rows:
        figures = r.total.as_dict()
        writer.writerow(
            [
                r.slug,
                r.title,
                r.status,
                r.email_count,
                *(_fmt(figures[c]) for c in COLUMNS[2:]),
                *_money_cells(r.total, codes),
            ]
        )
    return out.getvalue()


def amounts(values: Mapping[str, int]) -> str:
    """Amounts per currency for people: ``25.00 EUR, 1200 JPY``; an en dash when there are none."""
    return ", ".join(shown(amount, code) for code, amount in sorted(values.items())) or "–"


def percent(value: float | None) -> str:
    """A rate for people: ``42.5%``, or an en dash when undefined."""
    return "–" if value is None else f"{value * 100:.1f}%"
