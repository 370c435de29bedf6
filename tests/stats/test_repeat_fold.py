"""The rollup's repeat rule on hand-built events: which clicks count, however the log is folded."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from stats import rollup
from stats.report import campaign_report
from tests.stats import scenario as sc

pytestmark = pytest.mark.postgres
MINUTE = 1 / 60


def _build(s: Session) -> None:
    c = sc.campaign(s, "repeat", 1)
    a, b = sc.subscribers(s, 2)
    da, db = sc.deliver(s, c, 1, a), sc.deliver(s, c, 1, b)

    def click(d, minutes: float, link: str = "donation", cls: str = "human") -> None:
        sc.event(s, c, 1, "click", delivery=d, link_kind=link, cls=cls, hours=1 + minutes * MINUTE)

    click(da, 0, cls="bot")  # a link scanner: a bot click, apart from the person's own clicks
    click(da, 3)  # counts (the first human click)
    click(da, 1)  # stored later, though two minutes earlier: a repeat
    click(da, 5)  # repeat
    click(da, 6, link="content")  # another link: counts
    click(da, 16)  # 11 minutes after the last click on this link (the repeat at 5): counts
    click(db, 2)  # another person: counts
    click(db, 2)  # the same second again: repeat
    sc.event(s, c, 1, "click", link_kind="donation")  # aggregate-only events cannot be told apart
    sc.event(s, c, 1, "click", link_kind="donation")
    s.commit()


def _counts(engine) -> tuple[int, ...]:
    t = campaign_report(engine, "repeat").total
    raw = (t.clicks_raw, t.clicks_human, t.donation_clicks, t.donation_clicks_raw)
    return (*raw, t.human_clickers, t.donors)


def test_repeats_count_in_no_figure_whatever_the_fold_batches(engine) -> None:
    with Session(engine) as s:
        _build(s)
    # clicks: bot + a(1, 6 content, 16) + b(2) + 2 anonymous = 7; human 6; donation human 5
    expected = (7, 6, 5, 6, 2 + 2, 2 + 2)
    assert _counts(engine) == expected
    rollup.rebuild(engine, batch=2)  # two events per fold: the same figures
    assert _counts(engine) == expected
