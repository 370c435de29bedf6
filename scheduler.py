"""The timetable's wiring to APScheduler: run the idempotent tick every ~30 s on the leader.

No business logic here: the timetable lives in the database (``Enrolment.next_send_at``) and
the tick is :func:`delivery.enqueue.tick`. APScheduler keeps its jobs in memory only, never in
a shared job store; a process that is not the leader simply skips the tick.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from delivery.enqueue import tick
from delivery.leader import LeaderLock
from inbound.policy import Policy, sweep
from optimise.step import step
from tracking.engagement import step as engagement_step
from wildmail.core.db import write_transaction
from wildmail.runtime.context import AppContext
from wildmail.runtime.mailer import MailError, send_one

log = logging.getLogger("wildmail.scheduler")
DEFAULT_INTERVAL = 30.0


def leader_tick(ctx: AppContext, lock: LeaderLock) -> bool:
    """Run one tick if this process leads; True when it ran."""
    if not lock.acquire():
        log.debug("not the leader; skipping tick")
        return False
    report = tick(ctx, ctx.message_ids)
    if report.queued or report.enrolled or report.exited or report.reaped.get("unknown"):
        log.info("tick: %s", report)
    with write_transaction(ctx.engine) as session:  # the circuit breaker also counts RCPT refusals
        sweep(session, Policy.from_settings(ctx.settings), ctx.clock.now())
    tuned = step(ctx, ctx.message_ids)  # subject tests judged, resends to non-openers queued
    if tuned.decided or tuned.resent:
        log.info("subject tests and resends: %s", tuned)
    run_engagement(ctx)
    return True


def run_engagement(ctx: AppContext) -> None:
    """Send-time optimisation and sunset after the tick; a relay failure is one warning line
    (the re-engagement emails left stay due for the next tick)."""
    try:
        report = engagement_step(ctx, ctx.settings, lambda message: send_one(ctx.settings, message))
    except MailError as exc:
        log.warning("re-engagement emails: %s; retrying at the next tick", exc)
        return
    if report.moved or report.asked or (report.swept and (report.swept.chosen or report.swept.inactive)):
        log.info("engagement: %s", report)


def build_scheduler(
    ctx: AppContext,
    *,
    blocking: bool = False,
    interval: float = DEFAULT_INTERVAL,
    lock: LeaderLock | None = None,
) -> BaseScheduler:
    """A scheduler with one interval job (first run immediately); start it with ``.start()``."""
    leader = lock or LeaderLock(ctx.engine)
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    )
    scheduler.add_job(
        leader_tick,
        "interval",
        args=(ctx, leader),
        seconds=interval,
        id="wildmail-tick",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        misfire_grace_time=int(interval * 4),
    )
    return scheduler
