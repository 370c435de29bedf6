"""Subscriber pages over HTTP: member list, person page, actions by role, exports, suppressions."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import lifecycle
from subscribers.models import ConsentEvent, Subscriber, SubscriberStatus
from tests.dashboard.conftest import log_in, post_form
from tests.stats import scenario as sc
from wildmail.core.db import write_transaction

pytestmark = pytest.mark.postgres


@pytest.fixture
def people(ctx, users):
    """A list with Ana (delivered, opened by a person and a machine, clicked), Bo (bounced) and a
    formula-looking name."""
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
        lst = lifecycle.create_list(s, "amur-leopard", at=now, description="Eight short emails.")
        ana = Subscriber(
            email="ana@example.org", name="Ana Lima", status="active", created_at=now, updated_at=now
        )
        bo = Subscriber(
            email="bo@example.org", name="=HYPERLINK(1)", status="active", created_at=now, updated_at=now
        )
        s.add_all([ana, bo])
        s.flush()
        for sub in (ana, bo):
            lifecycle.add_membership(s, sub, lst.id, now)
        c = sc.campaign(s, "leopard", 2)
        d = sc.deliver(s, c, 1, ana)
        d.last_reply = "250 2.0.0 queued as 4XYZ"
        sc.event(s, c, 1, "open", delivery=d, hours=1)
        sc.event(s, c, 1, "open", delivery=d, cls="machine", hours=0)
        sc.event(s, c, 1, "click", delivery=d, link_kind="donation", hours=2)
        bounced = sc.deliver(s, c, 1, bo, state="bounced")
        bounced.last_reply = "550 5.1.1 no such user"
        lifecycle.mark_bounced(s, bo, now, detail="550 5.1.1 no such user")
        return {"ana": ana.id, "bo": bo.id}


def test_staff_searches_and_reads_a_person(client, users, people) -> None:
    log_in(client, users["staff"])
    page = client.get("/dashboard/subscribers", params={"q": "AN"})
    assert page.status_code == 200 and 'data-member="ana@example.org"' in page.text
    assert "bo@example.org" not in page.text
    by_name = client.get("/dashboard/subscribers", params={"q": "ana l", "by": "name"})
    assert 'data-member="ana@example.org"' in by_name.text
    person = client.get(f"/dashboard/subscribers/{people['ana']}")
    assert person.status_code == 200
    html = person.text
    assert "250 2.0.0 queued as 4XYZ" in html and "Subject 1" in html
    for figure, value in (("open-human", 1), ("open-machine", 1), ("click-human", 1), ("click-bot", 0)):
        assert re.search(rf'data-count="{figure}">{value}<', html), figure
    assert "Unsubscribe</button>" not in html and "Forget" not in html  # staff read only
    bo = client.get(f"/dashboard/subscribers/{people['bo']}").text
    assert "550 5.1.1 no such user" in bo and "yes: bounced" in bo


def test_person_exports(client, users, people) -> None:
    log_in(client, users["staff"])
    data = client.get(f"/dashboard/subscribers/{people['ana']}/export.json")
    assert data.status_code == 200 and "attachment" in data.headers["content-disposition"]
    assert json.loads(data.text)["subscriber"]["email"] == "ana@example.org"
    rows = dict(csv.reader(io.StringIO(client.get(f"/dashboard/subscribers/{people['bo']}/export.csv").text)))
    assert rows["subscriber.name"] == "'=HYPERLINK(1)" and rows["deliveries[0].state"] == "bounced"


def test_list_export_is_streamed_formula_safe_csv(client, users, people) -> None:
    log_in(client, users["staff"])
    assert client.get("/dashboard/subscribers/export.csv").status_code == 403
    log_in(client, users["marketer"])
    response = client.get("/dashboard/subscribers/export.csv", params={"list": "amur-leopard"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["email"] for r in rows] == ["ana@example.org", "bo@example.org"]
    assert rows[1]["name"] == "'=HYPERLINK(1)"
    assert client.get("/dashboard/subscribers/export.csv", params={"list": "nope"}).status_code == 404


def test_marketer_unsubscribes_with_csrf(client, users, people, ctx) -> None:
    log_in(client, users["marketer"])
    url = f"/dashboard/subscribers/{people['ana']}"
    assert client.post(f"{url}/unsubscribe", data={"csrf": "forged"}).status_code == 403
    done = post_form(client, url, f"{url}/unsubscribe")
    assert done.status_code == 303
    with Session(ctx.engine) as s:
        ana = s.get(Subscriber, people["ana"])
        assert ana is not None
        assert ana.status == SubscriberStatus.UNSUBSCRIBED.value and lifecycle.is_suppressed(s, ana.email)
        detail = s.scalars(select(ConsentEvent.detail).order_by(ConsentEvent.id.desc())).first()
    assert detail == "by marketer@example.org (dashboard)"
    assert "Forget" not in client.get(url).text  # admins only


def test_admin_forgets_only_with_the_typed_address(client, users, people, ctx) -> None:
    log_in(client, users["marketer"])
    url = f"/dashboard/subscribers/{people['ana']}"
    assert post_form(client, url, f"{url}/forget", {"confirm": "ana@example.org"}).status_code == 403
    log_in(client, users["admin"])
    wrong = post_form(client, url, f"{url}/forget", {"confirm": "someone@example.org"})
    assert wrong.status_code == 400 and "Nothing was erased" in wrong.text
    assert post_form(client, url, f"{url}/forget", {"confirm": " Ana@Example.org "}).status_code == 303
    with Session(ctx.engine) as s:
        ana = s.get(Subscriber, people["ana"])
        assert ana is not None
        assert ana.forgotten_at is not None and ana.email.startswith("forgotten-")
    assert client.get(url).status_code == 404
    assert "ana@example.org" not in client.get("/dashboard/subscribers").text


def test_admin_lifts_a_bounce_with_a_note(client, users, people, ctx) -> None:
    log_in(client, users["admin"])
    listing = client.get("/dashboard/subscribers/suppressions", params={"reason": "bounced"})
    assert "bo@example.org" in listing.text and "550 5.1.1" in listing.text
    url = f"/dashboard/subscribers/{people['bo']}"
    empty = post_form(client, url, f"{url}/lift", {"note": "  "})
    assert empty.status_code == 400 and "a note is required" in empty.text
    lifted = post_form(client, url, f"{url}/lift", {"note": "relay incident 3 Jan", "back": "suppressions"})
    assert lifted.status_code == 303 and lifted.headers["location"].startswith(
        "/dashboard/subscribers/suppressions"
    )
    with Session(ctx.engine) as s:
        bo = s.get(Subscriber, people["bo"])
        assert bo is not None
        assert bo.status == "active" and not lifecycle.is_suppressed(s, bo.email)
        note = s.scalars(select(ConsentEvent.detail).order_by(ConsentEvent.id.desc())).first()
    assert note == "suppression lifted by admin@example.org (dashboard): relay incident 3 Jan"
    log_in(client, users["marketer"])
    assert client.get("/dashboard/subscribers/suppressions").status_code == 403


def test_list_page_has_signup_url_embed_code_and_editable_texts(client, users, people, ctx) -> None:
    log_in(client, users["marketer"])
    page = client.get("/dashboard/subscribers", params={"list": "amur-leopard"})
    assert page.status_code == 200
    assert "<h1>Amur leopard</h1>" in page.text and "Eight short emails." in page.text
    assert "http://testserver/subscribe/amur-leopard" in page.text
    assert (
        "&lt;form method=&#34;get&#34; action=&#34;http://testserver/subscribe/amur-leopard&#34;" in page.text
    )
    url = "/dashboard/subscribers?list=amur-leopard"
    saved = post_form(
        client, url, "/dashboard/subscribers/lists/amur-leopard",
        {"name": "Amur leopard stories", "description": "One story a week for eight weeks."},
    )  # fmt: skip
    assert saved.status_code == 303
    bad = post_form(client, url, "/dashboard/subscribers/lists/amur-leopard", {"name": " "})
    assert bad.status_code == 400 and "must not be empty" in bad.text
    public = client.get("/subscribe/amur-leopard").text
    assert "Amur leopard stories" in public and "One story a week for eight weeks." in public
    assert client.get("/dashboard/subscribers", params={"list": "nope"}).status_code == 404


def test_pages_need_login_and_bad_ids_are_404(client, users, people) -> None:
    first = client.get("/dashboard/subscribers", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    log_in(client, users["staff"])
    assert client.get("/dashboard/subscribers/99999999999999999999").status_code == 404
    assert client.get("/dashboard/subscribers/12345").status_code == 404
    assert (
        client.get("/dashboard/subscribers", params={"after": "junk", "status": "weird"}).status_code == 200
    )
