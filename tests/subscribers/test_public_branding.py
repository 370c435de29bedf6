"""Public pages name the organisation, show its logo and privacy link, and describe lists in words."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from subscribers import lifecycle, optin
from subscribers.models import Subscriber
from wildmail.core.settings import Settings, SettingsError
from wildmail.web.app import create_app

LOGO = "https://cdn.wildlife.example/logo.png"
PRIVACY = "https://wildlife.example/privacy"


@pytest.fixture
def branded(ctx):
    ctx.settings = ctx.settings.with_overrides(
        organisation="Wildlife Fund", logo_url=LOGO, privacy_url=PRIVACY
    )
    with Session(ctx.engine) as s, s.begin():
        lifecycle.create_list(
            s, "amur-leopard", at=ctx.clock.now(), description="Eight short emails, one a week."
        )
    with TestClient(create_app(ctx), base_url="http://testserver") as client:
        yield client


def test_subscribe_page_is_branded_and_in_plain_words(branded) -> None:
    page = branded.get("/subscribe/amur-leopard", params={"email": "ana@example.org"})
    html = page.text
    assert "<h1>Subscribe to Amur leopard</h1>" in html and "Eight short emails, one a week." in html
    assert f'<img src="{LOGO}" alt="Wildlife Fund"' in html
    assert f'<a href="{PRIVACY}">Privacy policy</a>' in html
    assert 'value="ana@example.org"' in html  # filled in by an embedded form's GET
    assert "amur-leopard</" not in html and ">amur-leopard" not in html
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.wildlife.example;" in policy


def test_confirmation_page_names_the_list(branded, ctx) -> None:
    with Session(ctx.engine) as s, s.begin():
        lst = lifecycle.require_list(s, "amur-leopard")
        sub = Subscriber(email="ana@example.org", created_at=ctx.clock.now(), updated_at=ctx.clock.now())
        s.add(sub)
        s.flush()
        url = optin.confirmation_url(ctx.settings, sub.id, lst.id, ctx.clock.now())
    page = branded.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert re.search(r"receive <strong>Amur leopard</strong> from Wildlife Fund", page.text)
    done = branded.post(url.removeprefix("http://testserver"))
    assert "You will now receive Amur leopard." in done.text and "Eight short emails" in done.text


def test_unbranded_settings_show_no_logo_or_privacy_link(client, ctx) -> None:
    with Session(ctx.engine) as s, s.begin():
        lifecycle.create_list(s, "news", "News from the field", at=ctx.clock.now())
    html = client.get("/subscribe/news").text
    assert "<img" not in html and "Privacy policy" not in html and "Wildlife Fund" in html
    assert "img-src 'self' data:;" in client.get("/subscribe/news").headers["content-security-policy"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("privacy_url", "javascript:alert(1)"), ("privacy_url", "/privacy"),
     ("logo_url", "//evil.example/x.png"), ("logo_url", "ftp://x.example/logo.png")],
)  # fmt: skip
def test_bad_branding_urls_are_refused_naming_the_setting(key, value) -> None:
    with pytest.raises(SettingsError, match=f"WILDMAIL_{key.upper()}"):
        Settings().with_overrides(**{key: value})


def test_default_list_name_is_the_slug_in_words(ctx) -> None:
    with Session(ctx.engine) as s, s.begin():
        assert lifecycle.create_list(s, "amur-leopard", at=ctx.clock.now()).name == "Amur leopard"
