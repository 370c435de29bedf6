"""Member list speed at 1,000,000 subscribers (BENCH_SMALL=1: 2,000): search and page fetch.

Data is generated with set-based SQL: every subscriber on one big list, every 100th also on a
small list, names from a few common first names and surnames, 5% unsubscribed. Each query is
the dashboard's own (:func:`subscribers.members.search_members`), timed as the median of several
runs, and printed beside a baseline from the same run: the same address search without the index
(``substr`` over every row, :func:`subscribers.members.full_scan_search`), as a ratio.
Target: a search answers within 100 ms at 1M subscribers.
Run: ``BENCH_SMALL=1 .venv/bin/python bench/members.py`` (SQLite, and PostgreSQL when
``WILDMAIL_TEST_POSTGRES_URL`` is set). Writes bench/results/members.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._databases import on_every_database
from subscribers.members import SearchBy, full_scan_search, search_members
from wildmail.core.db import make_engine
from wildmail.runtime import migrate

SMALL = os.environ.get("BENCH_SMALL") == "1"
SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS") or (2_000 if SMALL else 1_000_000))
RUNS = 7
RESULTS = Path(__file__).resolve().parent / "results" / "members.json"
FIRST = [
    "ana",
    "bruno",
    "carla",
    "david",
    "elena",
    "farid",
    "greta",
    "hugo",
    "ines",
    "jonas",
    "kira",
    "lars",
    "maria",
    "nils",
    "olga",
    "pedro",
    "quinn",
    "rosa",
    "sven",
    "tariq",
]
LAST = [
    "lima",
    "meyer",
    "novak",
    "okafor",
    "petrov",
    "quist",
    "rossi",
    "silva",
    "tanaka",
    "umar",
    "vogel",
    "weber",
    "xu",
    "yilmaz",
    "zhou",
    "almeida",
    "berg",
    "costa",
    "dubois",
    "eriksen",
]
T0 = "2026-01-05 09:00:00"


def _series(pg: bool, n: int) -> tuple[str, str]:
    if pg:
        return "", f"generate_series(1, {n}) AS s(i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ", "s"


def _pick(words: list[str], index_sql: str) -> str:
    cases = " ".join(f"WHEN {k} THEN '{w}'" for k, w in enumerate(words))
    return f"(CASE ({index_sql}) % {len(words)} {cases} END)"


def generate(engine: Engine) -> None:
    """Fill an empty, migrated database with SUBSCRIBERS subscribers and two lists."""
    pg = engine.dialect.name == "postgresql"
    with_, from_ = _series(pg, SUBSCRIBERS)
    first, last = _pick(FIRST, "i * 7"), _pick(LAST, "i / 20")
    concat = "||"
    upper1 = "upper(substr({w}, 1, 1)) || substr({w}, 2)"
    name = f"{upper1.format(w=first)} || ' ' || {upper1.format(w=last)}"
    email = f"{first} {concat} '.' {concat} {last} {concat} CAST(i AS TEXT) {concat} '@example.org'"
    status = "CASE WHEN i % 20 = 0 THEN 'unsubscribed' ELSE 'active' END"
    ts = f"TIMESTAMP '{T0}'" if pg else f"'{T0}'"
    attrs = "'{}'::jsonb" if pg else "'{}'"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO subscriber_lists (id, slug, name, description, double_opt_in, created_at) "
                f"VALUES (1, 'everyone', 'Everyone', '', false, {ts}), (2, 'few', 'A few', '', false, {ts})"
            )
        )
        c.execute(
            text(
                f"{with_}INSERT INTO subscribers (id, email, name, locale, attributes, status, "
                f"consent_source, created_at, updated_at) SELECT i, {email}, {name}, 'en', {attrs}, "
                f"{status}, 'import', {ts}, {ts} FROM {from_}"
            )
        )
        c.execute(
            text(
                "INSERT INTO list_memberships (subscriber_id, list_id, created_at) "
                "SELECT id, 1, created_at FROM subscribers"
            )
        )
        c.execute(
            text(
                "INSERT INTO list_memberships (subscriber_id, list_id, created_at) "
                "SELECT id, 2, created_at FROM subscribers WHERE id % 100 = 0"
            )
        )
        if pg:
            c.execute(text("SELECT setval('subscribers_id_seq', (SELECT max(id) FROM subscribers))"))
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE subscribers"))
            c.execute(text("VACUUM ANALYZE list_memberships"))
    else:
        with engine.begin() as c:
            c.execute(text("ANALYZE"))


def _address_of(i: int) -> str:
    """The address generated for subscriber ``i`` (see :func:`generate`), without the domain."""
    return f"{FIRST[i * 7 % len(FIRST)]}.{LAST[i // 20 % len(LAST)]}{i}@"


def _median_ms(engine: Engine, query: Callable[[Session], Any]) -> tuple[float, Any]:
    runs, result = [], None
    with Session(engine) as s:
        query(s)  # warm the page cache and the statement cache once
        for _ in range(RUNS):
            t = time.perf_counter()
            result = query(s)
            runs.append(time.perf_counter() - t)
    return round(statistics.median(runs) * 1000, 2), result


def measure(name: str, url: str) -> dict[str, object]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    t = time.perf_counter()
    generate(engine)
    out: dict[str, object] = {"subscribers": SUBSCRIBERS, "generate_s": round(time.perf_counter() - t, 1)}
    baseline_ms, base_ids = _median_ms(engine, lambda s: full_scan_search(s, "maria.rossi"))
    out["baseline_full_scan_search_ms"] = baseline_ms
    cases: dict[str, Callable[[Session], Any]] = {
        "search_address_prefix": lambda s: search_members(s, query="maria.rossi"),
        "search_address_prefix_one": lambda s: search_members(s, query=_address_of(SUBSCRIBERS * 7 // 9)),
        "search_name_prefix": lambda s: search_members(s, query="Maria R", by=SearchBy.NAME),
        "search_name_prefix_in_list": lambda s: search_members(s, query="Olga", by=SearchBy.NAME, list_id=1),
        # worst case: a common prefix, 1 in 100 of whose people is on the list (index rows skipped)
        "search_name_prefix_in_small_list": lambda s: search_members(
            s, query="Maria", by=SearchBy.NAME, list_id=2
        ),
        # worst case of a filter: no match passes it, the page stops after SCAN_CAP matches
        "search_address_prefix_no_status_match": lambda s: search_members(
            s, query="maria", status="complained"
        ),
        "first_page_everyone": lambda s: search_members(s),
        "first_page_big_list": lambda s: search_members(s, list_id=1),
        "first_page_small_list": lambda s: search_members(s, list_id=2),
        "first_page_unsubscribed": lambda s: search_members(s, status="unsubscribed"),
    }
    with Session(engine) as s:  # a cursor 500 rows into a common prefix: a later page
        cursor = search_members(s, query="maria", limit=500).next_cursor
    cases["deep_page_address_search"] = lambda s: search_members(s, query="maria", after=cursor)
    searches: list[float] = []
    for case, query in cases.items():
        ms, page = _median_ms(engine, query)
        if case == "search_address_prefix":
            assert [m.id for m in page.members] == base_ids, "the indexed search and the baseline disagree"
        out[f"{case}_ms"] = ms
        out[f"{case}_vs_baseline"] = round(baseline_ms / ms, 1) if ms else None
        out[f"{case}_rows"] = len(page.members)
        if case.startswith("search_"):
            searches.append(ms)
    engine.dispose()
    print(f"{name}: {json.dumps(out)}", flush=True)
    slowest = max(searches)
    print(f"{name}: slowest search {slowest} ms (target < 100 ms at 1M subscribers)", flush=True)
    return out


def main() -> None:
    on_every_database(measure, "members", SMALL, RESULTS)


if __name__ == "__main__":
    main()
