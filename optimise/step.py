"""What runs after each tick: fold new events, judge running subject tests, queue resends.

Costs nothing while no subject test runs and no resend rule exists (two probes of small tables).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select

from campaigns.variant_models import ResendRule, SubjectTest, SubjectTestStatus
from optimise import resend, subject_tests
from stats import rollup
from wildmail.core.db import write_transaction
from wildmail.core.message_ids import MessageIdKey
from wildmail.core.store import Store


@dataclass
class StepReport:
    """Subject tests decided and resends queued by one step."""

    decided: int = 0
    resent: int = 0


def step(store: Store, ids: MessageIdKey) -> StepReport:
    """Judge running subject tests and queue due resends (after the tick, on the leader)."""
    report = StepReport()
    with store.session() as s:
        running = exists().where(SubjectTest.status == SubjectTestStatus.RUNNING.value)
        work = s.execute(select(running, exists().where(ResendRule.email_id.is_not(None)))).one()
    if not any(work):
        return report
    now = store.clock.now()
    rollup.refresh(store.engine, now)  # the marks both read; folds only what arrived since
    with write_transaction(store.engine) as s:
        report.decided = subject_tests.evaluate(s, now)
        report.resent = resend.queue_resends(s, now, ids)
    return report
