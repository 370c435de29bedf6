"""Settings with the donation secrets, and helpers to send signed donation webhooks."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from donations import webhooks
from wildmail.core.settings import Settings

WEBHOOK_SECRET = "donation-webhook-secret-for-the-tests-0123456789"
STRIPE_SECRET = "whsec_test_stripe_endpoint_secret_abcdef012345"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        base_url="http://testserver",
        secret_key="test-secret-key-not-for-production",
        sender_address="news@wildmail.test",
        sender_name="Wildlife Fund",
        postal_address="1 Test Lane, 00000 Testville",
        donation_webhook_secret=WEBHOOK_SECRET,
        stripe_webhook_secret=STRIPE_SECRET,
    )


def signed(payload: dict[str, Any], secret: str, at: datetime, header: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook request signed with ``secret`` at ``at``."""
    body = json.dumps(payload).encode()
    return body, {
        header: webhooks.sign(secret, body, int(at.timestamp())),
        "Content-Type": "application/json",
    }


def stripe_event(
    session_id: str,
    amount_total: int,
    currency: str,
    created: datetime,
    *,
    email: str | None = None,
    client_reference_id: str | None = None,
    metadata: dict[str, str] | None = None,
    payment_status: str = "paid",
    event_type: str = "checkout.session.completed",
) -> dict[str, Any]:
    """A Stripe event in the documented shape (an Event whose data.object is a Checkout Session)."""
    return {
        "id": f"evt_{session_id[3:]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(created.timestamp()) + 2,
        "livemode": False,
        "type": event_type,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "mode": "payment",
                "amount_subtotal": amount_total,
                "amount_total": amount_total,
                "currency": currency,
                "client_reference_id": client_reference_id,
                "created": int(created.timestamp()),
                "customer_details": {"email": email, "name": "A Donor", "address": None},
                "customer_email": None,
                "metadata": metadata or {},
                "payment_status": payment_status,
                "status": "complete",
            }
        },
    }
