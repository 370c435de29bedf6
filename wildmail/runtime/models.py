"""Imports every table so metadata is complete (Alembic, tests, create_all)."""

from campaigns.models import Campaign, Email, Enrolment, Link
from delivery.models import Delivery, RelayState
from donations.models import Donation
from inbound.models import InboundMessage
from stats.models import StatsCursor, StatsHourly, StatsLink, StatsMark, StatsTotal
from subscribers.models import ConsentEvent, ListMembership, Subscriber, SubscriberList, Suppression
from tracking.models import Event
from wildmail.core.db import Base
from wildmail.core.outbox import OutboxEvent
from wildmail.runtime.users import LoginFailure, User, UserSession

__all__ = [
    "Base",
    "Campaign",
    "ConsentEvent",
    "Delivery",
    "Donation",
    "Email",
    "Enrolment",
    "Event",
    "InboundMessage",
    "Link",
    "ListMembership",
    "LoginFailure",
    "OutboxEvent",
    "RelayState",
    "StatsCursor",
    "StatsHourly",
    "StatsLink",
    "StatsMark",
    "StatsTotal",
    "Subscriber",
    "SubscriberList",
    "Suppression",
    "User",
    "UserSession",
]
