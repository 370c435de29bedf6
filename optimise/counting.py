"""Which deliveries count for a subject test, read from the rollup's per-delivery marks.

A delivery is a *trial* once it was sent (state ``sent``) at least :data:`TRIAL_AFTER` ago:
by then most people who will read it have. A trial is a *success* when its marks (folded from
the event log by :mod:`stats.rollup`) have the criterion's bit: a human open (a person's open,
or a person's click, which implies one), a human click on a content or donation link, or a
human click on a donation link. Machine opens (Apple's privacy proxy, gateways) and bot clicks
set other bits and never count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from campaigns.variant_models import Criterion
from delivery.models import Delivery, DeliveryKind, DeliveryState
from stats import definitions as d
from stats.models import StatsMark

TRIAL_AFTER = timedelta(hours=24)
CRITERION_BIT = {
    Criterion.HUMAN_OPENS.value: d.HUMAN_OPEN,
    Criterion.HUMAN_CLICKS.value: d.HUMAN_CLICK,
    Criterion.DONATION_CLICKS.value: d.DONATION,
}


def variant_counts(
    s: Session, variant_ids: Sequence[int], criterion: str, now: datetime, until: datetime | None = None
) -> dict[int, tuple[int, int, int]]:
    """Per variant id: (deliveries, trials, successes), over first deliveries queued before
    ``until`` (the decision; None while the test runs). One grouped read on the variant index."""
    bit = CRITERION_BIT[criterion]
    trial = and_(Delivery.state == DeliveryState.SENT.value, Delivery.sent_at <= now - TRIAL_AFTER)
    success = and_(trial, StatsMark.marks.op("&")(bit) != 0)
    q = (
        select(
            Delivery.variant_id,
            func.count(),
            func.sum(case((trial, 1), else_=0)),
            func.sum(case((success, 1), else_=0)),
        )
        .outerjoin(StatsMark, StatsMark.delivery_id == Delivery.id)
        .where(Delivery.variant_id.in_(list(variant_ids)), Delivery.kind == DeliveryKind.FIRST.value)
        .group_by(Delivery.variant_id)
    )
    if until is not None:
        q = q.where(Delivery.queued_at <= until)
    out = {v: (0, 0, 0) for v in variant_ids}
    for variant_id, n, trials, successes in s.execute(q):
        out[variant_id] = (int(n), int(trials or 0), int(successes or 0))
    return out
