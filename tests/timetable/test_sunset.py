"""Sunset and re-engagement on the fake clock: real tick, worker, SMTP server, HTTP opens and the
keep button over HTTP.

The list sunsets after 3 silent emails with 14 days to answer. Five readers of a weekly Monday
series: Sam never reads, Kim never reads but presses "keep", Ria reads once after the
re-engagement email, Uma's mail is only fetched by Apple's privacy proxy (machine opens: unknown),
Hal reads the first three weeks.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from delivery.lifecycle import schedule_campaign
from stats.engagement import sunset_by_campaign
from subscribers.models import ListMembership, SubscriberList
from subscribers.queries import inactive_counts
from tests.delivery.factories import add_subscribers, make_campaign
from tests.timetable.engagement_helpers import APPLE_PROXY, inbox, open_pixel, run_at
from tracking.engagement_models import Reengagement
from tracking.sunset import set_policy
from wildmail.runtime.smtp_sink import Received

pytestmark = pytest.mark.postgres
MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PEOPLE: list[tuple[str, str, str | None]] = [
    (f"{n}@example.org", n.title(), None) for n in ("sam", "kim", "ria", "uma", "hal")
]
ASK = "Do you still want Main list?"


@pytest.fixture
def settings(settings, smtp_server):
    return settings.with_overrides(smtp_port=smtp_server.port)


def week(n: int, days: int = 0, hours: int = 0) -> datetime:
    return MONDAY + timedelta(weeks=n - 1, days=days, hours=hours)


def campaign_mail(smtp_server, who: str) -> list[Received]:
    return [m for m in inbox(smtp_server, f"{who}@example.org") if m.message["Subject"].startswith("Part")]


def asks(smtp_server, who: str) -> list[Received]:
    return [m for m in inbox(smtp_server, f"{who}@example.org") if m.message["Subject"] == ASK]


def states(ctx) -> dict[int, list[str]]:
    with ctx.session() as s:
        out: dict[int, list[str]] = {}
        for sid, state in s.execute(
            select(Reengagement.subscriber_id, Reengagement.state).order_by(Reengagement.id)
        ):
            out.setdefault(sid, []).append(state)
        return out


def inactive(ctx) -> set[int]:
    with ctx.session() as s:
        return set(
            s.scalars(select(ListMembership.subscriber_id).where(ListMembership.inactive_at.is_not(None)))
        )


def test_silent_members_are_asked_once_then_kept_reactivated_or_sunset(
    ctx, clock, smtp_server, client, backend
):
    c = make_campaign(ctx, emails=8, weekday=0, hour=9)
    sam, kim, ria, uma, hal = add_subscribers(ctx, PEOPLE)
    with ctx.session() as s:
        set_policy(s.scalars(select(SubscriberList)).one(), after=3, wait_days=14)
        s.commit()
    schedule_campaign(ctx, "leopard")
    for n in (1, 2, 3):
        assert run_at(ctx, clock, smtp_server, week(n)) == 5
        clock.set(week(n, hours=1))
        open_pixel(client, campaign_mail(smtp_server, "hal")[-1])
        open_pixel(client, campaign_mail(smtp_server, "uma")[-1], agent=APPLE_PROXY)
        run_at(ctx, clock, smtp_server, week(n, hours=2))
    assert not states(ctx)  # the third email is not two days old yet
    run_at(ctx, clock, smtp_server, week(3, days=2, hours=1))
    assert states(ctx) == {sam: ["asked"], kim: ["asked"], ria: ["asked"], uma: ["unknown"]}
    assert [len(asks(smtp_server, p)) for p in ("sam", "kim", "ria", "uma", "hal")] == [1, 1, 1, 0, 0]

    # Kim follows the link: the page only shows the button (a scanner's GET keeps nobody) ...
    plain = asks(smtp_server, "kim")[0].message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    link = re.search(r"http://testserver/(keep/\S+)", text)
    assert link is not None
    path = "/" + link.group(1)
    page = client.get(path)
    assert page.status_code == 200 and 'method="post"' in page.text and "Main list" in page.text
    assert states(ctx)[kim] == ["asked"]
    assert client.post(path).status_code == 200  # ... and the POST keeps
    assert states(ctx)[kim] == ["kept"]
    assert client.post(path[:-3] + "AAA").status_code == 404  # a tampered token changes nothing

    clock.set(week(3, days=3))  # Ria reads email 3 late: reactivated
    open_pixel(client, campaign_mail(smtp_server, "ria")[-1])
    run_at(ctx, clock, smtp_server, week(3, days=3, hours=1))
    assert states(ctx)[ria] == ["reactivated"]

    assert run_at(ctx, clock, smtp_server, week(4)) == 5  # Sam is still asked: still mailed
    assert run_at(ctx, clock, smtp_server, week(5)) == 5
    run_at(ctx, clock, smtp_server, week(5, days=2, hours=2))  # 14 days without an answer
    assert states(ctx)[sam] == ["inactive"] and inactive(ctx) == {sam}
    with ctx.session() as s:
        assert inactive_counts(s) == {c.list_id: 1}
        figures = sunset_by_campaign(s, c.id)
    assert (figures["inactive"], figures["kept"], figures["reactivated"], figures["unknown"]) == (1, 1, 1, 1)

    assert run_at(ctx, clock, smtp_server, week(6)) == 4  # no more mail for Sam
    assert run_at(ctx, clock, smtp_server, week(7)) == 4
    assert len(campaign_mail(smtp_server, "sam")) == 5 and len(asks(smtp_server, "sam")) == 1
    assert len(campaign_mail(smtp_server, "kim")) == 7

    clock.set(week(7, days=1))  # Sam opens an old email after all: active again
    open_pixel(client, campaign_mail(smtp_server, "sam")[1])
    run_at(ctx, clock, smtp_server, week(7, days=1, hours=1))
    assert states(ctx)[sam] == ["reactivated"] and sam not in inactive(ctx)
    assert run_at(ctx, clock, smtp_server, week(8)) == 5
    sam_mail = campaign_mail(smtp_server, "sam")
    assert len(sam_mail) == 6 and sam_mail[-1].message["Subject"].startswith("Part 6")
    # The count starts again after an answer, and from a reader's last human open: Kim (kept in
    # week 3), Ria (read in week 3) and Hal (read weeks 1-3) are asked after emails 4-6, once each.
    assert (states(ctx)[kim], states(ctx)[ria], states(ctx)[hal]) == (
        ["kept", "asked"],
        ["reactivated", "asked"],
        ["asked"],
    )
    assert [len(asks(smtp_server, p)) for p in ("sam", "kim", "ria", "uma", "hal")] == [1, 2, 2, 0, 1]
