"""The worker's per-message DATA-mark write alone (``delivery.ledger.Ledger.mark_data``): CPU and
wall time per mark at window 1, each mark writing the previous message's ``sent`` with it.

One ledger marks N claimed rows in a row, no SMTP. ``BENCH_DBS=sqlite,postgres`` picks databases
(PostgreSQL needs ``WILDMAIL_TEST_POSTGRES_URL``); ``BENCH_MARKS=N`` (default 3000); PostgreSQL
runs durable marks and ``--fast-marks``. Prints one line per run (docs/performance.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import send  # noqa: E402
from delivery.claim import claim  # noqa: E402
from delivery.enqueue import tick  # noqa: E402
from delivery.ledger import Ledger, Outcome  # noqa: E402
from delivery.models import DeliveryState, SmtpPhase  # noqa: E402

COUNT = int(os.environ.get("BENCH_MARKS", "3000"))


def run(kind: str, durable: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = send.Database(kind, Path(tmp))
        try:
            ctx = send.make_ctx(db.url)
            send.populate(ctx, COUNT)
            ctx.clock.set(send.SLOT)  # type: ignore[attr-defined]
            tick(ctx, ctx.message_ids)
            held = claim(ctx, "bench", COUNT, timedelta(hours=1))
            ledger = Ledger(ctx, "bench", durable=durable)
            ledger.mark_data(held[0].id)
            ledger.pending.append(Outcome(held[0].id, DeliveryState.SENT, SmtpPhase.DONE, "250 ok"))
            cpu, wall = time.process_time(), time.perf_counter()
            for item in held[1:]:
                assert ledger.mark_data(item.id)
                ledger.pending.append(Outcome(item.id, DeliveryState.SENT, SmtpPhase.DONE, "250 2.0.0 ok"))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            ledger.close()
            ctx.engine.dispose()
        finally:
            db.drop()
    n = len(held) - 1
    marks = "durable" if durable else "fast"
    return f"[{kind}] {n} marks, {marks}: CPU {1e6 * cpu / n:.1f} us/mark, wall {1e6 * wall / n:.1f} us/mark"


def main() -> None:
    for kind in os.environ.get("BENCH_DBS", "sqlite,postgres").split(","):
        if kind == "postgres" and not send.PG_URL:
            continue
        for durable in (True, False) if kind == "postgres" else (True,):
            print(run(kind, durable), flush=True)


if __name__ == "__main__":
    main()
