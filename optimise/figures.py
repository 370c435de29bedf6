"""The subject-test and resend figures of one campaign, as the CLI, JSON and dashboard show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optimise import resend, subject_tests
from stats import rollup
from wildmail.core.store import Store


@dataclass(frozen=True)
class Tuning:
    """Every subject test and resend of one campaign."""

    tests: list[subject_tests.SubjectTestFigures] = field(default_factory=list)
    resends: list[resend.ResendFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject_tests": [t.as_dict() for t in self.tests],
            "resends": [r.as_dict() for r in self.resends],
        }


def campaign_tuning(store: Store, campaign_id: int) -> Tuning:
    """Fold new events, then read the campaign's subject tests and resends."""
    now = store.clock.now()
    rollup.refresh(store.engine, now)
    with store.session() as s:
        return Tuning(subject_tests.figures(s, campaign_id, now), resend.figures(s, campaign_id, now))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def subject_test_lines(t: subject_tests.SubjectTestFigures) -> list[str]:
    """A subject test in a few lines of text (the CLI and the demo)."""
    head = (
        f"Subject test of email {t.position} ({t.criterion.replace('_', ' ')}, confidence {t.confidence:.0%},"
        f" max sample {t.max_sample:,}): {t.verdict}"
    )
    lines = [head]
    for v in t.variants:
        interval = f"[{percent(v.low)} - {percent(v.high)}]" if v.low is not None else ""
        mark = " <- winner" if v.winner else ""
        lines.append(
            f"  {v.position}. {v.subject!r}: {v.successes:,}/{v.trials:,} = {percent(v.rate)} {interval},"
            f" P(best) {v.p_best:.1%}, {v.deliveries:,} deliveries{mark}"
        )
    return lines


def resend_lines(r: resend.ResendFigures) -> list[str]:
    """A resend rule's figures in a few lines of text."""
    unknown = "resent" if r.include_unknown else "left out"
    return [
        f"Resend of email {r.position} after {r.after_days} days with {r.subject!r}: {r.resent:,} resent"
        f" of {r.sent:,} sent",
        f"  left out: {r.engaged:,} opened or clicked, {r.unknown:,} unknown (machine opens only, {unknown}),"
        f" {r.departed:,} unsubscribed/bounced/inactive, {r.not_resent:,} non-openers not resent"
        f" (frequency cap, paused or window passed); {r.waiting:,} not due yet",
    ]
