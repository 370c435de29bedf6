"""Every tracking endpoint over real HTTP (ASGI app through TestClient), including tampering."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.tracking.conftest import BROWSER_UA, flush
from tracking.click_ids import parse_click_id
from wildmail.core import tokens
from wildmail.core.signing import sign_ints
from wildmail.web.tracking_routes import PIXEL_GIF

UA = {"User-Agent": BROWSER_UA}


def test_pixel_is_a_gif_that_is_not_cached_and_records_one_open(client, world):
    r = client.get(world.open_path(), headers=UA)
    assert r.status_code == 200
    assert r.content == PIXEL_GIF and r.content.startswith(b"GIF89a") and len(r.content) == 43
    assert r.headers["content-type"] == "image/gif"
    assert r.headers["cache-control"] == "no-cache, max-age=0"
    flush(client)
    [event] = world.events()
    assert (event.kind, event.classification, event.delivery_id) == ("open", "human", world.deliveries[0])
    assert (event.campaign_id, event.email_id, event.link_id, event.implied) == (
        world.campaign_id,
        world.email_id,
        None,
        False,
    )
    assert event.user_agent == BROWSER_UA


def test_ip_is_stored_as_keyed_hash_only(client, world):
    client.get(world.open_path(), headers=UA)
    flush(client)
    [event] = world.events()
    assert len(event.ip_hash) == 64 and "testclient" not in event.ip_hash
    assert event.ip_hash == client.app.state.tracker.hash_ip("testclient")


def test_click_redirects_to_the_stored_url_and_records_the_click(client, world):
    r = client.get(world.click_path("content"), headers=UA, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == "https://example.org/read?x=1#top"
    flush(client)
    clicks = world.events(kind="click")
    assert [(e.link_id, e.classification) for e in clicks] == [(world.links["content"], "human")]


def test_donation_click_gets_utm_parameters_merged_into_existing_query(client, world):
    r = client.get(world.click_path("donation"), headers=UA, follow_redirects=False)
    assert r.status_code == 302
    url = urlsplit(r.headers["location"])
    assert (url.scheme, url.netloc, url.path) == ("https", "give.example", "/leopard")
    query = parse_qsl(url.query)
    assert query[:4] == [
        ("ref", "mail"),
        ("utm_source", "wildmail"),
        ("utm_medium", "email"),
        ("utm_campaign", "leopards"),
    ]
    # beside the UTM parameters, the click's signed id (issue 21: donations attributed)
    assert [name for name, _ in query[4:]] == ["wm_cid"]
    assert parse_click_id(world.key, query[4][1]) == (world.deliveries[0], world.links["donation"])


def test_donation_click_marks_the_enrolment(client, world, engine):
    from sqlalchemy import text

    client.get(world.click_path("donation"), headers=UA, follow_redirects=False)
    flush(client)
    with engine.connect() as conn:
        flags = dict(conn.execute(text("SELECT subscriber_id, donation_clicked FROM enrolments")).all())
    assert flags == {world.subscribers[0]: 1, world.subscribers[1]: 0}


def _tampered(token: str) -> list[str]:
    body, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        token[:-3],
        token[: len(token) // 2],
        body,
        f"{body}.",
        flipped and f"{body}.{flipped}",
        "",
        "x" * 600,
    ]


@pytest.mark.parametrize("case", range(7))
def test_tampered_click_tokens_get_404_and_record_nothing(client, world, case):
    token = world.click_path("content").removeprefix("/c/")
    bad = _tampered(token)[case]
    r = client.get(f"/c/{bad}", headers=UA, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert r.headers["content-type"].startswith("text/plain")
    flush(client)
    assert world.events() == []


@pytest.mark.parametrize("case", range(7))
def test_tampered_pixel_and_unsubscribe_tokens_get_404(client, world, case):
    pixel = world.open_path().removeprefix("/o/").removesuffix(".gif")
    unsub = world.unsubscribe_path().removeprefix("/u/")
    assert client.get(f"/o/{_tampered(pixel)[case]}.gif").status_code == 404
    assert client.get(f"/u/{_tampered(unsub)[case]}").status_code == 404
    r = client.post(f"/u/{_tampered(unsub)[case]}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 404
    flush(client)
    assert world.events() == []


def test_token_for_another_purpose_is_refused(client, world):
    key = client.app.state.tracker.key
    d, link = world.deliveries[0], world.links["content"]
    open_token = sign_ints(key, tokens.OPEN, d)
    unsub_token = sign_ints(key, tokens.UNSUBSCRIBE, d)
    click_as_open = sign_ints(key, tokens.OPEN, d, link)
    assert client.get(f"/c/{open_token}", follow_redirects=False).status_code == 404
    assert client.get(f"/c/{click_as_open}", follow_redirects=False).status_code == 404
    assert client.get(f"/o/{unsub_token}.gif").status_code == 404
    assert client.get(f"/u/{open_token}").status_code == 404
    flush(client)
    assert world.events() == []


def test_unknown_ids_with_valid_signature_record_nothing(client, world):
    key = client.app.state.tracker.key
    # a link that does not exist: nowhere to go
    r = client.get(tokens.click_url("", key, world.deliveries[0], 999_999), follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert client.get(tokens.unsubscribe_url("", key, 999_999)).status_code == 404
    # the pixel and the click are answered without looking up the delivery (only we can sign its
    # id); the writer drops the hits of a delivery that no longer exists
    assert client.get(tokens.open_url("", key, 999_999)).status_code == 200
    r = client.get(tokens.click_url("", key, 999_999, world.links["content"]), follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://example.org/read?x=1#top"
    flush(client)
    assert world.events() == []
    assert client.app.state.tracker.writer.stats.dropped == 2


def test_link_of_another_email_cannot_be_combined_with_a_delivery(client, world, engine, settings, clock):
    from tests.tracking.conftest import make_world

    other = make_world(engine, settings.secret, clock.now(), recipients=1, slug="tigers")
    key = client.app.state.tracker.key
    r = client.get(
        tokens.click_url("", key, world.deliveries[0], other.links["content"]), follow_redirects=False
    )
    assert r.status_code == 302  # the link's own URL (never a URL from the request)
    flush(client)
    assert world.events() == [] and other.events() == []
    assert client.app.state.tracker.writer.stats.dropped == 1


@pytest.mark.parametrize(
    "suffix",
    [
        "https://evil.example/",
        "?url=https://evil.example/",
        "/https://evil.example",
        "?next=//evil.example",
        "%2F%2Fevil.example",
    ],
)
def test_open_redirect_attempts_fail(client, world, suffix):
    path = world.click_path("content")
    r = client.get(path + suffix, follow_redirects=False)
    if r.status_code == 302:  # a query string is ignored: the destination is still the Link row's
        assert r.headers["location"] == "https://example.org/read?x=1#top"
    else:
        assert r.status_code == 404 and "location" not in r.headers


def test_swapping_the_payload_of_a_valid_token_fails(client, world):
    """Take the signature of a valid click token and put another (delivery, link) in front."""
    key = client.app.state.tracker.key
    good = tokens.click_url("", key, world.deliveries[0], world.links["content"]).removeprefix("/c/")
    other = tokens.click_url("", key, world.deliveries[1], world.links["donation"]).removeprefix("/c/")
    swapped = other.split(".")[0] + "." + good.split(".")[1]
    r = client.get(f"/c/{swapped}", follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers


def test_unsafe_stored_url_is_never_followed(client, world, engine):
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE links SET url = 'javascript:alert(1)' WHERE id = :i"), {"i": world.links["content"]}
        )
    r = client.get(world.click_path("content"), follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers


def test_other_methods_on_the_pixel_are_not_served(client, world):
    assert client.post(world.open_path()).status_code == 405
    assert client.get("/o/").status_code == 404
