"""``wildmail worker --until-idle``: send what is due, then exit (cron, scripts, the README tour).

Exit 0 when the outbox is idle (nothing due, nothing in flight); exit 1 when nothing could be
sent because the relay failed throughout (every attempt is waiting for a retry, or the relay is
paused), with the reason and the next retry time in the last line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from delivery import ratelimit
from delivery.queue_state import queue_state
from delivery.transport import Transport
from delivery.worker import Worker, WorkerConfig
from wildmail.cli.common import EXIT_FAILURE, EXIT_OK
from wildmail.cli.stopping import StopFlag
from wildmail.runtime.context import AppContext

log = logging.getLogger("wildmail.worker")


def _when(at: object) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at is not None else "later"


def drain(
    ctx: AppContext, make_transport: Callable[[], Transport], config: WorkerConfig, flag: StopFlag
) -> int:
    """One sending session until the outbox is idle, the relay is paused, or a signal; the exit code."""
    worker = Worker(ctx, make_transport(), ctx.sender(), config)
    sent = 0
    paused_until = None
    reason = ""
    try:
        while flag.reason() is None:
            sent += worker.run_once()
            if worker.last_claimed:
                continue
            status = ratelimit.relay_status(ctx, worker.transport.name)
            now = ctx.clock.now()
            if status is not None and status.paused(now):
                paused_until, reason = status.backoff_until, status.alert or status.last_reply
                break
            if queue_state(ctx.engine, now).idle:
                break
            time.sleep(config.idle_sleep)  # due rows leased by another worker, or the rate limit
    finally:
        try:
            worker.settle_held()  # the queue is empty: a short refusal streak is about its recipients
        finally:
            worker.ledger.close()
            worker.transport.close()
    state = queue_state(ctx.engine, ctx.clock.now())
    summary = f"worker idle: sent {sent}"
    if paused_until is not None:
        summary += f"; relay {worker.transport.name} paused until {_when(paused_until)}: {reason}"
    if state.retrying:
        summary += (
            f"; {state.retrying} waiting for a retry, the next at {_when(state.next_retry_at)}"
            f" (last answer: {state.last_reply or 'none'})"
        )
    failed = sent == 0 and (paused_until is not None or state.retrying > 0)
    (log.warning if failed else log.info)("%s", summary)
    return EXIT_FAILURE if failed else EXIT_OK
