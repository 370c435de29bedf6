"""One Message-ID formula (wildmail.core.message_ids) for deliveries, test sends and confirmations."""

import re
from datetime import UTC, datetime

from sqlalchemy import select

from campaigns.models import Email
from delivery.compose import build_message
from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from subscribers.models import Subscriber, SubscriberList
from subscribers.optin import build_confirmation
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.core.message_ids import campaign_tag
from wildmail.core.signing import keyed_hash

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def header(data: bytes, name: bytes) -> str:
    found = re.search(rb"^" + name + rb": (.*?)\r$", data, re.MULTILINE)
    assert found is not None
    return found.group(1).decode()


def test_deliveries_keep_their_deterministic_ids(ctx, clock):
    """The stored id of each delivery is exactly what it was before the formula moved."""
    campaign_id = make_campaign(ctx, emails=1).id
    ids = add_subscribers(ctx, 2)
    schedule_campaign(ctx, "leopard")
    clock.set(NOW)
    assert tick(ctx, ctx.message_ids).queued == 2
    tag = keyed_hash(ctx.settings.secret, "message-id", str(campaign_id))[:12]
    assert campaign_tag(ctx.settings.secret, campaign_id) == tag
    with ctx.session() as s:
        stored = dict(s.execute(select(Delivery.subscriber_id, Delivery.message_id)).tuples().all())
    assert stored == {i: f"<wm.{campaign_id}.1.{i}.{tag}@wildmail.test>" for i in ids}


def test_test_sends_and_confirmations_get_fresh_ids_of_the_same_shape(ctx, clock):
    campaign_id = make_campaign(ctx, emails=1).id
    with ctx.session() as s:
        email_id = s.scalar(select(Email.id).where(Email.campaign_id == campaign_id))
    tests = {
        header(build_message(ctx, ctx.sender(), email_id, "a@example.org"), b"Message-ID") for _ in range(3)
    }
    assert len(tests) == 3
    assert all(
        re.fullmatch(rf"<wm\.test\.{campaign_id}\.{email_id}\.[0-9a-f]{{16}}@wildmail\.test>", m)
        for m in tests
    )
    sub, lst = Subscriber(email="a@example.org", name="A"), SubscriberList(slug="main", name="Main")
    confirmations = {
        build_confirmation(ctx.settings, sub, lst, "https://x/c", NOW)["Message-ID"] for _ in range(3)
    }
    assert len(confirmations) == 3
    assert all(re.fullmatch(r"<wm\.confirm\.[0-9a-f]{16}@wildmail\.test>", m) for m in confirmations)
