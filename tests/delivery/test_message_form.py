"""Message form: subject encoding/folding, the hidden preheader, the footer's organisation line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.compiled import CompiledEmail
from campaigns.models import Email
from delivery.lifecycle import CampaignOptions, create_campaign_from_file
from delivery.message import LinkRef, MessageTemplate, Sender, fold
from subscribers.lifecycle import create_list
from subscribers.models import Subscriber, SubscriberList
from subscribers.optin import build_confirmation
from tests.conftest import REPO
from tests.delivery.factories import HTML, PADDING, TEXT

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SAMPLE = REPO / "campaigns" / "samples" / "amur-leopard.md"


def rendered(subject: str) -> bytes:
    compiled = CompiledEmail(7, 3, 1, subject, "", HTML.replace("{padding}", PADDING), TEXT)
    sender = Sender("news@wildmail.test", "Wildlife Fund", "https://mail.example.org", b"k" * 32)
    template = MessageTemplate(
        compiled, [LinkRef(1, 1), LinkRef(2, 2)], sender, list_slug="l", list_title="L"
    )
    return template.render(5, "<m@wildmail.test>", "zoe@example.org", "Zoe", NOW)


def subject_lines(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"\r\nSubject:((?:[^\r]|\r\n[ \t])*)\r\n", head)
    assert found is not None
    return found.group(1).split(b"\r\n")


def test_a_long_ascii_subject_is_folded_not_encoded():
    subject = "Part 3: how rangers, villagers and camera traps keep the last Amur leopards alive in winter"
    data = rendered(subject)
    lines = subject_lines(data)
    assert len(lines) > 1 and all(len(b"Subject:" + line) <= 78 for line in lines)
    assert b"=?" not in b"".join(lines)
    assert str(message_from_bytes(data, policy=policy.default)["Subject"]) == subject


def test_a_non_ascii_subject_is_encoded():
    lines = subject_lines(rendered("Léopard de l'Amour : partie 1"))
    assert b"=?utf-8?" in b"".join(lines)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30), min_size=1
    )
)
def test_folding_unfolds_to_the_value(words):
    value = " ".join(words)
    folded = fold(value, len("Subject: "))
    assert folded.replace("\r\n", "") == value
    assert all(line.strip() for line in folded.split("\r\n"))  # no whitespace-only line


@pytest.fixture
def sample_html(ctx):
    settings_ = ctx.settings.with_overrides(
        organisation="Wildlife Fund", postal_address="Wildlife Fund, 1 Example Street, 00000 Example City"
    )
    with ctx.session() as s:
        create_list(s, "main", "Supporters", double_opt_in=False, at=ctx.clock.now())
        options = CampaignOptions(
            name="amur-leopard", list_slug="main", donation_url="https://donate.example/x"
        )
        create_campaign_from_file(s, settings_, SAMPLE, options, ctx.clock.now())
        s.commit()
        return [
            (e.preheader, e.compiled_html, e.compiled_text) for e in s.query(Email).order_by(Email.position)
        ]


def test_the_preheader_is_hidden_the_standard_way_and_followed_by_filler(sample_html):
    for preheader, html, _text in sample_html:
        assert preheader
        found = re.search(r'<div class="wm-preheader" style="([^"]*)">(.*?)</div>', html, re.S)
        assert found is not None, html[:2000]
        style, content = found.groups()
        for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
            assert rule in style.replace(" ", "")
        assert "color" not in style  # not white text
        assert content.startswith(preheader.replace("'", "&#39;")[:20]) or content.startswith(preheader[:20])
        filler = content[len(content) - 600 :]
        assert filler.count("\u034f") + filler.count("&#847;") >= 20
        assert filler.count("\u200c") + filler.count("&zwnj;") >= 20
        assert html.index("wm-preheader") < html.index("%%WM_NAME%%")  # before any visible text


def test_the_footer_does_not_repeat_the_organisation(sample_html):
    for _preheader, html, text in sample_html:
        assert (
            "Wildlife Fund &middot; Wildlife Fund" not in html and "Wildlife Fund · Wildlife Fund" not in html
        )
        assert "Wildlife Fund, 1 Example Street" in html
        assert "Wildlife Fund, Wildlife Fund" not in text and "Wildlife Fund, 1 Example Street" in text


def test_the_footer_names_the_organisation_when_the_address_does_not(ctx):
    settings_ = ctx.settings.with_overrides(organisation="Wildlife Fund", postal_address="1 Example Street")
    sub = Subscriber(email="a@example.org", name="A")
    lst = SubscriberList(slug="main", name="Main")
    msg = build_confirmation(settings_, sub, lst, "https://x/confirm/t", NOW)
    assert "Wildlife Fund, 1 Example Street" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    repeated = ctx.settings.with_overrides(
        organisation="Wildlife Fund", postal_address="Wildlife Fund, 1 Street"
    )
    body = build_confirmation(repeated, sub, lst, "https://x/confirm/t", NOW).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Wildlife Fund, Wildlife Fund" not in text and "Wildlife Fund, 1 Street" in text
