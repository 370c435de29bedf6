"""Claiming queued deliveries with leases, recording outcomes, and reaping expired leases.

A worker claims a batch in one short write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``;
SQLite: ``BEGIN IMMEDIATE`` + ``UPDATE ... RETURNING``) and never keeps a transaction open
while talking SMTP. Every later write is fenced by ``lease_owner`` so a worker that lost its
lease cannot overwrite another worker's row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.orm import Session

from campaigns.models import Campaign, CampaignStatus, Enrolment
from delivery.models import Delivery, DeliveryState, SmtpPhase
from delivery.suppress import suppressed_among
from wildmail.core.db import is_sqlite, write_connection, write_transaction
from wildmail.core.sql import driver_sql, int_list, rowcount
from wildmail.core.store import Store

CLAIMABLE = (DeliveryState.QUEUED.value, DeliveryState.RETRY_WAIT.value)
SENDING = DeliveryState.SENDING.value


@dataclass(frozen=True)
class Claimed:
    """One delivery this worker now holds a lease on, with what is needed to send it."""

    id: int
    subscriber_id: int
    email_id: int
    campaign_id: int
    position: int
    message_id: str
    attempts: int
    address: str
    name: str
    ask_donation: bool = True
    variant_id: int | None = None  # the subject variant to build (None: the email's own subject)


def spared_donors(s: Session, rows: list[Row[Any]]) -> set[tuple[int, int]]:
    """(subscriber, campaign) pairs among ``rows`` not to be asked for a donation again:
    they clicked a donation link of a campaign with ``stop_donation_after_click`` (one query)."""
    pairs = {(r.subscriber_id, r.campaign_id) for r in rows}
    query = (
        select(Enrolment.subscriber_id, Enrolment.campaign_id)
        .join(Campaign, Campaign.id == Enrolment.campaign_id)
        .where(
            Campaign.stop_donation_after_click.is_(True),
            Enrolment.donation_clicked.is_(True),
            Enrolment.campaign_id.in_({c for _, c in pairs}),
            Enrolment.subscriber_id.in_({sub for sub, _ in pairs}),
        )
    )
    return {(r.subscriber_id, r.campaign_id) for r in s.execute(query)} & pairs


# The claim in plain SQL, run with ``exec_driver_sql``: no statement compilation per batch.
CLAIM_SQL = """
UPDATE deliveries SET state = '{sending}', lease_owner = :owner, lease_expires_at = :until,
  attempts = attempts + 1, smtp_phase = '{none}', updated_at = :now
WHERE id IN (
  SELECT id FROM deliveries
  WHERE state IN ('{queued}', '{retry_wait}') AND next_attempt_at <= :now
    AND campaign_id NOT IN (SELECT id FROM campaigns WHERE status = '{paused}')
  LIMIT :limit{lock}
)
RETURNING id, subscriber_id, email_id, campaign_id, position, message_id, attempts, variant_id
"""
PEOPLE_SQL = "SELECT id, email, name, status FROM subscribers WHERE id IN ({ids})"
DONORS_SQL = """
SELECT e.subscriber_id, e.campaign_id FROM enrolments e JOIN campaigns c ON c.id = e.campaign_id
WHERE c.stop_donation_after_click = {true} AND e.donation_clicked = {true}
  AND e.campaign_id IN ({campaigns}) AND e.subscriber_id IN ({subscribers})
"""


REAP_CHECK_SQL = "SELECT 1 FROM deliveries WHERE state = 'sending' AND lease_expires_at < :now LIMIT 1"


class Person(NamedTuple):
    """The subscriber fields a claim needs (what ``suppressed_among`` reads)."""

    id: int
    email: str
    name: str
    status: str


def _claim_sql(sqlite: bool) -> str:
    sql = CLAIM_SQL.format(
        sending=SENDING,
        none=SmtpPhase.NONE.value,
        queued=DeliveryState.QUEUED.value,
        retry_wait=DeliveryState.RETRY_WAIT.value,
        paused=CampaignStatus.PAUSED.value,
        lock="" if sqlite else " FOR UPDATE SKIP LOCKED",
    )
    return driver_sql(sql, sqlite)


def claim(store: Store, owner: str, limit: int, lease: timedelta) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries; rows whose subscriber may no longer be mailed
    (unsubscribed, bounced, complained, suppressed) are marked ``suppressed`` instead.

    One short write transaction of three plain statements (claim, people, donors) plus the
    suppression check.
    """
    now = store.clock.now()
    engine = store.engine
    sqlite = is_sqlite(engine)
    to_db = datetime_binder(engine)
    params = {"owner": owner, "until": to_db(now + lease), "now": to_db(now), "limit": int(limit)}
    with write_connection(engine) as conn:
        if not sqlite:
            # No wait for the WAL flush: a claim lost with the database server leaves its rows
            # queued, and a durable (synchronous) data mark later flushes the claim with it.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        rows = conn.exec_driver_sql(_claim_sql(sqlite), params).all()
        if not rows:
            return []
        ids = int_list({r[1] for r in rows})
        people = {p[0]: Person(*p) for p in conn.exec_driver_sql(PEOPLE_SQL.format(ids=ids))}
        blocked = suppressed_among(conn, people.values())
        donors = {
            (r[0], r[1])
            for r in conn.exec_driver_sql(
                DONORS_SQL.format(
                    true="1" if sqlite else "true",
                    campaigns=int_list({r[3] for r in rows}),
                    subscribers=ids,
                )
            )
        }
        out: list[Claimed] = []
        dropped: list[int] = []
        for d_id, sub_id, email_id, campaign_id, position, mid, attempts, variant_id in rows:
            if sub_id in blocked:
                dropped.append(d_id)
                continue
            person = people[sub_id]
            out.append(
                Claimed(
                    d_id,
                    sub_id,
                    email_id,
                    campaign_id,
                    position,
                    mid,
                    attempts,
                    person.email,
                    person.name,
                    (sub_id, campaign_id) not in donors,
                    variant_id,
                )
            )
        if dropped:
            finish(conn, owner, dropped, DeliveryState.SUPPRESSED, now, reply="not mailable at send time")
    out.sort(key=lambda c: c.id)
    return out


