"""Imports every table so metadata is complete (Alembic, tests, create_all)."""

from campaigns.models import Campaign, Email, Enrolment, Link
from campaigns.variant_models import ResendRule, SubjectTest, SubjectVariant
from delivery.models import Delivery, RelayState
from donations.models import Donation
from inbound.models import InboundMessage
from stats.models import StatsCursor, StatsHourly, StatsLink, StatsMark, StatsTotal
from subscribers.models import ConsentEvent, ListMembership, Subscriber, SubscriberList, Suppression
from tracking.engagement_models import EngagementCursor, Reengagement, SendTimeProfile
from tracking.models import Event
from webhooks.models import WebhookDelivery, WebhookEndpoint
from wildmail.core.db import Base
from wildmail.core.outbox import OutboxEvent
from wildmail.runtime.api_tokens import ApiToken, IdempotencyKey
from wildmail.runtime.users import LoginFailure, User, UserSession

__all__ = [
    "ApiToken",
    "Base",
    "Campaign",
    "ConsentEvent",
    "Delivery",
    "Donation",
    "Email",
    "EngagementCursor",
    "Enrolment",
    "Event",
    "IdempotencyKey",
    "InboundMessage",
    "Link",
    "ListMembership",
    "LoginFailure",
    "OutboxEvent",
    "Reengagement",
    "RelayState",
    "ResendRule",
    "SendTimeProfile",
    "StatsCursor",
    "StatsHourly",
    "StatsLink",
    "StatsMark",
    "StatsTotal",
    "SubjectTest",
    "SubjectVariant",
    "Subscriber",
    "SubscriberList",
    "Suppression",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
]
