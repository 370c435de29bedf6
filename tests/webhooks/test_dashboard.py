"""The admin's Webhooks pages over real HTTP (the ASGI app): add with the secret shown once, the
delivery log, Resend and the test ping reaching a real receiver, CSRF and roles."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import fast_hashing, log_in, post_form  # noqa: F401 (autouse fixture)
from webhooks.models import WebhookDelivery
from wildmail.core.db import write_transaction
from wildmail.core.outbox import EventType, emit
from wildmail.runtime.users import add_user
from wildmail.web.app import create_app

pytestmark = pytest.mark.postgres

SECRET = re.compile(r'value="(whsec_[A-Za-z0-9+/=]+)"')


@pytest.fixture
def web(hooks_ctx) -> Iterator[TestClient]:
    with write_transaction(hooks_ctx.engine) as s:
        for role in ("staff", "admin"):
            add_user(s, f"{role}@example.org", role, "correct-horse-battery", hooks_ctx.clock.now())
    with TestClient(create_app(hooks_ctx), base_url="http://testserver") as c:
        yield c


def test_only_admins_see_webhooks(web) -> None:
    log_in(web, "staff@example.org", "correct-horse-battery")
    assert web.get("/dashboard/webhooks").status_code == 403
    assert "/dashboard/webhooks" not in web.get("/dashboard").text


def test_add_log_resend_test_and_remove(web, hooks_ctx, dispatcher, receiver) -> None:
    log_in(web, "admin@example.org", "correct-horse-battery")
    page = web.get("/dashboard/webhooks")
    assert page.status_code == 200 and 'href="/dashboard/webhooks" aria-current="page"' in page.text

    bad = post_form(
        web, "/dashboard/webhooks", "/dashboard/webhooks", {"url": "gopher://x", "events": "bounce"}
    )
    assert bad.status_code == 400 and "http:// or https://" in bad.text and 'value="gopher://x"' in bad.text
    refused = web.post("/dashboard/webhooks", data={"url": receiver.url, "events": "bounce"})
    assert refused.status_code == 403  # no CSRF token

    token = re.search(r'name="csrf" value="([^"]+)"', web.get("/dashboard/webhooks").text)
    assert token is not None
    added = web.post(
        "/dashboard/webhooks",
        data={
            "csrf": token.group(1),
            "url": receiver.url,
            "events": ["bounce", "complaint"],
            "description": "CRM",
        },
    )
    assert added.status_code == 200
    shown = SECRET.findall(added.text)
    assert len(shown) == 1
    receiver.secret = shown[0]
    again = web.get("/dashboard/webhooks").text
    assert receiver.url in again and "bounce, complaint" in again and receiver.secret not in again

    with write_transaction(hooks_ctx.engine) as s:
        emit(s, EventType.BOUNCE, {"subscriber_id": 5, "kind": "hard"}, hooks_ctx.clock.now())
    dispatcher.until_idle()
    with hooks_ctx.session() as s:
        (first,) = s.query(WebhookDelivery).all()
    log = web.get(f"/dashboard/webhooks/{first.endpoint_id}").text
    assert "bounce" in log and "delivered" in log and "Resend" in log

    resent = post_form(
        web, f"/dashboard/webhooks/{first.endpoint_id}", f"/dashboard/webhooks/deliveries/{first.id}/resend"
    )
    assert resent.status_code == 303
    assert "Queued again" in web.get(resent.headers["location"]).text
    tested = post_form(
        web, f"/dashboard/webhooks/{first.endpoint_id}", f"/dashboard/webhooks/{first.endpoint_id}/test"
    )
    assert tested.status_code == 303
    assert dispatcher.until_idle() == {"delivered": 2}
    assert sorted(r.document["type"] for r in receiver.received) == ["bounce", "bounce", "webhook.ping"]
    assert receiver.received[0].msg_id in {r.msg_id for r in receiver.received[1:]}
    assert all(r.signature_ok for r in receiver.received)

    assert web.get("/dashboard/webhooks/999").status_code == 404
    assert web.get("/dashboard/webhooks/not-a-number").status_code == 404
    gone = post_form(web, "/dashboard/webhooks", f"/dashboard/webhooks/{first.endpoint_id}/remove")
    assert gone.status_code == 303
    assert "No endpoint yet" in web.get(gone.headers["location"]).text
