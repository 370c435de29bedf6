"""Claiming queued deliveries with leases, recording outcomes, and reaping expired leases.

A worker claims a batch in one short write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``;
SQLite: ``BEGIN IMMEDIATE`` + ``UPDATE ... RETURNING``) and never keeps a transaction open
while talking SMTP. Every later write is fenced by ``lease_owner`` so a worker that lost its
lease cannot overwrite another worker's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.orm import Session

from campaigns.enrolment import rowcount
from campaigns.models import Campaign, CampaignStatus, Enrolment
from delivery.models import Delivery, DeliveryState, SmtpPhase
from delivery.suppress import suppressed_ids
from wildmail.context import AppContext
from wildmail.db import is_sqlite, write_transaction

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


def claim(ctx: AppContext, owner: str, limit: int, lease: timedelta) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries; rows whose subscriber may no longer be mailed
    (unsubscribed, bounced, complained, suppressed) are marked ``suppressed`` instead."""
    from subscribers.models import Subscriber

    now = ctx.clock.now()
    paused = select(Campaign.id).where(Campaign.status == CampaignStatus.PAUSED.value)
    pick = (
        select(Delivery.id)
        .where(
            Delivery.state.in_(CLAIMABLE),
            Delivery.next_attempt_at <= now,
            Delivery.campaign_id.not_in(paused),
        )
        .limit(limit)
    )
    if not is_sqlite(ctx.engine):
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(pick.scalar_subquery()))
        .values(
            state=SENDING,
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=Delivery.attempts + 1,
            smtp_phase=SmtpPhase.NONE.value,
            updated_at=now,
        )
        .returning(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.email_id,
            Delivery.campaign_id,
            Delivery.position,
            Delivery.message_id,
            Delivery.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    with write_transaction(ctx.engine) as s:
        rows = s.execute(stmt).all()
        if not rows:
            return []
        people = {
            r.id: r
            for r in s.execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.status).where(
                    Subscriber.id.in_({r.subscriber_id for r in rows})
                )
            )
        }
        blocked = suppressed_ids(s, people.values())
        donors = spared_donors(s, list(rows))
        out: list[Claimed] = []
        dropped: list[int] = []
        for r in rows:
            person = people[r.subscriber_id]
            if r.subscriber_id in blocked:
                dropped.append(r.id)
                continue
            out.append(
                Claimed(
                    id=r.id,
                    subscriber_id=r.subscriber_id,
                    email_id=r.email_id,
                    campaign_id=r.campaign_id,
                    position=r.position,
                    message_id=r.message_id,
                    attempts=r.attempts,
                    address=person.email,
                    name=person.name,
                    ask_donation=(r.subscriber_id, r.campaign_id) not in donors,
                )
            )
        if dropped:
            finish(s, owner, dropped, DeliveryState.SUPPRESSED, now, reply="not mailable at send time")
    out.sort(key=lambda c: c.id)
    return out


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


def mark_data(s: Session, owner: str, delivery_id: int, now: datetime) -> bool:
    """Record that DATA is about to be sent; False when this worker no longer holds the lease."""
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.lease_owner == owner, Delivery.state == SENDING)
        .values(smtp_phase=SmtpPhase.DATA.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(s.execute(stmt)) == 1


def extend_leases(engine: Engine, owner: str, ids: list[int], until: datetime) -> None:
    """Push the lease of rows still held by ``owner`` out to ``until``."""
    with write_transaction(engine) as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.lease_owner == owner, Delivery.state == SENDING)
            .values(lease_expires_at=until)
            .execution_options(synchronize_session=False)
        )


def reap(ctx: AppContext, *, resend_unknown: bool = False) -> dict[str, int]:
    """Expired leases: rows that never reached DATA go back to ``queued``; rows that did
    become ``unknown`` (or ``queued`` again when ``resend_unknown``)."""
    now = ctx.clock.now()
    expired = [Delivery.state == SENDING, Delivery.lease_expires_at < now]
    reached_data = Delivery.smtp_phase == SmtpPhase.DATA.value
    with write_transaction(ctx.engine) as s:
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


def release(ctx: AppContext, owner: str, ids: list[int]) -> int:
    """Give back leased rows that were never attempted (graceful shutdown).

    The caller guarantees no SMTP conversation started for ``ids`` (a row may carry a ``data``
    mark from a mark window without having been sent).
    """
    now = ctx.clock.now()
    with write_transaction(ctx.engine) as s:
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
