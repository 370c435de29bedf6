"""The per-email web version: a signed per-email address that ``wildmail serve`` answers with the
email as anyone may read it (previews and test sends link it; a sent email links the reader's own
copy, tests/campaigns/test_reader_view.py); created here from an uploaded file's name and bytes,
the way the dashboard's upload can."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from campaigns.models import Campaign, Email
from campaigns.preview import preview_emails
from delivery.lifecycle import CampaignOptions, create_campaign_from_bytes
from tests.conftest import REPO

pytestmark = pytest.mark.postgres  # campaigns with the new columns on both backends
ARTICLES = REPO / "tests" / "corpus" / "articles"


def _create(ctx, name: str) -> list[Email]:
    data = (ARTICLES / name).read_bytes()
    with ctx.session() as s:
        campaign = create_campaign_from_bytes(
            s,
            ctx.settings,
            name,
            data,
            CampaignOptions(name="Internal name", donation_url="https://give.example/"),
            ctx.clock.now(),
        )
        s.commit()
        assert campaign.public_title == "Annual report: the heathland year"
    with ctx.session() as s:
        return list(s.scalars(select(Email).order_by(Email.position)))


def _previews(ctx):
    with ctx.session() as s:
        return preview_emails(s.scalars(select(Campaign)).one(), ctx.settings)


def test_web_version_link_opens_the_email(ctx, client):
    emails = _create(ctx, "21-word-report.docx")
    last = emails[-1]
    # Compiled once with a placeholder: each message fills in its own page.
    assert 'href="%%WM_VIEW_URL%%"' in last.compiled_html
    assert "View in your browser: %%WM_VIEW_URL%%" in last.compiled_text
    preview = _previews(ctx)[-1]
    found = re.search(r'href="(http://testserver/v/[^"]+)"[^>]*>View in your browser<', preview.html)
    assert found is not None
    assert f"View in your browser: {found.group(1)}" in preview.text
    response = client.get(found.group(1).removeprefix("http://testserver"))
    assert response.status_code == 200
    page = response.text
    assert "Work parties" in page and "Hello friend," in page
    assert 'href="https://example.org/events"' in page  # links go straight to their destination
    assert "%%WM_" not in page and "/o/" not in page and "Internal name" not in page
    assert "script-src 'none'" in response.headers["content-security-policy"]


def test_bad_web_version_tokens_get_404(ctx, client):
    _create(ctx, "21-word-report.docx")
    token = re.search(r"/v/([^\"]+)\"", _previews(ctx)[0].html).group(1)  # type: ignore[union-attr]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (f"/v/{tampered}", "/v/nonsense", "/v/"):
        assert client.get(path).status_code == 404, path
