"""The admin page for REST API tokens: make one (shown once), use it, revoke it; admins only, CSRF."""

from __future__ import annotations

import re

from tests.dashboard.conftest import log_in, post_form

TOKEN = re.compile(r"wm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_an_admin_makes_a_token_sees_it_once_and_revokes_it(client, users) -> None:
    assert log_in(client, users["admin"]).status_code == 303
    form = {"name": "crm", "scope-subscribers:write": "1", "scope-stats:read": "1"}
    made = post_form(client, "/dashboard/api-tokens", "/dashboard/api-tokens", form)
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    (token,) = set(TOKEN.findall(made.text))
    api = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/subscribers", headers=api).status_code == 200
    assert client.get("/api/v1/lists", headers=api).status_code == 403
    page = client.get("/dashboard/api-tokens")
    assert "crm" in page.text and "stats:read, subscribers:write" in page.text
    assert token.rsplit("_", 1)[1] not in page.text and not TOKEN.search(page.text)
    public_id = token.split("_")[1]
    revoked = post_form(client, "/dashboard/api-tokens", "/dashboard/api-tokens/revoke", {"id": public_id})
    assert revoked.status_code == 303
    assert client.get("/api/v1/subscribers", headers=api).status_code == 401
    assert "API token revoked" in client.get(revoked.headers["location"]).text


def test_a_bad_form_is_shown_again_and_only_admins_see_the_page(client, users) -> None:
    log_in(client, users["admin"])
    refused = post_form(client, "/dashboard/api-tokens", "/dashboard/api-tokens", {"name": "crm"})
    assert refused.status_code == 400 and "give at least one scope" in refused.text
    assert 'value="crm"' in refused.text
    no_csrf = client.post("/dashboard/api-tokens", data={"name": "x", "scope-stats:read": "1"})
    assert no_csrf.status_code in (400, 403) and not TOKEN.search(no_csrf.text)
    client.post("/logout", data={})
    client.cookies.clear()
    log_in(client, users["marketer"])
    assert client.get("/dashboard/api-tokens").status_code == 403
