"""Export and erasure: the CSV export, everything we hold on one person, and ``forget``.

``forget`` keeps the subscriber row (so aggregate statistics keep their counts) but erases the
address, name, attributes, time zone and consent details; the address stays only as a SHA-256
suppression entry, so the person is never mailed again unless they subscribe and confirm afresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Connection, delete, inspect, select, text, update
from sqlalchemy.orm import Session

from subscribers.lifecycle import SUPPRESSED_STATUSES, is_suppressed, record_transition, suppress
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    ListMembership,
    Subscriber,
    SubscriberList,
    SubscriberStatus,
)
from wildmail.core.csvsafe import SafeWriter
from wildmail.core.outbox import EventType, emit, redact_subscriber

EXPORT_COLUMNS = ["email", "name", "status", "timezone", "locale", "lists", "created_at", "confirmed_at"]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def export_rows(
    session: Session, list_slug: str | None = None, status: str | None = None
) -> Iterator[list[Any]]:
    """Rows for the CSV export (header first), streamed in id order; forgotten people are left out."""
    query = select(Subscriber).where(Subscriber.forgotten_at.is_(None)).order_by(Subscriber.id)
    if list_slug is not None:
        members = (
            select(ListMembership.subscriber_id).join(SubscriberList).where(SubscriberList.slug == list_slug)
        )
        query = query.where(Subscriber.id.in_(members))
    if status is not None:
        query = query.where(Subscriber.status == status)
    attribute_keys: list[str] = sorted(
        {k for attrs in session.scalars(query.with_only_columns(Subscriber.attributes)) for k in attrs or {}}
    )
    yield EXPORT_COLUMNS + attribute_keys
    for sub in session.scalars(query.execution_options(yield_per=1000)):
        lists = " ".join(sorted(lst.slug for lst in sub.lists))
        base = [sub.email, sub.name, sub.status, sub.timezone or "", sub.locale, lists]
        dates = [_iso(sub.created_at), _iso(sub.confirmed_at) or ""]
        yield base + dates + [str((sub.attributes or {}).get(k, "")) for k in attribute_keys]


def export_csv(
    session: Session, out: IO[str], list_slug: str | None = None, status: str | None = None
) -> int:
    """Write the CSV export to ``out`` (formula-safe: see :mod:`wildmail.core.csvsafe`); returns the
    number of subscribers written."""
    writer = SafeWriter(out)
    count = -1
    for count, row in enumerate(export_rows(session, list_slug, status)):  # noqa: B007
        writer.writerow(row)
    return count


def _table_rows(conn: Connection, table: str, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if not inspect(conn).has_table(table):
        return []
    result = conn.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY id"), params)  # noqa: S608
    return [{k: _iso(v) for k, v in row.items()} for row in result.mappings()]


def person_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything stored about one person, as JSON-ready data (for ``export-person``)."""
    conn = session.connection()
    sid = {"sid": subscriber.id}
    profile = {c.key: _iso(getattr(subscriber, c.key)) for c in inspect(Subscriber).column_attrs}
    deliveries_of = "delivery_id IN (SELECT id FROM deliveries WHERE subscriber_id = :sid)"
    memberships = session.execute(
        select(SubscriberList.slug, SubscriberList.name, ListMembership.created_at)
        .join(ListMembership, ListMembership.list_id == SubscriberList.id)
        .where(ListMembership.subscriber_id == subscriber.id)
        .order_by(SubscriberList.slug)
    )
    history = session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).order_by(ConsentEvent.id)
    )
    return {
        "subscriber": profile,
        "suppressed": is_suppressed(session, subscriber.email),
        "lists": [{"slug": s, "name": n, "joined_at": _iso(at)} for s, n, at in memberships],
        "consent_history": [
            {
                "at": _iso(e.at),
                "from": e.from_status,
                "to": e.to_status,
                "source": e.source,
                "detail": e.detail,
            }
            for e in history
        ],
        "enrolments": _table_rows(conn, "enrolments", "subscriber_id = :sid", sid),
        "deliveries": _table_rows(conn, "deliveries", "subscriber_id = :sid", sid),
        "events": _table_rows(conn, "events", deliveries_of, sid)
        if inspect(conn).has_table("deliveries")
        else [],
        "donations": _table_rows(conn, "donations", "subscriber_id = :sid", sid),
    }


def person_json(session: Session, subscriber: Subscriber) -> str:
    """:func:`person_data` as indented JSON text."""
    return json.dumps(person_data(session, subscriber), indent=2, ensure_ascii=False, default=str)


def forget(session: Session, subscriber: Subscriber, at: datetime) -> None:
    """Erase personal data, keep a suppression entry and the anonymous row for aggregate statistics."""
    if subscriber.forgotten_at is not None:
        return
    reason = subscriber.status if subscriber.status in SUPPRESSED_STATUSES else "forgotten"
    suppress(session, subscriber.email, reason, at, subscriber_id=subscriber.id)
    if subscriber.status not in SUPPRESSED_STATUSES:
        record_transition(
            session, subscriber, SubscriberStatus.UNSUBSCRIBED, ConsentSource.ADMIN, at, "forgotten"
        )
    subscriber.email = f"forgotten-{subscriber.id}@invalid"
    subscriber.name = ""
    subscriber.attributes = {}
    subscriber.timezone = None
    subscriber.forgotten_at = at
    subscriber.updated_at = at
    session.execute(update(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id).values(detail=""))
    session.execute(delete(ListMembership).where(ListMembership.subscriber_id == subscriber.id))
    conn = session.connection()
    if inspect(conn).has_table("events") and inspect(conn).has_table("deliveries"):
        conn.execute(
            text(
                "UPDATE events SET user_agent = '', ip_hash = '' WHERE delivery_id IN "
                "(SELECT id FROM deliveries WHERE subscriber_id = :sid)"
            ),
            {"sid": subscriber.id},
        )
    if inspect(conn).has_table("inbound_messages"):  # bounces and complaints kept raw (inbound)
        conn.execute(
            text(
                "UPDATE inbound_messages SET raw = :empty, envelope_to = '', reason = 'forgotten'"
                " WHERE subscriber_id = :sid"
            ),
            {"sid": subscriber.id, "empty": b""},
        )
    if inspect(conn).has_table("donations"):  # the amounts stay for the figures, the address hash goes
        conn.execute(
            text("UPDATE donations SET address_hash = '' WHERE subscriber_id = :sid"), {"sid": subscriber.id}
        )
    session.flush()
    redact_subscriber(session, subscriber.id)  # events stored earlier keep the ids only
    emit(session, EventType.SUBSCRIBER_FORGOTTEN, {"subscriber_id": subscriber.id}, at)
