"""Limits on the public subscribe form (issue 14 item 13), over HTTP with a real SMTP server counting
the confirmation emails: per client address, per email address, and the honeypot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from subscribers import optin
from subscribers.lifecycle import find_subscriber
from tests.conftest import REPO
from tests.subscribers.helpers import make_list
from wildmail.web.app import create_app
from wildmail.web.public_routes import SUBSCRIBES_PER_CLIENT

pytestmark = pytest.mark.postgres
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHECK_INBOX = "Please check your inbox to confirm your subscription."


@pytest.fixture
def app(ctx, smtp_server) -> Iterator[TestClient]:
    ctx.settings = ctx.settings.with_overrides(smtp_port=smtp_server.port)
    with Session(ctx.engine) as s, s.begin():
        for slug in ("news", "tigers", "rhinos", "owls"):
            make_list(s, ctx.clock, slug)
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        yield client


def _browser(app: TestClient, address: str) -> TestClient:
    """A client at ``address`` (its own cookies) talking to the same running app."""
    return TestClient(app.app, base_url="http://testserver", client=(address, 50000))


def _subscribe(client: TestClient, email: str, slug: str = "news", **extra: str):
    page = client.get(f"/subscribe/{slug}")
    match = CSRF.search(page.text)
    assert match
    return client.post(f"/subscribe/{slug}", data={"email": email, "csrf_token": match.group(1), **extra})


def test_one_client_cannot_mail_thirty_addresses(app, ctx, smtp_server) -> None:
    pest = _browser(app, "203.0.113.7")
    answers = [_subscribe(pest, f"victim{i}@example.org") for i in range(30)]
    assert [a.status_code for a in answers[:SUBSCRIBES_PER_CLIENT]] == [200] * SUBSCRIBES_PER_CLIENT
    refused = answers[SUBSCRIBES_PER_CLIENT:]
    assert {a.status_code for a in refused} == {429}
    assert "Too many sign-ups" in refused[0].text and refused[0].headers["retry-after"] == "3600"
    assert len(smtp_server.messages) == SUBSCRIBES_PER_CLIENT  # not 30 confirmation emails
    # Another client is not held back, and the first one may post again an hour later.
    assert _subscribe(_browser(app, "198.51.100.2"), "ana@example.org").status_code == 200
    ctx.clock.advance(hours=1, seconds=1)
    assert _subscribe(pest, "late@example.org").status_code == 200
    assert len(smtp_server.messages) == SUBSCRIBES_PER_CLIENT + 2


def test_one_address_gets_a_few_confirmations_a_day_whoever_asks(app, ctx, smtp_server) -> None:
    """Rotating client addresses and lists does not flood one inbox either."""
    slugs = ["news", "tigers", "rhinos", "owls"]
    for i in range(8):
        client = _browser(app, f"192.0.2.{i + 1}")
        answer = _subscribe(client, "bo@example.org", slugs[i % len(slugs)])
        assert answer.status_code == 200 and CHECK_INBOX in answer.text  # the same answer every time
        ctx.clock.advance(optin.FORM_RESEND_INTERVAL + timedelta(seconds=1))
    assert smtp_server.recipients() == ["bo@example.org"] * optin.FORM_CONFIRMATIONS_PER_DAY
    ctx.clock.advance(days=1)
    _subscribe(_browser(app, "192.0.2.99"), "bo@example.org")
    assert len(smtp_server.messages) == optin.FORM_CONFIRMATIONS_PER_DAY + 1


def test_a_bot_filling_the_hidden_field_gets_the_usual_answer_but_no_email(app, ctx, smtp_server) -> None:
    form = app.get("/subscribe/news").text
    field = re.search(r'<p class="(\w+)" aria-hidden="true"><label>[^<]*<input name="website"', form)
    assert field, "the honeypot field is on the form"
    stylesheet = (REPO / "wildmail" / "web" / "static" / "wildmail.css").read_text()
    assert re.search(rf"\.{field.group(1)} {{[^}}]*left: -5000px", stylesheet)  # hidden by CSS, not inline
    bot = _subscribe(app, "bot@example.org", website="http://spam.example")
    human = _subscribe(_browser(app, "198.51.100.9"), "human@example.org")
    assert bot.status_code == human.status_code == 200
    assert CHECK_INBOX in bot.text and CHECK_INBOX in human.text
    assert smtp_server.recipients() == ["human@example.org"]
    with Session(ctx.engine) as s:
        assert find_subscriber(s, "bot@example.org") is None


def test_the_client_counts_stay_bounded(clock) -> None:
    """The least recently seen clients are forgotten past ``max_keys`` (memory cannot grow forever)."""
    from wildmail.web.client_limits import WindowLimit

    limit = WindowLimit(1, timedelta(hours=1), max_keys=3)
    assert all(limit.allow(key, clock.now()) for key in "abcd")
    assert not limit.allow("d", clock.now())  # d is remembered and over its limit
    assert limit.allow("a", clock.now())  # a was the oldest and was forgotten
