"""The campaign page says why a campaign paused itself."""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaigns.models import Campaign
from tests.dashboard.conftest import log_in, users  # noqa: F401 - the fixture
from tests.delivery.factories import make_campaign


def test_the_campaign_page_shows_the_breakers_reason(ctx, client, users) -> None:  # noqa: F811
    campaign = make_campaign(ctx, emails=1)
    with Session(ctx.engine) as s:
        c = s.get(Campaign, campaign.id)
        assert c is not None
        c.status, c.pause_reason = (
            "paused",
            "circuit breaker: complaints 3 of 1200 sends (0.25%) over the 0.10% limit",
        )
        s.commit()
    log_in(client, users["admin"])
    page = client.get(f"/dashboard/campaigns/{campaign.slug}")
    assert page.status_code == 200
    assert "Paused itself: circuit breaker: complaints 3 of 1200 sends" in page.text
