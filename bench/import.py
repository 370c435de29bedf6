"""Benchmark: CSV import of 1,000,000 subscribers (1% bad rows) into SQLite and PostgreSQL.

Each import runs in a child process that reports its own rows/s and peak RSS (getrusage).
PostgreSQL: WILDMAIL_BENCH_POSTGRES_URL or WILDMAIL_TEST_POSTGRES_URL; a scratch database is
created and dropped. BENCH_SMALL=1 imports 20,000 rows. Writes bench/results/import.json.
Run: .venv/bin/python bench/import.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from wildmail.core.db import make_engine  # noqa: E402
from wildmail.runtime import migrate  # noqa: E402

ROWS = 20_000 if os.environ.get("BENCH_SMALL") else 1_000_000
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Vladivostok", "", "Africa/Nairobi", "Not/AZone"]
COUNTRIES = ["ru", "cn", "de", "us", "kr", "jp", ""]


def generate(path: Path, rows: int) -> None:
    """A CSV with ``rows`` data rows, 1% of them bad (bad address, bad locale, duplicate)."""
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,timezone,locale,country,interest\n")
        for i in range(rows):
            email = f"Person.{i}@Example{i % 977}.org"
            locale = "en" if i % 3 else "de-DE"
            if i % 100 == 50:
                kind = (i // 100) % 3
                if kind == 0:
                    email = f"person{i}-at-example.org"
                elif kind == 1:
                    locale = "!!"
                else:
                    email = f"Person.{i - 1}@Example{(i - 1) % 977}.org"
            out.write(f"{email},Person {i},{rnd.choice(ZONES)},{locale},{rnd.choice(COUNTRIES)},leopards\n")


def child(url: str, csv_path: str) -> None:
    """Import into ``url`` and print a JSON line with figures (runs in its own process)."""
    from subscribers.csv_import import import_csv
    from wildmail.runtime.startup import wire_hooks

    wire_hooks()  # as every wildmail command does (the outbox asks whether an endpoint listens)
    engine = make_engine(url)
    started = time.perf_counter()
    report = import_csv(engine, csv_path, "bench", at=datetime.now(UTC))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "rows": report.rows, "created": report.created, "rejected": report.rejected,
        "seconds": round(seconds, 2), "rows_per_second": round(report.rows / seconds),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "client_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


def prepare(url: str, webhook: bool) -> None:
    """A migrated database with the list; with ``webhook``, an endpoint that wants the events an
    import makes (two per new active person: subscriber.created and subscriber.confirmed)."""
    from sqlalchemy.orm import Session

    from subscribers.lifecycle import create_list
    from webhooks.endpoints import add_endpoint

    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        create_list(session, "bench", "Bench", double_opt_in=False, at=datetime.now(UTC))
        if webhook:
            events = "subscriber.created,subscriber.confirmed"
            add_endpoint(session, "http://127.0.0.1:9/crm", events, datetime.now(UTC), allow_private=True)
    engine.dispose()


def run(label: str, url: str, csv_path: Path, webhook: bool = False) -> dict[str, object]:
    prepare(url, webhook)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv_path)], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise SystemExit(f"{label} import failed:\n{proc.stderr}")
    figures: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{label:10} {figures['rows']:>9} rows  {figures['rows_per_second']:>8} rows/s  "
          f"peak RSS {figures['peak_rss_mb']} MB  ({figures['seconds']} s, client CPU "
          f"{figures['client_cpu_seconds']} s, load {figures['load_average_after']})")  # fmt: skip
    return figures


def _ratio(hooked: dict[str, object], plain: object) -> None:
    assert isinstance(plain, dict)
    ratio = float(str(hooked["rows_per_second"])) / float(str(plain["rows_per_second"]))
    print(f"           with a webhook endpoint listening: {ratio:.2f}x the rate without one (same run)")


def main() -> None:
    results: dict[str, object] = {"rows": ROWS, "bad_rows_percent": 1, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="wm-bench-import-") as tmp:
        csv_path = Path(tmp) / "subscribers.csv"
        started = time.perf_counter()
        generate(csv_path, ROWS)
        size = csv_path.stat().st_size / 1e6
        print(f"generated {ROWS} rows ({size:.1f} MB) in {time.perf_counter() - started:.1f} s")
        results["sqlite"] = run("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", csv_path)
        hooked = run("sqlite+hook", f"sqlite:///{Path(tmp) / 'bench-hook.db'}", csv_path, webhook=True)
        results["sqlite_with_webhook"] = hooked
        _ratio(hooked, results["sqlite"])
        pg = os.environ.get("WILDMAIL_BENCH_POSTGRES_URL") or os.environ.get("WILDMAIL_TEST_POSTGRES_URL")
        if pg:
            name = f"wm_bench_import_{uuid.uuid4().hex[:8]}"
            admin = make_engine(pg, isolation_level="AUTOCOMMIT", no_pool=True)
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(pg).set(database=name).render_as_string(hide_password=False)
                results["postgresql"] = run("postgresql", url, csv_path)
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                hooked = run("pg+hook", url, csv_path, webhook=True)
                results["postgresql_with_webhook"] = hooked
                _ratio(hooked, results["postgresql"])
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        else:
            print("postgresql: skipped (set WILDMAIL_BENCH_POSTGRES_URL or WILDMAIL_TEST_POSTGRES_URL)")
    out = REPO / "bench" / "results" / "import.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
