"""The full flow a CRM or website runs against the API, over real HTTP and real SMTP: create a list,
subscribe people (double opt-in and as confirmed), a campaign from an article upload, edit and
preview an email, schedule it, send (the tick and a worker), then status and the stats, which are
``wildmail stats``'s figures. Also the bulk import job, suppressions and bounces."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.smtp_transport import SmtpTransport
from delivery.worker import Worker
from stats.report import campaign_report
from tests.api.test_auth import _is_problem
from tests.conftest import SEED
from wildmail.core.outbox import OutboxEvent


def _send_due(ctx, smtp_server) -> int:
    tick(ctx, ctx.message_ids)
    worker = Worker(ctx, SmtpTransport("127.0.0.1", smtp_server.port), ctx.sender())
    try:
        return worker.run_once()
    finally:
        worker.ledger.close()


@pytest.mark.postgres
def test_list_subscribe_campaign_schedule_send_and_stats(http, ctx, smtp_server, listening) -> None:
    created = http.post("/api/v1/lists", json={"slug": "supporters", "name": "Supporters"})
    assert created.status_code == 201 and created.headers["location"] == "/api/v1/lists/supporters"

    pending = http.post("/api/v1/subscribers", json={"email": "Ana@Example.org", "list": "supporters"})
    assert pending.json()["outcome"] == "confirmation_sent"
    assert pending.json()["subscriber"]["status"] == "pending"
    assert "Please confirm" in smtp_server.messages[0].message["Subject"]
    ada = http.post(
        "/api/v1/subscribers",
        json={"email": "ada@example.org", "list": "supporters", "name": "Ada", "timezone": "Europe/London",
              "attributes": {"member": True, "since": 2019}, "confirmed": True},
    )  # fmt: skip
    assert ada.status_code == 201 and ada.json()["outcome"] == "activated"
    ada_id = ada.json()["subscriber"]["id"]
    with ctx.session() as s:  # added as confirmed, she is announced like anyone created
        created = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "subscriber.created")).all()
        assert ada_id in [e.payload["subscriber_id"] for e in created]

    with SEED.open("rb") as article:
        campaign = http.post(
            "/api/v1/campaigns",
            files={"article": ("amur-leopard.txt", article, "text/plain")},
            data={
                "name": "Amur leopard",
                "list": "supporters",
                "donation_url": "https://donate.example.org/x",
            },
        )
    assert campaign.status_code == 201, campaign.text
    emails = campaign.json()["emails"]
    assert campaign.json()["status"] == "draft" and len(emails) >= 2
    edited = http.patch("/api/v1/campaigns/amur-leopard/emails/1", json={"subject": "The leopard's forest"})
    assert edited.json()["subject"] == "The leopard's forest"
    preview = http.get("/api/v1/campaigns/amur-leopard/emails/1/preview").json()
    assert preview["subject"] == "The leopard's forest" and "<html" in preview["html"]

    plan = http.post("/api/v1/campaigns/amur-leopard/schedule", json={"start": "now", "dry_run": True}).json()
    assert plan["scheduled"] is False and plan["recipients"] == 1  # Ana has not confirmed
    scheduled = http.post("/api/v1/campaigns/amur-leopard/schedule", json={"start": "now"}).json()
    assert scheduled["scheduled"] is True and scheduled["enrolled"] == 1
    _is_problem(http.post("/api/v1/campaigns/amur-leopard/schedule", json={}), 409)

    assert _send_due(ctx, smtp_server) == 1
    sent = [m for m in smtp_server.messages if m.message["Subject"] == "The leopard's forest"]
    assert [m.rcpt_tos for m in sent] == [["ada@example.org"]]

    status = http.get("/api/v1/campaigns/amur-leopard/status").json()
    assert status["status"] == "running" and status["deliveries"] == {"sent": 1}
    stats = http.get("/api/v1/campaigns/amur-leopard/stats").json()
    expected = campaign_report(ctx.engine, "amur-leopard", ctx.clock).as_dict()
    assert stats["total"] == expected["total"] and stats["emails"] == expected["emails"]
    assert stats["total"]["sent"] == stats["total"]["delivered"] == 1
    one = http.get("/api/v1/campaigns/amur-leopard/emails/1/stats").json()
    assert one == expected["emails"][0] and one["subject"] == "The leopard's forest"
    overview = http.get("/api/v1/stats").json()["items"]
    assert [(r["campaign"], r["total"]["sent"]) for r in overview] == [("amur-leopard", 1)]

    assert http.post("/api/v1/campaigns/amur-leopard/pause").json()["status"] == "paused"
    assert http.post("/api/v1/campaigns/amur-leopard/resume").json()["status"] == "running"

    person = http.get(f"/api/v1/subscribers/{ada_id}").json()
    assert person["attributes"] == {"member": True, "since": 2019}
    assert [e["to_status"] for e in person["history"]] == ["pending", "active"]
    patched = http.patch(
        f"/api/v1/subscribers/{ada_id}", json={"attributes": {"since": None, "tier": "gold"}}
    )
    assert patched.json()["attributes"] == {"member": True, "tier": "gold"}
    left = http.post(f"/api/v1/subscribers/{ada_id}/unsubscribe").json()
    assert left["changed"] is True and left["subscriber"]["status"] == "unsubscribed"
    again = http.post(
        "/api/v1/subscribers", json={"email": "ada@example.org", "list": "supporters", "confirmed": True}
    )
    assert _is_problem(again, 409)["detail"].endswith("only their own confirmation can add them again")
    suppressed = http.get("/api/v1/suppressions/ada@example.org").json()
    assert suppressed["reason"] == "unsubscribed"
    _is_problem(http.delete("/api/v1/suppressions/ada@example.org"), 409)
    assert http.delete(f"/api/v1/subscribers/{ada_id}").status_code == 204
    _is_problem(http.get(f"/api/v1/subscribers/{ada_id}"), 404)
    assert http.get("/api/v1/subscribers", params={"email": "ada@example.org"}).json()["items"] == []


def test_suppressions_added_and_removed_by_hand(http) -> None:
    added = http.post("/api/v1/suppressions", json={"email": "Old@Example.org"})
    assert added.status_code == 201 and added.json()["email"] == "old@example.org"
    assert added.json()["reason"] == "manual"
    assert http.post("/api/v1/suppressions", json={"email": "old@example.org"}).status_code == 200
    listed = http.get("/api/v1/suppressions").json()["items"]
    assert [e["address_hash"] for e in listed] == [added.json()["address_hash"]]
    assert http.delete("/api/v1/suppressions/old@example.org").status_code == 204
    _is_problem(http.get("/api/v1/suppressions/old@example.org"), 404)
    _is_problem(http.delete("/api/v1/suppressions/old@example.org"), 404)


def test_bulk_import_is_a_job_with_progress_figures_and_rejects(http) -> None:
    assert http.post("/api/v1/lists", json={"slug": "news"}).status_code == 201
    rows = "".join(f"person{n}@example.org,Person {n}\n" for n in range(50))
    csv = f"email,name\n{rows}not-an-address,Nobody\n=HYPERLINK(1),Formula\n"
    started = http.post(
        "/api/v1/lists/news/imports", files={"file": ("people.csv", csv.encode(), "text/csv")}
    )
    assert started.status_code == 202, started.text
    url = started.headers["location"]
    deadline = time.monotonic() + 30
    job = started.json()
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = http.get(url).json()
    assert job["state"] == "done", job
    assert job["figures"]["Created"] == 50 and job["rejects"] == 2
    assert [r["line"] for r in job["first_rejects"]] == [52, 53]
    rejects = http.get(f"{url}/rejects")
    assert rejects.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK(1)" in rejects.text  # formula-safe
    assert http.get("/api/v1/lists/news").json()["members"] == 50
    members = http.get("/api/v1/subscribers", params={"list": "news", "limit": 200}).json()["items"]
    assert len(members) == 50 and all(m["status"] == "active" for m in members)
    _is_problem(http.get("/api/v1/imports/nope"), 404)
    _is_problem(
        http.post("/api/v1/lists/nope/imports", files={"file": ("a.csv", b"email\n", "text/csv")}), 404
    )
    bad = http.post("/api/v1/lists/news/imports", files={"file": ("a.csv", b"email\n\xff\xfe\n", "text/csv")})
    assert _is_problem(bad, 422)["detail"] == "a.csv is not UTF-8 text"


def test_an_import_job_is_seen_only_by_its_token(api_server) -> None:
    with (
        api_server.client(api_server.make_token()) as owner,
        api_server.client(api_server.make_token()) as other,
    ):
        owner.post("/api/v1/lists", json={"slug": "news"})
        started = owner.post(
            "/api/v1/lists/news/imports", files={"file": ("a.csv", b"email\na@example.org\n")}
        )
        _is_problem(other.get(started.headers["location"]), 404)
        assert owner.get(started.headers["location"]).status_code == 200
