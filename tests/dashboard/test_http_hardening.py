"""HTTP hardening of ``wildmail serve`` (issue 14 items 10 and 11), crawling the app's own route table.

Every route is enumerated from the app, so a route added later is covered without touching
these tests: bad path parameters never give a 5xx (and a number out of the database's range is a
404), and every response, whatever produced it, carries the security headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from subscribers import optin
from subscribers.lifecycle import create_list, find_subscriber
from tests.dashboard.conftest import csrf_of, log_in
from tests.tracking.conftest import make_world
from wildmail.core import tokens
from wildmail.core.db import write_transaction

BAD_VALUES = ("99999999999999999999", "-1", "abc")
PUBLIC_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style|\sstyle\s*=", re.IGNORECASE)


@dataclass
class Site:
    client: TestClient
    values: dict[str, str]  # a valid value for each path parameter name, by route prefix below
    list_slug: str
    campaign_slug: str

    def value(self, path: str, name: str) -> str:
        """A value for parameter ``name`` of route ``path`` that names something that exists."""
        if name == "slug":
            lists = path.startswith(("/dashboard/lists", "/subscribe", "/dashboard/subscribers/lists"))
            return self.list_slug if lists else self.campaign_slug
        if name == "token":
            return self.values[path.split("/")[1]]
        return self.values[name]

    def form(self) -> dict[str, str]:
        """Both CSRF tokens (dashboard and public forms), so POSTs get past the token check."""
        dashboard = csrf_of(self.client.get("/dashboard/lists").text)
        public = PUBLIC_CSRF.search(self.client.get(f"/subscribe/{self.list_slug}").text)
        assert public
        return {"csrf": dashboard, "csrf_token": public.group(1), "position": "1", "email": "x@example.org"}


@pytest.fixture
def site(client, users, ctx, seed_article) -> Site:
    log_in(client, users["admin"])
    token = csrf_of(client.get("/dashboard/campaigns/new").text)
    with seed_article.open("rb") as fh:
        made = client.post(
            "/dashboard/campaigns/new",
            data={"csrf": token, "name": "Leopard Series"},
            files={"article": (seed_article.name, fh, "text/plain")},
            follow_redirects=False,
        )
    assert made.status_code == 303, made.text
    world = make_world(ctx.engine, ctx.settings.secret, ctx.clock.now(), slug="tracked")
    with write_transaction(ctx.engine) as s:
        create_list(s, "friends", "Friends", double_opt_in=True, at=ctx.clock.now())
    with Session(ctx.engine) as s:
        sub = find_subscriber(s, "reader0.tracked@example.org")
        assert sub is not None
        confirm = optin.confirmation_url(ctx.settings, sub.id, 1, ctx.clock.now()).rsplit("/", 1)[1]
    values = {
        "o": world.open_path().removeprefix("/o/"),
        "c": world.click_path("content").removeprefix("/c/"),
        "u": world.unsubscribe_path().removeprefix("/u/"),
        "v": tokens.view_url("", ctx.settings.secret, world.email_id).removeprefix("/v/"),
        "confirm": confirm,
        "position": "1",
        "action": "pause",
        "subscriber_id": str(sub.id),
        "job_id": "no-such-job",
        "name": "0" * 64 + ".png",  # /media/<name>: a well-formed picture name that is not stored
        "part": "1-intro",  # /archive/<slug>/<part>: an email's archive address (the campaign is private)
        "endpoint_id": "1",  # no webhook endpoint yet: the 404 must carry the headers too
        "delivery_id": "1",
        "keep": "not-a-signed-token",  # /keep/<token>: the re-engagement keep page refuses it
    }
    return Site(client, values, "friends", "leopard-series")


def _walk(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # include_router()
            yield from _walk(included.routes)


def _api_routes(client: TestClient) -> list[APIRoute]:
    """Every route of the app (its routers are included without a prefix)."""
    routes = list(_walk(client.app.api.routes))  # type: ignore[attr-defined]
    assert len(routes) > 20  # the whole app, not one router
    return routes


def _int_params(route: APIRoute) -> set[str]:
    return {p.name for p in route.dependant.path_params if p.field_info.annotation is int}


def _fill(site: Site, route: APIRoute, **given: str) -> str:
    return re.sub(
        r"{(\w+)(?::\w+)?}", lambda m: given.get(m.group(1)) or site.value(route.path, m.group(1)), route.path
    )


def _call(site: Site, method: str, path: str, form: dict[str, str]) -> Response:
    if method == "POST":
        response: Response = site.client.post(path, data=form, follow_redirects=False)
    else:
        response = site.client.request(method, path, follow_redirects=False)
    return response


def test_bad_path_parameters_never_give_a_server_error(site) -> None:
    form = site.form()
    checked = 0
    for route in _api_routes(site.client):
        names = re.findall(r"{(\w+)", route.path)
        for name in names:
            for bad in BAD_VALUES:
                path = _fill(site, route, **{name: bad})
                for method in sorted(route.methods or ()):
                    r = _call(site, method, path, form)
                    assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:200]}"
                    if name in _int_params(route):
                        assert r.status_code == 404, f"{method} {path}: {r.status_code}"
                    checked += 1
    assert checked > 50


def test_out_of_range_numbers_in_forms_are_refused_not_blamed_on_the_relay(site, ctx) -> None:
    """The test-send position and the preferences page's list ids are numbers from the browser too."""
    form = site.form()
    for position in BAD_VALUES:
        r = site.client.post(
            f"/dashboard/campaigns/{site.campaign_slug}/test", data={**form, "position": position}
        )
        assert r.status_code == 400 and "mail relay" not in r.text, (position, r.status_code, r.text[:300])
    page = site.client.get(f"/u/{site.values['u']}/preferences")
    token = PUBLIC_CSRF.search(page.text)
    assert token
    for keep in BAD_VALUES:
        r = site.client.post(
            f"/u/{site.values['u']}/preferences", data={"csrf_token": token.group(1), "keep": keep}
        )
        assert r.status_code == 400, (keep, r.status_code, r.text[:300])


