"""Export, export-person, forget, and segments."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email
from delivery.models import Delivery
from subscribers import lifecycle, privacy
from subscribers.csv_import import import_csv
from subscribers.models import ConsentSource, Subscriber
from subscribers.segments import SegmentError, segment_clause, segment_select
from tests.subscribers.helpers import make_list

pytestmark = pytest.mark.postgres

PEOPLE = """email,name,timezone,country,tier
ada@example.org,Ada,Europe/Berlin,ru,gold
bob@example.org,Bob,Asia/Tokyo,cn,silver
carol@example.org,Carol,,ru,bronze
dan@example.org,Dan,Europe/Berlin,de,gold
"""


@pytest.fixture
def session(engine, clock, tmp_path):
    with Session(engine, expire_on_commit=False) as s:
        make_list(s, clock)
        make_list(s, clock, "other")
        s.commit()
        path = tmp_path / "people.csv"
        path.write_text(PEOPLE)
        import_csv(engine, path, "news", at=clock.now())
        yield s


def _by_email(session, email):
    sub = lifecycle.find_subscriber(session, email)
    assert sub is not None
    return sub


def _emails(session, query):
    ids = list(session.scalars(query))
    return sorted(session.scalars(select(Subscriber.email).where(Subscriber.id.in_(ids))))


def test_export_csv_filters(session, clock) -> None:
    lifecycle.unsubscribe(session, _by_email(session, "bob@example.org"), ConsentSource.ADMIN, clock.now())
    session.commit()
    out = io.StringIO()
    assert privacy.export_csv(session, out, "news", "active") == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["email"] for r in rows] == ["ada@example.org", "carol@example.org", "dan@example.org"]
    assert (
        rows[0]["country"] == "ru" and rows[0]["lists"] == "news" and rows[0]["timezone"] == "Europe/Berlin"
    )
    out = io.StringIO()
    assert privacy.export_csv(session, out, "other") == 0


def _delivery(session, sub, clock) -> int:
    now = clock.now()
    campaign = Campaign(slug="c", title="C", created_at=now, updated_at=now)
    session.add(campaign)
    session.flush()
    email = Email(campaign_id=campaign.id, position=1, title="One", subject="One")
    session.add(email)
    session.flush()
    delivery = Delivery(
        subscriber_id=sub.id,
        email_id=email.id,
        campaign_id=campaign.id,
        position=1,
        next_attempt_at=now,
        message_id="<m@x>",
        queued_at=now,
        updated_at=now,
        state="sent",
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def test_export_person_then_forget(session, clock) -> None:
    ada = _by_email(session, "ADA@example.org")
    delivery_id = _delivery(session, ada, clock)
    session.commit()
    data = json.loads(privacy.person_json(session, ada))
    assert (
        data["subscriber"]["email"] == "ada@example.org"
        and data["subscriber"]["attributes"]["tier"] == "gold"
    )
    assert [h["source"] for h in data["consent_history"]] == ["import"]
    assert data["lists"][0]["slug"] == "news" and not data["suppressed"]
    assert [d["id"] for d in data["deliveries"]] == [delivery_id] and data["events"] == []

    privacy.forget(session, ada, clock.advance(days=1))
    session.commit()
    session.expire_all()
    ada = session.get(Subscriber, ada.id)
    assert ada.email == f"forgotten-{ada.id}@invalid" and ada.name == "" and ada.attributes == {}
    assert ada.timezone is None and ada.forgotten_at == clock.now() and ada.status == "unsubscribed"
    assert ada.lists == []
    assert lifecycle.find_subscriber(session, "ada@example.org") is None
    assert lifecycle.is_suppressed(session, "Ada@Example.org")
    assert session.get(Delivery, delivery_id) is not None  # aggregate figures keep their rows
    text = privacy.person_json(session, ada)
    assert "ada@example.org" not in text.lower() and "gold" not in text
    # The forgotten address is never brought back by an import.
    report = import_csv(session, io.StringIO("email\nada@example.org\n"), "news", at=clock.now())
    assert report.suppressed == 1 and report.created == 0


def test_segments_by_status_attributes_and_timezone(session, clock) -> None:
    news = lifecycle.require_list(session, "news")
    lifecycle.unsubscribe(
        session, _by_email(session, "dan@example.org"), ConsentSource.ONE_CLICK, clock.now()
    )
    session.commit()
    everyone = ["ada@example.org", "bob@example.org", "carol@example.org"]
    assert _emails(session, segment_select(news.id)) == everyone
    assert _emails(session, segment_select(news.id, {"attributes": {"country": "ru"}})) == [
        "ada@example.org",
        "carol@example.org",
    ]
    assert (
        _emails(session, segment_select(news.id, {"attributes": {"tier": ["gold", "silver"]}}))
        == everyone[:2]
    )
    assert _emails(session, segment_select(news.id, {"timezones": ["Europe/Berlin", None]})) == [
        "ada@example.org",
        "carol@example.org",
    ]
    assert _emails(session, segment_select(news.id, {"timezones": []})) == []
    assert _emails(session, segment_select(news.id, {"status": ["unsubscribed"]})) == ["dan@example.org"]
    gold_any = {"attributes": {"tier": "gold"}, "status": ["active", "unsubscribed"]}
    assert _emails(session, segment_select(news.id, gold_any)) == ["ada@example.org", "dan@example.org"]
    other = lifecycle.require_list(session, "other")
    assert _emails(session, segment_select(other.id)) == []
    clause_query = select(Subscriber.id).where(segment_clause({"attributes": {"country": "cn"}}))
    assert _emails(session, clause_query) == ["bob@example.org"]


@pytest.mark.parametrize(
    "bad",
    [
        {"colour": 1},
        {"status": ["gone"]},
        {"status": []},
        {"attributes": []},
        {"attributes": {"a": None}},
        {"attributes": {"a": []}},
        {"timezones": "Europe/Berlin"},
    ],
)
def test_bad_segments_are_refused(bad) -> None:
    with pytest.raises(SegmentError, match="segment"):
        segment_select(1, bad)
