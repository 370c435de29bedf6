"""The send-time switch and the sunset policy in the dashboard: real HTTP, CSRF, roles."""

from __future__ import annotations

from sqlalchemy import select

from campaigns.models import Campaign
from subscribers.models import SubscriberList
from tests.dashboard.conftest import log_in, post_form
from tests.delivery.factories import make_campaign

PAGE = "/dashboard/campaigns/leopard/engagement"


def test_marketer_switches_send_time_and_sets_the_sunset_policy(client, users, ctx):
    make_campaign(ctx, emails=2)
    log_in(client, users["marketer"])
    page = client.get(PAGE)
    assert page.status_code == 200 and "Send-time optimisation" in page.text and "control" in page.text
    assert "Send time and sunset" in client.get("/dashboard/campaigns/leopard").text
    r = post_form(
        client, PAGE, "/dashboard/campaigns/leopard/send-time", {"enabled": "1", "start": "8", "end": "19"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=send-time")
    assert "Send-time optimisation saved." in client.get(r.headers["location"]).text
    with ctx.session() as s:
        c = s.scalars(select(Campaign)).one()
        assert (c.sto_enabled, c.sto_window_start, c.sto_window_end) == (True, 8, 19) and c.sto_key
    bad = post_form(
        client, PAGE, "/dashboard/campaigns/leopard/send-time", {"enabled": "1", "start": "19", "end": "8"}
    )
    assert bad.status_code == 400 and "Not saved: window" in bad.text and "19-8" in bad.text

    r = post_form(
        client, "/dashboard/lists", "/dashboard/lists/main/sunset", {"after": "6", "wait_days": "10"}
    )
    assert r.status_code == 303
    lists = client.get("/dashboard/lists").text
    assert "Inactive (sunset)" in lists and 'value="6"' in lists
    with ctx.session() as s:
        lst = s.scalars(select(SubscriberList)).one()
        assert (lst.sunset_after, lst.sunset_wait_days, lst.sunset_unknown) == (6, 10, False)
    assert "after 6 silent emails, 10 days to answer" in client.get(PAGE).text
    bad = post_form(client, "/dashboard/lists", "/dashboard/lists/main/sunset", {"after": "1"})
    assert bad.status_code == 400 and "--after 1" in bad.text


def test_without_csrf_or_as_staff_nothing_changes(client, users, ctx):
    make_campaign(ctx, emails=1)
    log_in(client, users["marketer"])
    r = client.post("/dashboard/campaigns/leopard/send-time", data={"enabled": "1"}, follow_redirects=False)
    assert r.status_code == 403
    client.post("/logout", data={}, follow_redirects=False)
    client.cookies.clear()
    log_in(client, users["staff"])
    assert (
        client.get(PAGE).status_code == 200
        and 'action="/dashboard/campaigns/leopard/send-time"' not in client.get(PAGE).text
    )
    r = post_form(client, PAGE, "/dashboard/lists/main/sunset", {"after": "6"})
    assert r.status_code == 403
    with ctx.session() as s:
        assert s.scalars(select(Campaign)).one().sto_enabled is False
        assert s.scalars(select(SubscriberList)).one().sunset_after == 0
