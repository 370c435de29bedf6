"""Delivery benchmarks: end-to-end send rate vs Postfix smtp-source, weekly enqueue, worker memory.

0. Signing: CPU microseconds per DKIM signature of a ~15 KB message (RSA 2048, Ed25519), by
   ``delivery.dkim`` (canonicalisation, body hash, OpenSSL signature).
1. Send: claim -> personalise -> sign -> SMTP -> mark sent, ~15 KB messages, to Postfix
   ``smtp-sink`` on loopback; in the same run ``smtp-source`` sends the same number of same-size
   messages over the same number of sessions to the same sink, and the ratio is printed (target
   >= 0.5). The headline row is the default worker with DKIM on (RSA 2048, a throwaway key made
   in the temporary folder); the rows after it run without DKIM.
   Four variants: what ``wildmail worker --concurrency 2`` runs by default (one process per
   session, durable marks, the backend's default mark window: 16 on PostgreSQL, 1 on SQLite),
   threads of one process (``--threads``) with the exact mark (window 1), and both forms with
   ``--mark-window 32``.
2. Enqueue: one weekly tick for N enrolled subscribers (target: 1,000,000 in < 20 s).
3. Memory: peak RSS of a worker process sending M messages (``ru_maxrss``), for two sizes, so the
   growth per message can be extrapolated to 1,000,000 (target < 300 MB).

Runs on SQLite and, when ``WILDMAIL_TEST_POSTGRES_URL`` is set, on PostgreSQL.
``BENCH_SMALL=1`` uses tiny sizes (CI); ``BENCH_PARTS=send,enqueue,memory`` picks parts;
``BENCH_DBS=sqlite,postgres`` picks databases (e.g. ``BENCH_PARTS=enqueue BENCH_DBS=postgres``
times only the PostgreSQL tick). ``BENCH_VARIANTS=dp,1p,32t,1pf`` picks send variants: the mark
window (``d``: the backend's default), ``p`` processes or ``t`` threads, and ``f`` for
``--fast-marks`` (asynchronous marks on PostgreSQL).
Results go to ``bench/results/send.json`` (``send-small.json`` for tiny sizes).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, literal, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from campaigns.models import Campaign, Email, Enrolment, Link  # noqa: E402
from delivery.compose import load_template  # noqa: E402
from delivery.enqueue import tick  # noqa: E402
from delivery.ledger import default_mark_window  # noqa: E402
from delivery.lifecycle import schedule_campaign  # noqa: E402
from delivery.message import MessageTemplate, Sender  # noqa: E402
from delivery.models import Delivery  # noqa: E402
from delivery.smtp_transport import SmtpTransport  # noqa: E402
from delivery.worker import Worker, WorkerConfig  # noqa: E402
from subscribers.models import ListMembership, Subscriber, SubscriberList  # noqa: E402
from wildmail.core.clock import FakeClock  # noqa: E402
from wildmail.core.db import make_engine  # noqa: E402
from wildmail.core.settings import Settings  # noqa: E402
from wildmail.runtime import migrate  # noqa: E402
from wildmail.runtime.context import AppContext  # noqa: E402
from wildmail.runtime.smtp_sink import free_port  # noqa: E402

SMALL = os.environ.get("BENCH_SMALL") == "1"
PARTS = set(os.environ.get("BENCH_PARTS", "send,enqueue,memory").split(","))
PG_URL = os.environ.get("WILDMAIL_TEST_POSTGRES_URL", "")
DBS = set(os.environ.get("BENCH_DBS", "sqlite,postgres").split(","))
SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
SEND_COUNT = 300 if SMALL else 6000
ENQUEUE_COUNT = 2000 if SMALL else 1_000_000
MEMORY_COUNTS = (200, 400) if SMALL else (5000, 20000)
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
# (mark window, one process per session, durable marks); the first is `wildmail worker -c 2`
VARIANT_NAMES = os.environ.get("BENCH_VARIANTS", "dp,1t,32p,32t").split(",")
VARIANTS = tuple(
    (None if v[0] == "d" else int(v.rstrip("ptf")), "p" in v, not v.endswith("f")) for v in VARIANT_NAMES
)
SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PARAGRAPH = "<p>Amur leopards cross frozen rivers and thin forests; patrols count their tracks. </p>\n"


class Database:
    """A fresh migrated database (SQLite file or a new PostgreSQL database) for one measurement."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        else:
            self.name = f"wm_bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT", no_pool=True)
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            admin.dispose()
            self.url = make_url(PG_URL).set(database=self.name).render_as_string(hide_password=False)
        engine = make_engine(self.url)
        migrate.upgrade(engine)
        engine.dispose()

    def drop(self) -> None:
        if self.kind == "postgres":
            admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT", no_pool=True)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()


