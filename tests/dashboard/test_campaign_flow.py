"""The campaign flow's forms over HTTP: schedule on a chosen day through the confirmation,
duplicate, delete (refused once anything was sent), the job page of a schedule."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from tests.dashboard.conftest import csrf_of, log_in, post_form
from tests.stats import scenario as sc

ARTICLE = "Leopards live in the forests of the Far East.\n\nThey need room to roam, and quiet."


def _draft(client, name: str = "Forest Cats", list_slug: str = "friends") -> str:
    post_form(client, "/dashboard/lists", "/dashboard/lists", {"slug": list_slug, "name": "Friends"})
    token = csrf_of(client.get("/dashboard/lists").text)
    client.post(
        f"/dashboard/lists/{list_slug}/import",
        data={"csrf": token, "status": "active"},
        files={"file": ("p.csv", b"email\nana@example.org\nbo@example.org\n", "text/csv")},
    )
    token = csrf_of(client.get("/dashboard/campaigns/new").text)
    r = client.post(
        "/dashboard/campaigns/new",
        data={"csrf": token, "name": name, "text": ARTICLE, "list": list_slug},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    return location.split("?")[0]


def _status(engine, slug: str) -> str:
    with Session(engine) as s:
        return s.scalars(select(Campaign.status).where(Campaign.slug == slug)).one()


def test_schedule_on_a_chosen_day_through_the_confirmation(client, users, engine) -> None:
    log_in(client, users["marketer"])
    url = _draft(client)
    bad = post_form(client, url, f"{url}/review", {"when": "date", "start_date": "next week"})
    assert bad.status_code == 400 and "choose the day email 1 goes out" in bad.text
    past = post_form(client, url, f"{url}/review", {"when": "date", "start_date": "2020-01-01"})
    assert past.status_code == 400 and "in the past" in past.text
    review = post_form(client, url, f"{url}/review", {"when": "date", "start_date": "2026-02-03"})
    assert review.status_code == 200 and 'id="recipients">2<' in review.text
    assert "Tue 03 Feb 2026, 09:00 UTC" in review.text  # the first Tuesday 09:00 slot on or after it
    assert 'name="start_date" value="2026-02-03"' in review.text and 'name="when" value="date"' in review.text
    assert _status(engine, "forest-cats") == "draft"
    done = post_form(client, url, f"{url}/start", {"when": "date", "start_date": "2026-02-03"})
    assert done.status_code == 303 and done.headers["location"] == f"{url}?done=started"
    page = client.get(url).text
    assert 'id="status">scheduled<' in page and "from 2026-02-03" in page
    again = post_form(client, url, f"{url}/start", {"when": "now"})  # a second click: the job says why
    assert again.status_code == 400 and "already scheduled" in again.text


def test_duplicate_and_delete(client, users, engine) -> None:
    log_in(client, users["marketer"])
    url = _draft(client)
    copy = post_form(client, url, f"{url}/duplicate")
    assert (
        copy.status_code == 303
        and copy.headers["location"] == "/dashboard/campaigns/forest-cats-copy?done=duplicated"
    )
    page = client.get(copy.headers["location"]).text
    assert "Forest Cats (copy)" in page and 'id="status">draft<' in page and "Campaign duplicated" in page
    twice = post_form(client, url, f"{url}/duplicate")
    assert twice.status_code == 400 and "already exists" in twice.text
    gone = post_form(
        client, "/dashboard/campaigns/forest-cats-copy", "/dashboard/campaigns/forest-cats-copy/delete"
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/dashboard?done=deleted"
    assert client.get("/dashboard/campaigns/forest-cats-copy").status_code == 404
    assert post_form(client, url, "/dashboard/campaigns/forest-cats-copy/delete").status_code == 404


def test_a_campaign_that_sent_cannot_be_deleted(client, users, engine) -> None:
    with Session(engine) as s:
        c = sc.campaign(s, "sent", 1)
        sc.deliver(s, c, 1, sc.subscribers(s, 1)[0])
        s.commit()
    log_in(client, users["marketer"])
    page = client.get("/dashboard/campaigns/sent").text
    assert "Delete…" not in page and "Duplicate" in page  # no delete button once sent
    r = post_form(client, "/dashboard/campaigns/sent", "/dashboard/campaigns/sent/delete")
    assert r.status_code == 400 and "already has deliveries" in r.text
    assert client.get("/dashboard/campaigns/sent").status_code == 200
