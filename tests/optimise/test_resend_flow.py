"""Resend to non-openers on the timetable clock: real messages through the test SMTP server,
opens and clicks as HTTP requests, the scheduler's leader tick queueing the resend."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from campaigns.models import Campaign
from delivery.lifecycle import get_campaign, pause_campaign
from delivery.models import Delivery
from donations.intake import Attribution, checked, record_committed
from inbound.intake import MESSAGE_ID
from optimise import resend
from optimise.errors import OptimiseError
from optimise.figures import campaign_tuning
from stats.report import campaign_report
from tests.optimise.conftest import APPLE_PROXY, BROWSER, SLUG, Series, start
from wildmail.core.message_ids import RESEND_MARK

pytestmark = pytest.mark.postgres

AGAIN = "In case you missed it: the leopard's forest|Five minutes on the Amur leopard"


def _rule(series: Series, include_unknown: bool = False) -> None:
    ctx = series.ctx
    with ctx.session() as s:
        campaign = get_campaign(s, SLUG)
        resend.set_resend(
            s,
            ctx.settings,
            campaign,
            1,
            AGAIN,
            after_days=3,
            include_unknown=include_unknown,
            now=ctx.clock.now(),
        )
        s.commit()


def _by_person(messages) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in messages:
        out.setdefault(m.to, []).append(m.subject)
    return out


def test_only_non_openers_get_the_resend_once(series: Series, backend: str) -> None:
    start(series, 6)
    _rule(series)
    first = {m.to: m for m in series.run()}
    reader = [first[f"reader{i}@example.org"] for i in range(6)]
    series.later(minutes=1)
    series.open(reader[2], APPLE_PROXY)  # machine open only: unknown, no resend by default
    series.later(hours=2)
    series.open(reader[0])  # a person opened: no resend
    series.click(reader[1])  # a person clicked (without the pixel loading): no resend
    series.flush()
    series.unsubscribe(reader[3])  # one-click unsubscribe from the mail client: no resend
    series.later(days=2)
    assert series.run() == []  # not yet: 3 days
    series.later(days=1)
    resent = series.run()
    assert sorted(m.to for m in resent) == ["reader4@example.org", "reader5@example.org"]
    assert {m.subject for m in resent} == {AGAIN.split("|")[0]}
    assert all("Five minutes on the Amur leopard" in m.html for m in resent)
    # A bounce quoting only the resend's Message-ID is traced back to the resend (inbound's pattern).
    assert all((found := MESSAGE_ID.fullmatch(m.message_id)) and found[4] == RESEND_MARK for m in resent)
    series.run()  # the tick again, and again later: still once
    series.later(hours=1)
    assert series.run() == []
    with series.ctx.session() as s:
        kinds = [tuple(row) for row in s.execute(select(Delivery.kind, Delivery.state))]
        campaign_id = s.scalar(select(Campaign.id))
    assert kinds.count(("resend", "sent")) == 2 and campaign_id is not None
    (figures,) = campaign_tuning(series.ctx, campaign_id).resends
    assert (figures.sent, figures.resent, figures.engaged, figures.unknown, figures.departed) == (
        6,
        2,
        2,
        1,
        1,
    )
    # The resend has its own row in the figures, after its email's.
    series.later(minutes=5)
    series.open(resent[0])
    series.flush()
    series.later(minutes=5)
    report = campaign_report(series.ctx.engine, SLUG, series.clock)
    assert [f.position for f in report.emails][:2] == [1, -1]
    one, again = report.emails[0], report.emails[1]
    assert again.subject.startswith("resend: In case you missed it")
    assert (again.delivered, again.human_openers) == (2, 1)
    assert (one.delivered, one.human_openers) == (6, 2)


def test_machine_only_openers_are_resent_when_the_rule_says_so(series: Series) -> None:
    start(series, 2)
    _rule(series, include_unknown=True)
    sent = series.run()
    series.later(minutes=1)
    series.open(sent[0], APPLE_PROXY)
    series.flush()
    series.later(days=3)
    assert len(series.run()) == 2


def test_a_paused_campaign_sends_no_resend(series: Series) -> None:
    start(series, 2)
    _rule(series)
    series.run()
    pause_campaign(series.ctx, SLUG)
    series.later(days=3)
    assert series.run() == []


def test_bad_resend_requests_are_refused_with_the_reason(series: Series) -> None:
    ctx = series.ctx
    with ctx.session() as s:
        campaign = get_campaign(s, SLUG)
        with pytest.raises(OptimiseError, match="shorter than the series' cadence"):
            resend.set_resend(s, ctx.settings, campaign, 1, AGAIN, after_days=7, now=ctx.clock.now())
        with pytest.raises(OptimiseError, match="no email 9"):
            resend.set_resend(s, ctx.settings, campaign, 9, AGAIN, after_days=2, now=ctx.clock.now())
        with pytest.raises(OptimiseError, match="line break"):
            resend.set_resend(
                s, ctx.settings, campaign, 1, "Hi\r\nBcc: x@y", after_days=2, now=ctx.clock.now()
            )


def test_a_donation_through_the_resend_counts_on_the_resend_row(series: Series) -> None:
    start(series, 1)
    _rule(series)
    series.run()
    series.later(days=3)
    (resent,) = series.run()
    donate = ""
    for url in resent.clicks:  # the reader follows links one at a time until the donation link
        series.later(minutes=2)
        donate = series.client.get(url, headers={"User-Agent": BROWSER}, follow_redirects=False).headers[
            "location"
        ]
        if donate.startswith("https://donate.example.org/"):
            break
    gift_at = series.clock.now()
    cid = parse_qs(urlsplit(donate).query)["wm_cid"][0]
    item = checked(
        source="test", external_id="gift-1", amount=2500, currency_code="EUR", donated_at=gift_at, wm_cid=cid
    )
    recorded = record_committed(
        series.ctx.engine, item, Attribution.from_settings(series.ctx.settings), gift_at
    )
    assert recorded.match == "click_id"
    series.flush()
    series.later(minutes=5)
    report = campaign_report(series.ctx.engine, SLUG, series.clock)
    one, again = report.emails[0], report.emails[1]
    assert again.position == -1 and (again.donors, again.donations, again.converted) == (1, 1, 1)
    assert again.raised == {"EUR": 2500} and again.donation_conversion == 1.0
    assert (one.donors, one.donations, one.converted, one.raised) == (0, 0, 0, {})
    assert (report.total.donations, report.total.converted, report.total.raised) == (1, 1, {"EUR": 2500})