# --- item 11: security headers -------------------------------------------------------------------


def _assert_secure(r: Response, what: str) -> None:
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("referrer-policy") in ("no-referrer", "strict-origin-when-cross-origin", "same-origin"), what
    assert h.get("x-frame-options") in ("DENY", "SAMEORIGIN"), what
    csp = h.get("content-security-policy", "")
    directives: dict[str, str] = {}
    for directive in csp.split(";"):
        name, _, value = directive.strip().partition(" ")
        directives[name] = value
    assert "frame-ancestors" in directives, f"{what}: {csp!r}"
    assert directives["frame-ancestors"] in ("'none'", "'self'"), what
    script = directives.get("script-src", directives.get("default-src", ""))
    assert script in ("'none'", "'self'") or "sandbox" in directives, f"{what}: scripts allowed by {csp!r}"
    assert "unsafe" not in script, what
    if "text/html" in h.get("content-type", "") and "sandbox" not in directives:
        assert not INLINE_SCRIPT.search(r.text), f"{what}: inline script"
        if "'unsafe-inline'" not in directives.get("style-src", ""):
            assert not INLINE_STYLE.search(r.text), f"{what}: inline style blocked by its own policy"


def test_every_response_carries_the_security_headers(site) -> None:
    client = site.client
    seen: dict[str, Response] = {}
    calls = [(method, route) for route in _api_routes(client) for method in route.methods or ()]
    # pages first, then the forms, logging out last (it ends the session the other calls use)
    calls.sort(key=lambda call: (call[0] == "POST", call[1].path == "/logout"))
    for method, route in calls:
        seen[f"{method} {route.path}"] = _call(site, method, _fill(site, route), site.form())
    seen["static file"] = client.get("/static/wildmail.css")
    seen["static 404"] = client.get("/static/nope.css")
    seen["unknown path"] = client.get("/nowhere")
    seen["wrong method"] = client.put("/healthz")
    # answered ahead of FastAPI by the tracking shortcut (wildmail.web.tracking_routes)
    seen["pixel"] = client.get(f"/o/{site.values['o']}")
    seen["bad pixel token"] = client.get("/o/garbage.gif")
    seen["click"] = client.get(f"/c/{site.values['c']}", follow_redirects=False)
    seen["bad click token"] = client.get("/c/garbage")
    seen["click, wrong method"] = client.post(f"/c/{site.values['c']}")
    seen["dashboard while logged out"] = TestClient(client.app).get("/dashboard", follow_redirects=False)
    for what, r in seen.items():
        _assert_secure(r, f"{what} -> {r.status_code}")
    statuses = {r.status_code for r in seen.values()}
    assert {200, 302, 303, 404, 405} <= statuses  # pages, redirects and errors were all looked at
    assert seen["pixel"].headers["content-type"] == "image/gif"  # the pixel shortcut
    assert seen["click"].status_code == 302  # the click redirect
    assert seen["click"].headers["referrer-policy"] == "no-referrer"
    assert seen["bad click token"].status_code == 404 and seen["click, wrong method"].status_code == 405
    assert "text/csv" in seen["GET /dashboard/export.csv"].headers["content-type"]


def test_only_the_email_preview_may_be_framed_and_only_by_the_dashboard(site) -> None:
    base = f"/dashboard/campaigns/{site.campaign_slug}/emails/1"
    page = site.client.get(f"{base}/preview")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "frame-src 'self'" in page.headers["content-security-policy"]  # it frames the preview
    framed = site.client.get(f"{base}/preview.html")
    assert "frame-ancestors 'self'" in framed.headers["content-security-policy"]
    assert framed.headers["x-frame-options"] == "SAMEORIGIN"


def test_the_pixel_fast_path_carries_the_headers_under_uvicorn(ctx) -> None:
    """The pixel and clicks are answered before FastAPI (``TrackingShortcut``): check on a real server."""
    import httpx

    from wildmail.runtime.smtp_sink import free_port
    from wildmail.web.app import create_app
    from wildmail.web.serving import ServerThread

    world = make_world(ctx.engine, ctx.settings.secret, ctx.clock.now(), slug="fast")
    server = ServerThread(create_app(ctx), port=free_port()).start()
    try:
        for path in (
            world.open_path(),
            tokens.open_url("", b"wrong-key", 1),
            world.click_path("content"),
            tokens.click_url("", b"wrong-key", 1, 1),
        ):
            r = httpx.get(server.url + path)
            _assert_secure(r, f"{path[:3]} {r.status_code}")
    finally:
        server.stop()
