"""Domain functions used by the CLI and the dashboard, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from campaigns.compiled import NotCompiled, compiled_email
from campaigns.models import Campaign, Email
from campaigns.preview import preview_emails
from delivery import lifecycle

pytestmark = pytest.mark.postgres

ARTICLE = (
    "---\ntitle: Snow leopards\n---\n"
    "Intro with a [link](https://example.org/snow).\n\n# Range\n\nHigh mountains.\n"
)


def test_create_from_text_edit_preview_delete(ctx):
    opts = lifecycle.CampaignOptions(name="Snow Leopards", donation_url="https://give.example/snow")
    with ctx.session() as s:
        campaign = lifecycle.create_campaign_from_text(s, ctx.settings, ARTICLE, opts, ctx.clock.now())
        s.commit()
        assert campaign.slug == "snow-leopards" and campaign.source_format == "markdown"
        assert [e.subject for e in campaign.emails] == ["Snow leopards", "Range"]
        assert [link.kind for link in campaign.emails[0].links] == ["content", "donation", "honeypot"]
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "snow-leopards")
        assert [c.slug for c in lifecycle.list_campaigns(s)] == ["snow-leopards"]
        lifecycle.edit_email(s, ctx.settings, campaign, 2, preheader="Up where the air is thin.")
        s.commit()
        previews = preview_emails(campaign, ctx.settings)
        assert "Up where the air is thin." in previews[1].html
        assert 'href="https://example.org/snow"' in previews[0].html
        compiled = compiled_email(campaign.emails[1])
        assert compiled.position == 2 and compiled.email_id == campaign.emails[1].id
        lifecycle.delete_campaign(s, campaign)
        s.commit()
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Campaign)) == 0


def test_failed_create_leaves_nothing(ctx):
    with ctx.session() as s:
        with pytest.raises(lifecycle.CampaignError):
            lifecycle.create_campaign_from_text(
                s, ctx.settings, ARTICLE, lifecycle.CampaignOptions(name="!!!"), ctx.clock.now()
            )
        s.commit()
    with ctx.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Email)) == 0


def test_compiled_email_requires_compilation():
    with pytest.raises(NotCompiled):
        compiled_email(Email(id=1, campaign_id=1, position=1, title="t", subject="s"))
