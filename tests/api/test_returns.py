"""Bounces and complaints as the API lists them: real DSNs and feedback reports through the intake
(``inbound.intake.process``), then ``/api/v1/bounces`` and ``/api/v1/complaints`` over real HTTP;
and a bounce's suppression lifted through the API with a note."""

from __future__ import annotations

from inbound.intake import Arrival, Intake, process
from tests.api.test_auth import _is_problem
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h


def test_bounces_and_complaints_are_listed_by_kind_and_paged(http, ctx) -> None:
    campaign = make_campaign(ctx, emails=1)
    people = add_subscribers(ctx, [("ana@example.org", "Ana", None), ("ben@example.org", "Ben", None)])
    d_ana, d_ben = h.sent_deliveries(ctx, campaign.id, people)
    intake = Intake.from_settings(ctx.settings.with_overrides(bounce_domain=h.BOUNCE_DOMAIN))
    for raw, delivery_id in ((h.dsn("ana@example.org"), d_ana), (h.arf("ben@example.org"), d_ben)):
        process(ctx.engine, intake, Arrival(raw, "file", (h.return_path(ctx, delivery_id),)), ctx.clock.now())

    bounces = http.get("/api/v1/bounces").json()
    assert [
        (b["kind"], b["subscriber_id"], b["delivery_id"], b["campaign_id"]) for b in bounces["items"]
    ] == [("hard", people[0], d_ana, campaign.id)]
    assert bounces["items"][0]["status"] == "5.1.1" and bounces["items"][0]["action"] == "suppressed"
    complaints = http.get("/api/v1/complaints").json()["items"]
    assert [(c["kind"], c["subscriber_id"]) for c in complaints] == [("complaint", people[1])]
    assert http.get("/api/v1/bounces", params={"kind": "soft"}).json()["items"] == []
    _is_problem(http.get("/api/v1/bounces", params={"kind": "complaint"}), 422)

    ana = http.get(f"/api/v1/subscribers/{people[0]}").json()
    assert ana["status"] == "bounced" and ana["suppression"]["reason"] == "bounced"
    no_note = _is_problem(http.delete("/api/v1/suppressions/ana@example.org"), 409)
    assert "a note is required" in no_note["detail"]
    lifted = http.delete("/api/v1/suppressions/ana@example.org", params={"note": "mailbox works again"})
    assert lifted.status_code == 204
    history = http.get(f"/api/v1/subscribers/{people[0]}").json()["history"]
    assert history[-1]["detail"].endswith("mailbox works again") and history[-1]["to_status"] == "active"
    complained = _is_problem(http.delete("/api/v1/suppressions/ben@example.org", params={"note": "x"}), 409)
    assert "only their own fresh confirmation" in complained["detail"]
