"""One CSRF scheme for every form: the public pages and the dashboard make and check the same token."""

from __future__ import annotations

import re

from subscribers.lifecycle import create_list, get_list
from tests.dashboard.conftest import csrf_of, log_in
from wildmail.core.db import write_transaction

PUBLIC_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _public_token(client) -> str:
    match = PUBLIC_CSRF.search(client.get("/subscribe/news").text)
    assert match
    return match.group(1)


def test_a_token_from_either_kind_of_page_passes_the_other_kinds_check(client, ctx, users) -> None:
    with write_transaction(ctx.engine) as s:
        create_list(s, "news", "News", double_opt_in=False, at=ctx.clock.now())
    assert log_in(client, users["marketer"]).status_code == 303
    public = _public_token(client)
    made = client.post("/dashboard/lists", data={"slug": "otters", "csrf": public}, follow_redirects=False)
    assert made.status_code == 303
    dashboard = csrf_of(client.get("/dashboard/lists").text)
    page = client.post("/subscribe/news", data={"email": "ann@example.org", "csrf_token": dashboard})
    assert page.status_code == 200 and "subscription is active" in page.text
    with write_transaction(ctx.engine) as s:
        assert get_list(s, "otters") is not None


def test_a_dashboard_token_is_refused_for_another_browser_or_once_old(client, ctx, users, clock) -> None:
    assert log_in(client, users["marketer"]).status_code == 303
    token = csrf_of(client.get("/dashboard/lists").text)
    nonce = client.cookies["wm_csrf"]
    client.cookies.set("wm_csrf", "x" * 32)  # another browser's nonce
    refused = client.post("/dashboard/lists", data={"slug": "otters", "csrf": token})
    assert refused.status_code == 403
    client.cookies.set("wm_csrf", nonce)
    clock.advance(hours=11)  # the session (12 hours) still lives; the token's window has not closed
    assert (
        client.post(
            "/dashboard/lists", data={"slug": "otters", "csrf": token}, follow_redirects=False
        ).status_code
        == 303
    )
