"""Campaign report speed at scale: 1,000,000 deliveries and 5,000,000 events (BENCH_SMALL=1: tiny).

Data is generated with set-based SQL (one INSERT ... SELECT per table), then the rollup catches
up once (timed), then the report of the campaign is timed (median of several runs), then a
burst of new events is added and refresh + report timed again.
Run: ``BENCH_SMALL=1 .venv/bin/python bench/stats.py`` (SQLite, and PostgreSQL when
``WILDMAIL_TEST_POSTGRES_URL`` is set). Writes bench/results/stats.json.
"""

from __future__ import annotations

import enum
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._databases import on_every_database
from campaigns.models import Campaign, Email, Link
from stats import rollup
from stats.report import campaign_report
from wildmail.core.db import make_engine
from wildmail.runtime import migrate
from wildmail.runtime.models import Base

SMALL = os.environ.get("BENCH_SMALL") == "1"
EMAILS = 8
SUBSCRIBERS = int(
    os.environ.get("BENCH_SUBSCRIBERS") or (250 if SMALL else 125_000)
)  # x 8 emails = deliveries
EVENTS_PER_DELIVERY = 6
BURST = 1_000 if SMALL else 10_000
RESULTS = Path(__file__).resolve().parent / "results" / "stats.json"
T0 = "2026-01-05 09:00:00"
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _series(pg: bool, n: int) -> tuple[str, str]:
    """(WITH clause, FROM item) giving integers 1..n as column i."""
    if pg:
        return "", f"generate_series(1, {n}) AS s(i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ", "s"


def _hours(pg: bool, expr: str) -> str:
    if pg:
        return f"(TIMESTAMP '{T0}' + ({expr}) * INTERVAL '1 hour')"
    return f"datetime('{T0}', '+' || ({expr}) || ' hours')"


def _insert_select(
    conn: Connection, table: str, given: dict[str, str], from_: str, with_: str = "", where: str = ""
) -> None:
    """INSERT ... SELECT naming ``given`` columns; other columns get the model's scalar default."""
    cols = dict(given)
    for col in Base.metadata.tables[table].columns:
        if col.name in cols or col.nullable or col.primary_key:
            continue
        default = getattr(col.default, "arg", None)
        if callable(default):
            default = default.__wrapped__() if hasattr(default, "__wrapped__") else None
        if isinstance(default, enum.Enum):
            default = default.value
        if isinstance(default, bool):
            cols[col.name] = "true" if default else "false"
        elif isinstance(default, (int, float)):
            cols[col.name] = repr(default)
        elif isinstance(default, str):
            cols[col.name] = "'" + default.replace("'", "''") + "'"
        else:  # JSON columns default to an empty dict or list
            cols[col.name] = "'[]'" if "paragraphs" in col.name else "'{}'"
    sql = f"{with_}INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols.values())} FROM {from_}"
    conn.execute(text(sql + (f" WHERE {where}" if where else "")))