def make_ctx(url: str, smtp_port: int = 25, dkim_key: str = "") -> AppContext:
    """A context on ``url``; ``dkim_key`` names an RSA key file to sign with (selector ``bench``)."""
    settings = Settings(
        database_url=url,
        base_url="https://mail.example.org",
        secret_key="bench-secret-key-for-a-throwaway-database",  # noqa: S106
        sender_address="news@wildmail.test",
        smtp_port=smtp_port,
        dkim_selector="bench" if dkim_key else "",
        dkim_private_key_file=dkim_key,
    )
    return AppContext(settings=settings, engine=make_engine(url), clock=FakeClock(SLOT - timedelta(hours=1)))


def populate(ctx: AppContext, count: int, size: int = 15_000) -> None:
    """A one-email campaign (~``size`` bytes of HTML) and ``count`` subscribers, scheduled."""
    now = ctx.clock.now()
    html = "<html><body><p>Hello %%WM_NAME%%,</p>\n"
    html += '<p><a href="%%WM_LINK_1%%">Read</a> <a href="%%WM_LINK_2%%">Donate</a></p>\n'
    html += PARAGRAPH * max(1, (size * 2 // 3) // len(PARAGRAPH))
    html += '<img src="%%WM_OPEN_URL%%"><a href="%%WM_UNSUBSCRIBE_URL%%">Unsubscribe</a></body></html>'
    txt = "Hello %%WM_NAME%%,\n" + "Amur leopards cross frozen rivers.\n" * (size // 3 // 36)
    txt += "Read: %%WM_LINK_1%%\nUnsubscribe: %%WM_UNSUBSCRIBE_URL%%\n"
    with ctx.engine.begin() as conn:
        list_id = conn.execute(
            insert(SubscriberList).values(slug="main", name="Main", double_opt_in=False, created_at=now)
        ).inserted_primary_key[0]  # type: ignore[index]
        cid = conn.execute(
            insert(Campaign).values(
                slug="bench",
                title="Bench",
                source_name="",
                source_text="",
                list_id=list_id,
                segment={},
                mode="drip",
                cadence_days=7,
                send_weekday=0,
                send_hour=9,
                timezone="UTC",
                status="draft",
                donation_url="",
                donation_text="Donate",
                template="",
                render_engine="css-inline",
                track_identity=True,
                stop_donation_after_click=False,
                grace_hours=24,
                min_gap_hours=72,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        eid = conn.execute(
            insert(Email).values(
                campaign_id=cid,
                position=1,
                title="One",
                subject="Part 1: the leopard's forest",
                preheader="",
                paragraphs=[],
                word_count=0,
                reading_minutes=1,
                compiled_html=html,
                compiled_text=txt,
                compiled_at=now,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        for pos in (1, 2):
            conn.execute(
                insert(Link).values(
                    email_id=eid, position=pos, url="https://example.org", kind="content", label=""
                )
            )
        step = 50_000
        for start in range(0, count, step):
            conn.execute(
                insert(Subscriber),
                [
                    dict(
                        email=f"r{i}@example.org",
                        name=f"Reader {i}",
                        status="active",
                        locale="en",
                        attributes={},
                        consent_source="import",
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(start, min(count, start + step))
                ],
            )
        conn.execute(
            insert(ListMembership).from_select(
                ["subscriber_id", "list_id", "created_at"],
                select(Subscriber.id, literal(list_id), literal(now, ListMembership.created_at.type)),
            )
        )
    schedule_campaign(ctx, "bench")


class Sink:
    """Postfix smtp-sink on a loopback port (counts nothing, accepts everything)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([SINK, "-u", "nobody", f"127.0.0.1:{self.port}", "256"])
        time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def smtp_source_rate(port: int, count: int, size: int, sessions: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [SOURCE, "-d", "-s", str(sessions), "-l", str(size), "-m", str(count), f"127.0.0.1:{port}"],
        check=True,
        capture_output=True,
    )
    return count / (time.perf_counter() - start)


def message_size(ctx: AppContext) -> int:
    """Bytes of one personalised message of the benchmark campaign."""
    template = load_template_for_size(ctx)
    return len(template.render(1, "<x@y>", "r0@example.org", "Reader 0", SLOT))


def load_template_for_size(ctx: AppContext) -> MessageTemplate:
    with ctx.session() as s:
        return load_template(s, 1, Sender.from_settings(ctx.settings))


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of any process on this machine (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (``RUSAGE_SELF``) or its waited-for children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def our_rate(
    ctx: AppContext, port: int, count: int, concurrency: int, window: int, durable: bool
) -> tuple[float, float]:
    """Drain ``count`` queued deliveries with ``concurrency`` worker threads; (msgs/s, CPU s/msg)."""
    ctx.clock.set(SLOT)  # type: ignore[attr-defined]
    config = WorkerConfig(batch=100, mark_window=window, durable_marks=durable)
    workers = [
        Worker(
            ctx, SmtpTransport("127.0.0.1", port, timeout=10), ctx.sender(), WorkerConfig(**config.__dict__)
        )
        for _ in range(concurrency)
    ]

    def drain(w: Worker) -> None:
        while w.run_once() or w.last_claimed:
            pass
        w.transport.close()

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    cpu = cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
    with ctx.session() as s:
        sent = s.execute(select(func.count()).where(Delivery.state == "sent")).scalar()
    assert sent == count, f"only {sent} of {count} sent"
    return count / elapsed, cpu / count


def bench_send(
    kind: str, tmp: Path, window: int | None, processes: bool, durable: bool, dkim_key: str = ""
) -> dict[str, object]:
    db = Database(kind, tmp)
    sink = Sink()
    try:
        ctx = make_ctx(db.url, sink.port, dkim_key)
        window = window or default_mark_window(ctx.engine, durable)
        populate(ctx, SEND_COUNT)
        tick_at_slot(ctx)
        LAST_BACKEND_CPU[0] = 0.0
        sink_before = proc_cpu(sink.proc.pid)
        if processes:
            ours, cpu = our_rate_processes(ctx, sink.port, SEND_COUNT, CONCURRENCY, window, durable, dkim_key)
        else:
            ours, cpu = our_rate(ctx, sink.port, SEND_COUNT, CONCURRENCY, window, durable)
        sink_ours = (proc_cpu(sink.proc.pid) - sink_before) / SEND_COUNT
        size = message_size(ctx)
        sink_before = proc_cpu(sink.proc.pid)
        theirs = smtp_source_rate(sink.port, SEND_COUNT, size, CONCURRENCY)
        sink_theirs = (proc_cpu(sink.proc.pid) - sink_before) / SEND_COUNT
        ctx.close()
    finally:
        sink.stop()
        db.drop()
    return {
        "messages": SEND_COUNT,
        "bytes_per_message": size,
        "sessions": CONCURRENCY,
        "workers": "processes" if processes else "threads",
        "mark_window": window,
        "dkim": "rsa2048" if dkim_key else "off",
        "marks": "durable" if durable else "fast",
        "ours_per_s": round(ours, 1),
        "cpu_us_per_message": round(cpu * 1e6),
        "smtp_source_per_s": round(theirs, 1),
        "ratio": round(ours / theirs, 3),
        **cpu_budget(cpu, sink_ours, LAST_BACKEND_CPU[0] if processes else None, sink_theirs, theirs),
    }


def cpu_budget(
    worker: float, sink: float, backend: float | None, sink_theirs: float, theirs: float
) -> dict[str, object]:
    """Where one message's CPU goes, and the rate this machine's cores could reach if every one of
    them did nothing but that work: the ceiling of the ratio, whatever the scheduling."""
    if backend is None or not sink:
        return {}
    total = worker + sink + backend
    ceiling = (os.cpu_count() or 1) / total
    return {
        "sink_cpu_us_per_message": round(sink * 1e6),
        "db_server_cpu_us_per_message": round(backend * 1e6),
        "smtp_source_sink_cpu_us_per_message": round(sink_theirs * 1e6),
        "cpu_ceiling_per_s": round(ceiling),
        "ceiling_ratio": round(ceiling / theirs, 3),
    }


def throwaway_key(tmp: Path) -> str:
    """A fresh RSA 2048 key file in the benchmark's temporary folder."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp / "bench-dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(path)


def bench_signing(rounds: int = 200 if SMALL else 2000) -> dict[str, float]:
    """CPU µs per signature of a ~15 KB message, RSA 2048 and Ed25519 (``delivery.dkim``)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from delivery.dkim import DkimKey, DkimSigner

    head = (
        b"Date: Mon, 05 Jan 2026 09:00:00 +0000\r\nMessage-ID: <wm.1.1.1.abc@wildmail.test>\r\n"
        b"To: Reader 0 <r0@example.org>\r\nList-Unsubscribe: <https://mail.example.org/u/abc>,\r\n"
        b" <mailto:unsubscribe@wildmail.test?subject=unsubscribe>\r\n"
        b"From: Wildlife Fund <news@wildmail.test>\r\nSubject: Part 1: the leopard's forest\r\n"
        b"MIME-Version: 1.0\r\nList-Id: Bench <bench.wildmail.test>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nFeedback-ID: bench:main:wf:wildmail\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\n\r\n'
    )
    body = PARAGRAPH.replace("\n", "\r\n").encode() * (15_000 // len(PARAGRAPH))
    message = head + body
    keys: dict[str, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey] = {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    out: dict[str, float] = {"message_bytes": len(message)}
    for name, key in keys.items():
        signer = DkimSigner([DkimKey("bench", "wildmail.test", key)])
        signer.sign(message)
        start = time.process_time()
        for _ in range(rounds):
            signer.sign(message)
        out[f"{name}_us_cpu"] = round((time.process_time() - start) / rounds * 1e6, 1)
    return out


def tick_at_slot(ctx: AppContext) -> float:
    ctx.clock.set(SLOT)  # type: ignore[attr-defined]
    start = time.perf_counter()
    report = tick(ctx, ctx.message_ids)
    elapsed = time.perf_counter() - start
    assert report.queued > 0
    return elapsed


def bench_enqueue(kind: str, tmp: Path) -> dict[str, float]:
    db = Database(kind, tmp)
    try:
        ctx = make_ctx(db.url)
        t0 = time.perf_counter()
        populate(ctx, ENQUEUE_COUNT, size=2000)
        setup = time.perf_counter() - t0
        with ctx.session() as s:
            s.execute(text("ANALYZE"))
            s.commit()
        elapsed = tick_at_slot(ctx)
        with ctx.session() as s:
            queued = s.execute(select(func.count()).select_from(Delivery)).scalar()
            advanced = s.execute(select(func.count()).where(Enrolment.next_position == 2)).scalar()
        assert queued == advanced == ENQUEUE_COUNT
        ctx.close()
    finally:
        db.drop()
    return {"enrolled": ENQUEUE_COUNT, "tick_seconds": round(elapsed, 2), "setup_seconds": round(setup, 1)}


DRAIN_CHILD = """
import sys
sys.path.insert(0, {root!r})
from bench.send import make_ctx, SLOT
from delivery.smtp_transport import SmtpTransport
from delivery.worker import Worker, WorkerConfig
ctx = make_ctx({url!r}, {port}, {dkim_key!r})
ctx.clock.set(SLOT)
config = WorkerConfig(batch=100, mark_window={window}, durable_marks={durable})
w = Worker(ctx, SmtpTransport("127.0.0.1", {port}), ctx.sender(), config)
w.cache.get(ctx, 1)
print("ready", flush=True)
sys.stdin.readline()
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
sent = 0
while True:
    sent += w.run_once()
    if not w.last_claimed:
        break
backends = "-"
if ctx.engine.dialect.name == "postgresql":  # the server processes of this database's connections
    from sqlalchemy import text
    from bench.send import proc_cpu
    with ctx.engine.connect() as conn:
        pids = conn.execute(
            text("select pid from pg_stat_activity where datname = current_database()")
        ).scalars().all()
    backends = ",".join(f"{{pid}}:{{proc_cpu(pid)}}" for pid in pids)
w.ledger.close()
w.transport.close()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(sent, usage.ru_utime + usage.ru_stime - cpu, backends, flush=True)
"""


LAST_BACKEND_CPU = [0.0]  # database server CPU s/msg of the last process run (its connections' backends)


def our_rate_processes(
    ctx: AppContext, port: int, count: int, processes: int, window: int, durable: bool, dkim_key: str = ""
) -> tuple[float, float]:
    """Like :func:`our_rate` with one worker process per session (uses every core, no shared GIL)."""
    url = ctx.settings.database_url
    code = DRAIN_CHILD.format(
        root=str(ROOT), url=url, port=port, window=window, durable=durable, dkim_key=dkim_key
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    sent, cpu, backends = 0, 0.0, dict[str, float]()
    for child in children:
        out, _ = child.communicate(timeout=600)
        child_sent, child_cpu, seen = out.strip().splitlines()[-1].split()
        sent, cpu = sent + int(child_sent), cpu + float(child_cpu)
        for pid, used in (item.split(":") for item in seen.split(",") if ":" in item):
            backends[pid] = max(backends.get(pid, 0.0), float(used))  # each child sees every backend
    elapsed = time.perf_counter() - start
    assert sent == count, f"only {sent} of {count} sent"
    LAST_BACKEND_CPU[0] = sum(backends.values()) / count
    return count / elapsed, cpu / count


MEMORY_CHILD = """
import resource, sys, threading
sys.path.insert(0, {root!r})
from bench.send import make_ctx, SLOT
from delivery.smtp_transport import SmtpTransport
from delivery.worker import Worker, WorkerConfig
ctx = make_ctx({url!r}, {port})
ctx.clock.set(SLOT)
w = Worker(ctx, SmtpTransport("127.0.0.1", {port}), ctx.sender(), WorkerConfig(batch=100))
while w.run_once() or w.last_claimed:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(kind: str, tmp: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    sink = Sink()
    try:
        for count in MEMORY_COUNTS:
            db = Database(kind, tmp)
            try:
                ctx = make_ctx(db.url)
                populate(ctx, count)
                tick_at_slot(ctx)
                ctx.close()
                code = MEMORY_CHILD.format(root=str(ROOT), url=db.url, port=sink.port)
                res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                out[f"peak_rss_mb_{count}"] = round(int(res.stdout.strip().splitlines()[-1]) / 1024, 1)
            finally:
                db.drop()
    finally:
        sink.stop()
    small, large = MEMORY_COUNTS
    per_message = (out[f"peak_rss_mb_{large}"] - out[f"peak_rss_mb_{small}"]) / (large - small)
    out["mb_per_message"] = round(per_message, 6)
    out["extrapolated_mb_1m"] = round(
        out[f"peak_rss_mb_{large}"] + max(0.0, per_message) * (1_000_000 - large), 1
    )
    return out


def main() -> None:
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("bench/send.py needs Postfix smtp-sink and smtp-source (apt-get install postfix)")
    kinds = [k for k in ["sqlite"] + (["postgres"] if PG_URL else []) if k in DBS]
    out = ROOT / "bench" / "results" / ("send-small.json" if SMALL else "send.json")
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.update(small=SMALL, concurrency=CONCURRENCY)
    tmp = Path(tempfile.mkdtemp(prefix="wm-bench-"))
    try:
        if "send" in PARTS:
            signing = bench_signing()
            results["signing"] = signing
            print(
                f"DKIM signing of a {signing['message_bytes']:.0f} B message: "
                f"RSA 2048 {signing['rsa2048_us_cpu']} us CPU, Ed25519 {signing['ed25519_us_cpu']} us CPU"
            )
        for kind in kinds:
            sends = []
            # the headline first: the default worker with DKIM on; then the variants without DKIM
            headline = (*VARIANTS[0], throwaway_key(tmp))
            rows = [headline] + [(w, p, d, "") for w, p, d in VARIANTS]
            for window, processes, durable, dkim_key in rows if "send" in PARTS else ():
                send = bench_send(kind, tmp, window, processes, durable, dkim_key)
                sends.append(send)
                print(
                    f"[{kind}] send {send['messages']} x {send['bytes_per_message']} B, "
                    f"{CONCURRENCY} sessions ({send['workers']}), "
                    f"mark window {send['mark_window']}, {send['marks']} marks, DKIM {send['dkim']}: "
                    f"ours {send['ours_per_s']}/s "
                    f"({send['cpu_us_per_message']} us CPU/msg), "
                    f"smtp-source {send['smtp_source_per_s']}/s, ratio {send['ratio']}"
                )
                if "cpu_ceiling_per_s" in send:
                    print(
                        f"[{kind}]   CPU per message: worker {send['cpu_us_per_message']} us, sink "
                        f"{send['sink_cpu_us_per_message']} us, database server "
                        f"{send['db_server_cpu_us_per_message']} us; all {os.cpu_count()} cores busy with "
                        f"nothing else would give {send['cpu_ceiling_per_s']}/s, "
                        f"ratio ceiling {send['ceiling_ratio']}"
                    )
            enqueue = bench_enqueue(kind, tmp) if "enqueue" in PARTS else {}
            if enqueue:
                print(f"[{kind}] weekly tick for {enqueue['enrolled']} enrolled: {enqueue['tick_seconds']} s")
            memory = bench_memory(kind, tmp) if "memory" in PARTS else {}
            if memory:
                print(f"[{kind}] worker peak RSS: {memory}")
            measured = {"send": sends, "enqueue": enqueue, "memory": memory}
            previous: dict[str, Any] = results.get(kind) or {}
            results[kind] = {**previous, **{k: v for k, v in measured.items() if v}}  # keep parts not rerun
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