def datetime_binder(engine: Engine) -> Callable[[datetime], Any]:
    """How a ``UTCDateTime`` value is passed to this engine's driver (naive UTC; text on SQLite)."""
    dialect = engine.dialect
    column_type = Delivery.__table__.c.updated_at.type.dialect_impl(dialect)  # type: ignore[attr-defined]
    processor = column_type.bind_processor(dialect)
    return processor if processor is not None else (lambda v: v)


def finish(
    s: Session | Connection,
    owner: str,
    ids: list[int],
    state: DeliveryState,
    now: datetime,
    *,
    reply: str = "",
    phase: SmtpPhase | None = None,
    retry_at: datetime | None = None,
) -> int:
    """Record the outcome of leased rows (fenced by ``owner``), releasing the lease."""
    values: dict[str, object] = {"state": state.value, "updated_at": now, "last_reply": reply[:2000]}
    if phase is not None:
        values["smtp_phase"] = phase.value
    if state == DeliveryState.SENT:
        values["sent_at"] = now
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    if state != DeliveryState.UNKNOWN:
        values.update(lease_owner=None, lease_expires_at=None)
    stmt = (
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.lease_owner == owner,
            Delivery.state.in_((SENDING, DeliveryState.UNKNOWN.value)),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(s.execute(stmt))


def extend_leases(engine: Engine, owner: str, ids: list[int], until: datetime) -> None:
    """Push the lease of rows still held by ``owner`` out to ``until``."""
    with write_transaction(engine) as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == owner, Delivery.state == SENDING)
            .values(lease_expires_at=until)
            .execution_options(synchronize_session=False)
        )


def reap(store: Store, *, resend_unknown: bool = False) -> dict[str, int]:
    """Expired leases: rows that never reached DATA go back to ``queued``; rows that did
    become ``unknown`` (or ``queued`` again when ``resend_unknown``)."""
    now = store.clock.now()
    engine = store.engine
    with engine.connect() as conn:  # a read on the small partial index: most calls find nothing
        found = conn.exec_driver_sql(
            driver_sql(REAP_CHECK_SQL, is_sqlite(engine)), {"now": datetime_binder(engine)(now)}
        ).first()
    if found is None:
        return {"requeued": 0, "unknown": 0}
    expired = [Delivery.state == SENDING, Delivery.lease_expires_at < now]
    reached_data = Delivery.smtp_phase == SmtpPhase.DATA.value
    with write_transaction(engine) as s:
        requeued = rowcount(
            s.execute(
                update(Delivery)
                .where(*expired, ~reached_data if not resend_unknown else Delivery.id.is_not(None))
                .values(
                    state=DeliveryState.QUEUED.value,
                    smtp_phase=SmtpPhase.NONE.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        )
        unknown = rowcount(
            s.execute(
                update(Delivery)
                .where(*expired, reached_data)
                .values(state=DeliveryState.UNKNOWN.value, updated_at=now, last_reply="lease expired in DATA")
                .execution_options(synchronize_session=False)
            )
        )
    return {"requeued": requeued, "unknown": unknown}


def release(store: Store, owner: str, ids: list[int]) -> int:
    """Give back leased rows that were never attempted (graceful shutdown).

    The caller guarantees no SMTP conversation started for ``ids`` (a row may carry a ``data``
    mark from a mark window without having been sent).
    """
    now = store.clock.now()
    with write_transaction(store.engine) as s:
        return rowcount(
            s.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.lease_owner == owner,
                    Delivery.state == SENDING,
                )
                .values(
                    state=DeliveryState.QUEUED.value,
                    smtp_phase=SmtpPhase.NONE.value,
                    attempts=Delivery.attempts - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        )


def uncount(store: Store, ids: list[int]) -> int:
    """Take back the attempt the claim counted for rows that wait for a paused relay: a relay's
    refusal is not the message's failure, so it never brings the give-up closer."""
    if not ids:
        return 0
    with write_transaction(store.engine) as s:
        return rowcount(
            s.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.state == DeliveryState.RETRY_WAIT.value,
                    Delivery.attempts > 0,
                )
                .values(attempts=Delivery.attempts - 1)
                .execution_options(synchronize_session=False)
            )
        )
