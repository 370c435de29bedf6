"""Migrations and the constraints that protect the invariants, on every backend."""

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Enrolment
from delivery.models import Delivery
from subscribers.models import Subscriber
from wildmail.runtime import migrate
from wildmail.runtime.models import Base

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.postgres


def _subscriber(email: str) -> Subscriber:
    return Subscriber(email=email, status="active", created_at=NOW, updated_at=NOW)


def _campaign_with_email(session: Session) -> Email:
    c = Campaign(slug="leopard", title="Leopards", created_at=NOW, updated_at=NOW)
    e = Email(campaign=c, position=1, title="One", subject="One")
    session.add_all([c, e])
    session.flush()
    return e


# SQLite cannot reflect an expression index (ix_subscribers_name_key); tests/subscribers/test_members.py
# checks that searches use it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_round_trip(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert {"deliveries", "events", "subscribers", "enrolments"} <= set(inspect(engine).get_table_names())


def test_second_delivery_for_same_subscriber_and_email_is_refused(engine: Engine) -> None:
    with Session(engine) as s:
        email = _campaign_with_email(s)
        sub = _subscriber("ana@example.org")
        s.add(sub)
        s.flush()
        kw = dict(
            subscriber_id=sub.id,
            email_id=email.id,
            campaign_id=email.campaign_id,
            position=1,
            next_attempt_at=NOW,
            queued_at=NOW,
            updated_at=NOW,
        )
        s.add(Delivery(message_id="<a@x>", **kw))
        s.commit()
        s.add(Delivery(message_id="<b@x>", **kw))
        with pytest.raises(IntegrityError):
            s.commit()


def test_subscriber_email_and_enrolment_are_unique(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(_subscriber("bo@example.org"))
        s.commit()
        s.add(_subscriber("bo@example.org"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        email = _campaign_with_email(s)
        sub = s.query(Subscriber).one()
        s.add(Enrolment(subscriber_id=sub.id, campaign_id=email.campaign_id, created_at=NOW))
        s.commit()
        s.add(Enrolment(subscriber_id=sub.id, campaign_id=email.campaign_id, created_at=NOW))
        with pytest.raises(IntegrityError):
            s.commit()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Enrolment(subscriber_id=999, campaign_id=999, created_at=NOW))
        with pytest.raises(IntegrityError):
            s.commit()
