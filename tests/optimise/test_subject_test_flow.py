"""A subject test from start to winner on the timetable clock: variants assigned by the tick,
built into the messages the relay receives, judged on human opens made over HTTP (machine opens
ignored), and the winner's subject for everyone queued afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaigns.variant_models import SubjectTest
from delivery.lifecycle import get_campaign
from delivery.models import Delivery
from optimise import subject_tests
from optimise.figures import campaign_tuning
from tests.delivery.factories import add_subscribers
from tests.optimise.conftest import APPLE_PROXY, SLUG, Series, start

pytestmark = pytest.mark.postgres

PLAIN = ("Meet the Amur leopard", "Eighty-four left in the wild")
KEEN = ("Léopards: only 100 left — will you help?", "A field report from the Russian Far East")


def _start_test(series: Series, **kw) -> None:
    ctx = series.ctx
    with ctx.session() as s:
        campaign = get_campaign(s, SLUG)
        subject_tests.start_test(s, ctx.settings, campaign, 1, [PLAIN, KEEN], now=ctx.clock.now(), **kw)
        s.commit()


def test_the_variant_people_open_wins_and_later_deliveries_get_it(series: Series, backend: str) -> None:
    start(series, 60)
    _start_test(series, criterion="human_opens", confidence=0.95, max_sample=40)
    sent = series.run()
    assert len(sent) == 60
    subjects = {m.subject for m in sent}
    assert subjects == {PLAIN[0], KEEN[0]}  # both variants went out, picked at random per delivery
    for m in sent:  # each message carries its variant's preheader in the prebuilt HTML part
        assert (PLAIN[1] if m.subject == PLAIN[0] else KEEN[1]) in m.html
    series.later(minutes=2)
    for m in sent:
        if m.subject == PLAIN[0]:
            series.open(m, APPLE_PROXY)  # the privacy proxy fetches every pixel: never a success
    series.later(hours=3)
    for m in sent:
        if m.subject == KEEN[0]:
            series.open(m)
    series.flush()
    series.later(hours=12)
    series.run()
    with series.ctx.session() as s:
        assert s.scalar(select(SubjectTest.status)) == "running"  # nothing counts before 24 h
    series.later(hours=10)
    series.run()
    tuning = campaign_tuning(series.ctx, _campaign_id(series))
    (test,) = tuning.tests
    assert test.status == "winner" and test.verdict == "winner: variant 2"
    plain, keen = test.variants
    assert keen.winner and not plain.winner
    assert plain.successes == 0 and keen.successes == keen.trials > 0
    assert plain.trials + keen.trials == 60
    assert keen.p_best > 0.99 and keen.low is not None and keen.low > plain.high  # type: ignore[operator]
    # Late joiners reach email 1 at the next Monday slot: every one of them gets the winner.
    late = add_subscribers(series.ctx, [(f"late{i}@example.org", f"Late {i}", None) for i in range(6)])
    series.run()  # enrolled, due at the next slot (Monday 09:00; it is Tuesday 09:02)
    series.later(days=6)
    fresh = series.run()
    firsts = [m for m in fresh if m.to.startswith("late")]
    assert len(firsts) == len(late) and {m.subject for m in firsts} == {KEEN[0]}
    assert all(KEEN[1] in m.html for m in firsts)
    with series.ctx.session() as s:
        winner = s.scalar(select(SubjectTest.winner_variant_id))
        rows = s.scalars(select(Delivery.variant_id).where(Delivery.subscriber_id.in_(late))).all()
    assert rows and set(rows) == {winner}


def test_no_clear_winner_keeps_the_first_variant_and_says_so(series: Series) -> None:
    start(series, 40)
    _start_test(series, criterion="human_clicks", max_sample=40)
    sent = series.run()
    series.later(hours=2)
    for m in sent[:4]:  # a few clicks, spread over both variants by chance: far from conclusive
        series.click(m)
    series.flush()
    series.later(hours=25)
    series.run()
    (test,) = campaign_tuning(series.ctx, _campaign_id(series)).tests
    assert test.status == "no_winner"
    assert test.verdict == "no clear winner after 40 trials: variant 1 kept"
    assert [v.winner for v in test.variants] == [True, False]


def test_stopping_by_hand_sends_the_chosen_variant(series: Series) -> None:
    start(series, 3)
    _start_test(series)
    with series.ctx.session() as s:
        subject_tests.stop_test(s, get_campaign(s, SLUG), 1, series.clock.now(), winner=2)
        s.commit()
    assert {m.subject for m in series.run()} == {KEEN[0]}


def _campaign_id(series: Series) -> int:
    with series.ctx.session() as s:
        return get_campaign(s, SLUG).id