def generate(engine: Engine) -> None:
    """Fill an empty, migrated database: one campaign, EMAILS emails, deliveries and events."""
    pg = engine.dialect.name == "postgresql"
    now = f"TIMESTAMP '{T0}'" if pg else f"'{T0}'"
    with Session(engine) as session:
        campaign = Campaign(
            id=1, slug="bench", title="Bench", status="running", created_at=START, updated_at=START
        )
        session.add(campaign)
        for pos in range(1, EMAILS + 1):
            email = Email(id=pos, campaign=campaign, position=pos, title=f"E{pos}", subject=f"S{pos}")
            for lp, kind in enumerate(("content", "donation", "honeypot"), start=1):
                url = f"https://example.org/{pos}/{kind}"
                email.links.append(Link(id=(pos - 1) * 3 + lp, position=lp, url=url, kind=kind))
            session.add(email)
        session.commit()
    with engine.begin() as c:
        with_, from_ = _series(pg, SUBSCRIBERS)
        subscriber = {"id": "i", "email": "'b' || i || '@example.org'", "status": "'active'"}
        _insert_select(c, "subscribers", subscriber | {"created_at": now, "updated_at": now}, from_, with_)
        delivery = {
            "id": f"(e.id - 1) * {SUBSCRIBERS} + s.id",
            "subscriber_id": "s.id",
            "email_id": "e.id",
            "campaign_id": "1",
            "position": "e.position",
            "state": "CASE WHEN s.id % 50 = 0 THEN 'bounced'"
            " WHEN s.id % 97 = 0 THEN 'unknown' ELSE 'sent' END",
            "message_id": "'<' || s.id || '.' || e.id || '@b>'",
        }
        times = {k: now for k in ("next_attempt_at", "queued_at", "sent_at", "updated_at")}
        _insert_select(c, "deliveries", delivery | times, "subscribers s CROSS JOIN emails e")
        # five events per delivery: machine/human open, human open, click (content, donation, bot,
        # honeypot), implied open, late human open
        event = {
            "uid": "d.id || '-' || k.i",
            "kind": "CASE k.i WHEN 3 THEN 'click' ELSE 'open' END",
            "classification": "CASE WHEN k.i = 1 AND d.id % 3 = 0 THEN 'machine'"
            " WHEN k.i = 3 AND d.id % 7 = 0 THEN 'bot' ELSE 'human' END",
            "delivery_id": "d.id",
            "campaign_id": "1",
            "email_id": "d.email_id",
            "link_id": "CASE WHEN k.i <> 3 THEN NULL ELSE (d.position - 1) * 3"
            " + CASE WHEN d.id % 11 = 0 THEN 3 WHEN d.id % 5 = 0 THEN 2 ELSE 1 END END",
            "at": _hours(pg, "(d.position - 1) * 168 + (d.id % 72) + k.i"),
            "implied": "k.i = 4",
        }
        with_, from_ = _series(pg, EVENTS_PER_DELIVERY)
        k = from_.replace("s(i)", "k(i)") if pg else "s AS k"
        # a sixth (late human open) for about one delivery in ten: ~5,000,000 events at full size
        keep = "d.state <> 'bounced' AND (k.i <= 5 OR d.id % 49 < 5)"
        _insert_select(c, "events", event, f"deliveries d CROSS JOIN {k}", with_, keep)
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as c:
            c.execute(text("ANALYZE"))


def burst(engine: Engine, n: int) -> None:
    """Add ``n`` new human opens and clicks (as the tracking writer would)."""
    pg = engine.dialect.name == "postgresql"
    tag = uuid.uuid4().hex[:8]
    with_, from_ = _series(pg, n)
    event = {
        "uid": f"'{tag}-' || i",
        "kind": "'open'",
        "classification": "'human'",
        "delivery_id": f"(i * 7) % {SUBSCRIBERS * EMAILS} + 1",
        "campaign_id": "1",
        "email_id": f"((i * 7) % {SUBSCRIBERS * EMAILS}) / {SUBSCRIBERS} + 1",
        "at": _hours(pg, "i % 500"),
    }
    with engine.begin() as c:
        _insert_select(c, "events", event, from_, with_)


def measure(name: str, url: str) -> dict[str, object]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    t = time.perf_counter()
    generate(engine)
    gen_s = time.perf_counter() - t
    with engine.connect() as c:
        deliveries = c.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
        events = c.execute(text("SELECT count(*) FROM events")).scalar_one()
    t = time.perf_counter()
    folded = rollup.refresh(engine)
    catch_up_s = time.perf_counter() - t
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        report = campaign_report(engine, "bench")
        runs.append(time.perf_counter() - t)
    burst(engine, BURST)
    t = time.perf_counter()
    campaign_report(engine, "bench")
    after_burst_s = time.perf_counter() - t
    engine.dispose()
    out = {
        "deliveries": deliveries,
        "events": events,
        "generate_s": round(gen_s, 1),
        "rollup_catch_up_s": round(catch_up_s, 1),
        "rollup_events_per_s": round(folded / catch_up_s) if catch_up_s else None,
        "report_ms_median": round(statistics.median(runs) * 1000, 1),
        "report_ms_max": round(max(runs) * 1000, 1),
        f"report_after_{BURST}_new_events_ms": round(after_burst_s * 1000, 1),
        "human_openers": report.total.human_openers,
        "open_rate": report.total.open_rate,
    }
    print(f"{name}: {json.dumps(out)}", flush=True)
    return out


def main() -> None:
    on_every_database(measure, "stats", SMALL, RESULTS)


if __name__ == "__main__":
    main()
