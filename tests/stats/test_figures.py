"""Stats figures on hand-built scenarios, every number worked out from tests/stats/scenario.py."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from stats import rollup
from stats.report import UnknownCampaign, campaign_report, overview
from tests.stats import scenario as sc

pytestmark = pytest.mark.postgres


def _figures(engine):
    with Session(engine) as s:
        sc.build_leopard(s)
    return campaign_report(engine, "leopard")


def test_email_one_figures(engine) -> None:
    e1 = _figures(engine).emails[0]
    assert (e1.sent, e1.bounced, e1.unknown, e1.delivered) == (6, 1, 1, 5)
    assert (e1.human_openers, e1.machine_openers) == (3, 2)  # s1, s3, s6 / s2, s3
    assert (e1.human_clickers, e1.donors, e1.donation_clicks) == (2, 1, 2)
    assert (e1.opens_human, e1.opens_implied, e1.opens_machine, e1.opens_raw) == (3, 2, 2, 5)
    assert (e1.clicks_raw, e1.clicks_human, e1.donation_clicks_raw) == (5, 3, 2)
    assert (e1.open_rate, e1.ctr, e1.click_to_open, e1.donation_ctr) == (0.6, 0.4, 0.6667, 0.2)
    assert e1.unsubscribe_rate == 0.0


def test_later_emails_total_and_dropoff(engine) -> None:
    r = _figures(engine)
    e2, e3 = r.emails[1], r.emails[2]
    assert (e2.sent, e2.delivered, e2.queued, e2.human_openers, e2.human_clickers) == (4, 4, 1, 2, 1)
    assert (e2.unsubscribes, e2.unsubscribe_rate, e2.open_rate) == (1, 0.25, 0.5)
    assert (e3.sent, e3.suppressed, e3.human_openers, e3.open_rate) == (2, 1, 1, 0.5)
    t = r.total
    assert (t.sent, t.delivered, t.bounced, t.unknown, t.queued, t.suppressed) == (12, 11, 1, 1, 1, 1)
    assert (t.human_openers, t.machine_openers, t.human_clickers, t.donors, t.unsubscribes) == (6, 2, 3, 1, 1)
    assert t.open_rate == round(6 / 11, 4)
    steps = [(x.position, x.received, x.opened, x.received_share, x.opened_share) for x in r.dropoff]
    assert steps == [(1, 5, 3, 1.0, 0.6), (2, 4, 2, 0.8, 0.4), (3, 2, 1, 0.4, 0.2)]


def test_timeline_and_top_links(engine) -> None:
    r = _figures(engine)
    daily = {b.start.day: (b.opens, b.clicks, b.donations, b.unsubscribes) for b in r.daily}
    # Jan 5: s1 opens x2 + implied, s3 open; click s1. Jan 6: s6 implied open, 2 donation clicks.
    assert daily == {5: (4, 1, 0, 0), 6: (1, 2, 2, 0), 12: (1, 1, 0, 1), 19: (1, 0, 0, 0)}
    hour11 = next(b for b in r.hourly if b.start.day == 5 and b.start.hour == 11)
    assert (hour11.opens, hour11.clicks) == (2, 1)
    top = [(x.position, x.kind, x.human_clicks, x.all_clicks) for x in r.top_links]
    # the bot-trap (honeypot) link was clicked once, by a bot: never listed as content
    assert top == [(1, "donation", 2, 2), (1, "content", 1, 2), (2, "content", 1, 1)]


def test_aggregate_only_campaign_counts_events_as_uniques(engine) -> None:
    with Session(engine) as s:
        sc.build_anonymous(s)
    t = campaign_report(engine, "anon").total
    assert (t.delivered, t.human_openers, t.machine_openers) == (4, 4, 1)
    assert (t.human_clickers, t.donors, t.donation_clicks, t.unsubscribes, t.clicks_raw) == (2, 1, 1, 1, 3)
    assert (t.open_rate, t.ctr, t.click_to_open, t.donation_ctr) == (1.0, 0.5, 0.5, 0.25)


def test_incremental_refresh_matches_rebuild(engine) -> None:
    with Session(engine) as s:
        c = sc.build_leopard(s)
        first = campaign_report(engine, "leopard").as_dict()
        assert rollup.refresh(engine) == 0
        d = c.emails[1]
        # new events for an existing mark (s4 on email 2) arrive after a report
        s4 = s.query(sc.Subscriber).filter_by(email="s4@example.org").one()
        delivery = s.query(sc.Delivery).filter_by(email_id=d.id, subscriber_id=s4.id).one()
        sc.event(s, c, 2, "open", delivery=delivery, hours=200)
        sc.event(s, c, 2, "open", delivery=delivery, hours=201)
        s.commit()
    second = campaign_report(engine, "leopard")
    assert second.emails[1].human_openers == first["emails"][1]["human_openers"] + 1
    assert second.emails[1].opens_human == first["emails"][1]["opens_human"] + 2
    before = second.as_dict()
    rollup.rebuild(engine)
    after = campaign_report(engine, "leopard").as_dict()
    before.pop("generated_at"), after.pop("generated_at")
    assert before == after


def test_small_batches_give_the_same_figures(engine) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
    assert rollup.refresh(engine, batch=3) == 16
    assert campaign_report(engine, "leopard").total.human_openers == 6


def test_overview_and_unknown_campaign(engine) -> None:
    with Session(engine) as s:
        sc.build_leopard(s)
        sc.build_anonymous(s)
    rows = {x.slug: x for x in overview(engine)}
    assert rows["leopard"].email_count == 3 and rows["leopard"].total.human_openers == 6
    assert rows["anon"].total.human_clickers == 2
    with pytest.raises(UnknownCampaign):
        campaign_report(engine, "nope")


def test_campaign_without_deliveries_or_events(engine) -> None:
    with Session(engine) as s:
        sc.campaign(s, "empty", 2)
        s.commit()
    r = campaign_report(engine, "empty")
    assert [f.position for f in r.emails] == [1, 2]
    assert r.total.open_rate is None and r.dropoff[0].received_share is None and not r.has_events


def test_rebuild_picks_up_reclassified_clicks(engine) -> None:
    """Tracking may turn a stored human click into a bot click (honeypot); rebuild reflects it."""
    with Session(engine) as s:
        sc.build_leopard(s)
        assert campaign_report(engine, "leopard").emails[1].human_clickers == 1
        click = (
            s.query(sc.Event)
            .filter_by(kind="click", email_id=s.query(sc.Email).filter_by(position=2).one().id)
            .one()
        )
        click.classification = "bot"
        s.commit()
    assert campaign_report(engine, "leopard").emails[1].human_clickers == 1  # folded once: stale
    rollup.rebuild(engine)
    e2 = campaign_report(engine, "leopard").emails[1]
    assert (e2.human_clickers, e2.human_openers, e2.clicks_raw) == (0, 1, 1)


def test_unsettled_events_wait_so_a_honeypot_reclassification_is_never_missed(engine) -> None:
    """A click younger than the settle time is not folded yet; once tracking turns it into a bot
    (honeypot hit within 10 s), the report counts it as a bot without any rebuild."""
    from datetime import timedelta

    from wildmail.core.clock import FakeClock

    with Session(engine) as s:
        sc.build_leopard(s)
        email2 = s.query(sc.Email).filter_by(position=2).one().id
        click = s.query(sc.Event).filter_by(kind="click", email_id=email2).one()
        click_id, click_at = click.id, click.at
        s.commit()
    clock = FakeClock(click_at + timedelta(seconds=3))
    early = campaign_report(engine, "leopard", clock).emails[1]
    assert early.clicks_raw == 0  # not settled yet, so not folded
    with Session(engine) as s:
        stored = s.get(sc.Event, click_id)
        assert stored is not None
        stored.classification = "bot"  # the honeypot rule fires a few seconds later
        s.commit()
    clock.advance(rollup.SETTLE)
    e2 = campaign_report(engine, "leopard", clock).emails[1]
    assert (e2.human_clickers, e2.clicks_raw) == (0, 1)
