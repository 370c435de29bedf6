"""Read-only queries behind the dashboard's campaign page (beside its figures from :mod:`stats.report`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email
from subscribers.models import SubscriberList
from subscribers.queries import lists_by_name


@dataclass(frozen=True)
class CampaignDetails:
    """A campaign with its emails and the lists it could be sent to."""

    campaign: Campaign
    emails: list[Email]
    lists: list[SubscriberList]

    @property
    def list_name(self) -> str | None:
        """The name of the campaign's list (None when it has none)."""
        return next((lst.name for lst in self.lists if lst.id == self.campaign.list_id), None)


def campaign_details(session: Session, campaign_id: int) -> CampaignDetails | None:
    """The campaign ``campaign_id`` with its emails (loaded) and every list, or None."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    return CampaignDetails(campaign, list(campaign.emails), lists_by_name(session))
