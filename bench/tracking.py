"""Tracking endpoints under uvicorn + wrk on loopback, against a bare ASGI app serving the same GIF.

Usage: ``.venv/bin/python bench/tracking.py`` (``BENCH_SMALL=1``: 2 s runs; ``BENCH_WORKERS=n``;
``BENCH_POSTGRES_URL=postgresql+psycopg://...`` to use PostgreSQL instead of a temp SQLite file).

Server settings: uvloop + httptools (the fastest loop and HTTP parser uvicorn offers), no access
log, ONE worker by default. The machine has 2 cores and wrk needs one of them: a second worker
only competes with wrk for the same CPU (and, on SQLite, with the other worker's writer for the
write lock), which we measured as no faster. wrk runs 1 thread, 32 connections.

Rows: ``pixel`` (opens only) and ``click`` (clicks only), each request a distinct delivery's token
with one browser agent (a Lua script walks a list of valid requests); ``mixed``: what a campaign's
traffic looks like, one click (on one of the email's four links, one of them a donation link with
UTM parameters) per ten opens, from 200 user agents (browsers, Apple's proxy, Gmail's proxy,
scanners) and 5,000 client addresses. wrk connects from 127.0.0.1, so the addresses travel in
X-Forwarded-For, believed because the server runs with WILDMAIL_TRUSTED_PROXIES=127.0.0.1 (started
through the product's own uvicorn options). The bare app is measured on the pixel requests and on
the mixed ones. Besides req/s and latency, each run reads the CPU time of the server process and of the
processes it started (the event writer; utime + stime from /proc/<pid>/stat, 0.5 s after wrk
ends so the writer has committed) and divides it by the requests answered (the server's own
share is printed too): CPU us/request and the bare/pixel CPU ratio move far less than req/s when
other processes share the machine (the load average is printed and stored with the figures).
The CPU ratio of a row is bare / (server + writer) CPU per request.
After the run the server is stopped (SIGTERM: lifespan shutdown flushes the writer) and the
database is checked: each request wrk completed is there once; at most the requests still in
flight when wrk stopped (<= connections) are there without wrk having counted their answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SMALL = os.environ.get("BENCH_SMALL") == "1"
DURATION = 2 if SMALL else 10
CONNECTIONS = 32
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
ROUNDS = 3
SECRET = "bench-secret-key-for-a-throwaway-database"  # noqa: S105
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
RESULTS = REPO / "bench" / "results" / ("tracking-small.json" if SMALL else "tracking.json")
CLICK_EVERY = 10  # mixed traffic: one click per ten opens
MIXED_REQUESTS = 50_000  # distinct requests in the mixed list (wrk cycles through them)

# The load generator must stay cheap, or it takes the CPU the server needs: requests are
# formatted once in init() (not per request), and there is no response() callback (it makes wrk
# build a Lua table of every response's headers); wrk's own summary counts non-2xx/3xx answers.
LUA = r"""
local requests = {}
local counter = 0
local threads = {}
sent = 0
function setup(thread) table.insert(threads, thread) end
function init(args)
  local default_ua = os.getenv("BENCH_UA")
  for line in io.lines(os.getenv("BENCH_PATHS")) do
    -- a line is "path" or "path<TAB>user agent<TAB>client address"
    local path, ua, ip = line:match("^([^\t]+)\t([^\t]*)\t([^\t]*)$")
    if path then
      requests[#requests + 1] = wrk.format("GET", path, {["User-Agent"] = ua, ["X-Forwarded-For"] = ip})
    else
      requests[#requests + 1] = wrk.format("GET", line, {["User-Agent"] = default_ua})
    end
  end
end
function request()
  counter = counter + 1
  sent = sent + 1
  return requests[((counter - 1) % #requests) + 1]
end
function done(summary, latency, requests)
  local t_sent = 0
  for _, thread in ipairs(threads) do t_sent = t_sent + thread:get("sent") end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "ok": %d, "sent": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "non_2xx_3xx": %d}\n',
    summary.requests, summary.requests - summary.errors.status, t_sent, summary.duration,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""

GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_BARE_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    (b"cache-control", b"no-cache, max-age=0"),
]


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """The baseline: an ASGI app that answers every request with the GIF and does nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": _BARE_HEADERS})
    await send({"type": "http.response.body", "body": GIF})


def serve(kind: str, fd: int) -> None:
    """Child process: run uvicorn on the inherited listening socket."""
    import uvicorn

    options: dict[str, Any] = {"proxy_headers": False}
    if kind == "bare":
        app: Any = bare_app
    else:
        from wildmail.runtime.startup import open_context
        from wildmail.web.app import create_app
        from wildmail.web.serving import uvicorn_options

        ctx = open_context(schema=False)
        app = create_app(ctx)
        options = uvicorn_options(ctx.settings)  # X-Forwarded-For from WILDMAIL_TRUSTED_PROXIES only
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", access_log=False, log_level="warning", lifespan="on", **options
    )
    sock = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
    uvicorn.Server(config).run(sockets=[sock])


def seed(url: str, n: int) -> tuple[list[int], list[int]]:
    """A campaign with one email and four links (the last a donation link), and ``n`` subscribers
    with a sent delivery; returns the delivery ids and the link ids."""
    from sqlalchemy import insert, select

    from campaigns.models import Campaign, Email, Link
    from delivery.models import Delivery
    from subscribers.models import Subscriber
    from wildmail.core.db import make_engine
    from wildmail.runtime import migrate

    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    sent = now - timedelta(hours=1)
    with engine.begin() as conn:
        cid = conn.execute(
            insert(Campaign)
            .values(slug="bench", title="Bench", created_at=now, updated_at=now)
            .returning(Campaign.id)
        ).scalar_one()
        eid = conn.execute(
            insert(Email).values(campaign_id=cid, position=1, title="One", subject="One").returning(Email.id)
        ).scalar_one()
        lids = [
            conn.execute(
                insert(Link)
                .values(email_id=eid, position=p, url=f"https://example.org/{p}?b=1", kind=kind)
                .returning(Link.id)
            ).scalar_one()
            for p, kind in ((1, "content"), (2, "content"), (3, "content"), (4, "donation"))
        ]
        conn.execute(
            insert(Subscriber),
            [
                {"email": f"b{i}@example.org", "status": "active", "created_at": now, "updated_at": now}
                for i in range(n)
            ],
        )
        subs = conn.execute(select(Subscriber.id).order_by(Subscriber.id)).scalars().all()
        conn.execute(
            insert(Delivery),
            [
                {
                    "subscriber_id": s,
                    "email_id": eid,
                    "campaign_id": cid,
                    "position": 1,
                    "state": "sent",
                    "next_attempt_at": sent,
                    "message_id": f"<{s}@bench>",
                    "queued_at": sent,
                    "sent_at": sent,
                    "updated_at": sent,
                }
                for s in subs
            ],
        )
        ids = conn.execute(select(Delivery.id).order_by(Delivery.id)).scalars().all()
    engine.dispose()
    return list(ids), lids


def start_server(kind: str, env: dict[str, str]) -> tuple[list[subprocess.Popen[bytes]], int, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, str(sock.fileno())], env=env, pass_fds=[sock.fileno()]
        )
        for _ in range(WORKERS)
    ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                if c.recv(100).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise SystemExit("server did not start")
    return procs, port, sock


def stop_server(procs: list[subprocess.Popen[bytes]], sock: socket.socket) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)
    sock.close()


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the app's event writer runs in a child process)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(c) for c in task.read_text().split())
    return found


def cpu_seconds(procs: list[subprocess.Popen[bytes]], *, children: bool = True) -> float:
    """User + system CPU seconds the server processes and (``children``) the processes they
    started, i.e. the event writer, have used so far (from /proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in procs:
        for pid in _descendants(p.pid) if children else [p.pid]:
            # Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_wrk(
    port: str | int, paths_file: Path, lua: Path, procs: list[subprocess.Popen[bytes]]
) -> dict[str, float]:
    """One wrk run; also the server's CPU time per answered request (robust on a shared machine)."""
    before, before_main = cpu_seconds(procs), cpu_seconds(procs, children=False)
    env = {**os.environ, "BENCH_PATHS": str(paths_file), "BENCH_UA": BROWSER_UA}
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{DURATION}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    time.sleep(0.5)  # let the writer thread commit what it still holds (it flushes every 0.1 s)
    cpu = cpu_seconds(procs) - before
    cpu_main = cpu_seconds(procs, children=False) - before_main
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    data: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
    data["cpu_s"] = round(cpu, 3)
    data["cpu_us_per_req"] = round(cpu / max(data["requests"], 1) * 1e6, 1)
    data["cpu_us_per_req_server_only"] = round(cpu_main / max(data["requests"], 1) * 1e6, 1)
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    data["p50_ms"] = data.pop("p50_us") / 1000
    data["p99_ms"] = data.pop("p99_us") / 1000
    return data


def count_events(url: str) -> dict[str, int]:
    from sqlalchemy import text

    from wildmail.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT kind, implied, count(*), count(DISTINCT uid) FROM events GROUP BY kind, implied")
        ).all()
    engine.dispose()
    out: dict[str, int] = {}
    for kind, implied, n, distinct in rows:
        key = f"{kind}{'_implied' if implied else ''}"
        out[key], out[key + "_distinct_uids"] = n, distinct
    return out


def user_agents() -> list[str]:
    """200 agents: mostly browsers and mail clients, some Apple and Gmail proxy fetches, some scanners."""
    agents = [BROWSER_UA.replace("Chrome/120.0", f"Chrome/{100 + i}.0.{i * 7}") for i in range(150)]
    agents += [
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{i} like Mac OS X) AppleWebKit/605.1.15" for i in range(20)
    ]
    agents += ["Mozilla/5.0"] * 10  # Apple Mail Privacy Protection
    agents += [
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    ] * 10
    agents += [f"Mozilla/5.0 (compatible; Barracuda Sentinel {i})" for i in range(5)]
    agents += [f"python-requests/2.{i}" for i in range(5)]
    return agents


def mixed_lines(key: bytes, deliveries: list[int], link_ids: list[int]) -> list[str]:
    """Requests of the mixed row: ``path<TAB>user agent<TAB>client address`` (see the module docstring)."""
    from wildmail.core import tokens

    agents = user_agents()
    lines = []
    for i in range(min(MIXED_REQUESTS, len(deliveries))):
        d = deliveries[(i * 7919) % len(deliveries)]
        if i % CLICK_EVERY == CLICK_EVERY - 1:
            path = tokens.click_url("", key, d, link_ids[i // CLICK_EVERY % len(link_ids)])
        else:
            path = tokens.open_url("", key, d)
        n = (i * 31) % 5000
        lines.append(f"{path}\t{agents[(i * 13) % len(agents)]}\t10.{n // 250}.{n % 250}.{1 + i % 7}\n")
    return lines


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the most req/s, with the median CPU per request over all runs."""
    row = dict(max(runs, key=lambda r: r["rps"]))
    row["cpu_us_per_req_median"] = statistics.median(r["cpu_us_per_req"] for r in runs)
    row["ok_all_rounds"] = sum(r["ok"] for r in runs)
    row["sent_all_rounds"] = sum(r["sent"] for r in runs)
    return row


def main() -> None:
    from wildmail.core import tokens

    load_start = load_average()
    tmp = Path(tempfile.mkdtemp(prefix="wm-bench-"))
    url = os.environ.get("BENCH_POSTGRES_URL") or f"sqlite:///{tmp / 'bench.db'}"
    if url.startswith("postgresql"):
        from sqlalchemy import text

        from wildmail.core.db import make_engine

        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    n = 60_000 if SMALL else 300_000
    t0 = time.perf_counter()
    deliveries, link_ids = seed(url, n)
    print(f"seeded {n} sent deliveries in {time.perf_counter() - t0:.1f}s ({url.split(':')[0]})")
    key = SECRET.encode()
    files = {name: tmp / f"{name}.txt" for name in ("pixel", "click", "mixed")}
    files["pixel"].write_text("".join(tokens.open_url("", key, d) + "\n" for d in deliveries))
    files["click"].write_text("".join(tokens.click_url("", key, d, link_ids[0]) + "\n" for d in deliveries))
    files["mixed"].write_text("".join(mixed_lines(key, deliveries, link_ids)))
    lua = tmp / "walk.lua"
    lua.write_text(LUA)
    env = {
        **os.environ,
        "WILDMAIL_DATABASE_URL": url,
        "WILDMAIL_SECRET_KEY": SECRET,
        "WILDMAIL_TRUSTED_PROXIES": "127.0.0.1",
        "PYTHONPATH": str(REPO),
    }

    # Both servers run side by side and the wrk runs alternate, so a load change on the (shared)
    # machine hits both alike; the best of ROUNDS runs of each is reported (CPU: the median).
    bare_procs, bare_port, bare_sock = start_server("bare", env)
    procs, port, sock = start_server("app", env)
    runs: dict[str, list[dict[str, float]]] = {
        "bare": [],
        "bare_mixed": [],
        "pixel": [],
        "click": [],
        "mixed": [],
    }
    try:
        for _ in range(ROUNDS):
            runs["bare"].append(run_wrk(bare_port, files["pixel"], lua, bare_procs))
            runs["pixel"].append(run_wrk(port, files["pixel"], lua, procs))
            runs["bare_mixed"].append(run_wrk(bare_port, files["mixed"], lua, bare_procs))
            runs["mixed"].append(run_wrk(port, files["mixed"], lua, procs))
            runs["click"].append(run_wrk(port, files["click"], lua, procs))
    finally:
        stop_server(bare_procs, bare_sock)
        stop_server(procs, sock)
    rows = {name: best(r) for name, r in runs.items()}
    events = count_events(url)
    for name, base in (("pixel", "bare"), ("click", "bare"), ("mixed", "bare_mixed")):
        row, bare = rows[name], rows[base]
        row["ratio"] = round(row["rps"] / bare["rps"], 3)
        row["cpu_ratio"] = round(bare["cpu_us_per_req_median"] / row["cpu_us_per_req_median"], 3)
    answered = sum(rows[k]["ok_all_rounds"] for k in ("pixel", "click", "mixed"))
    sent = sum(rows[k]["sent_all_rounds"] for k in ("pixel", "click", "mixed"))
    stored = events.get("open", 0) + events.get("click", 0)
    distinct = events.get("open_distinct_uids", 0) + events.get("click_distinct_uids", 0)
    report = {
        "small": SMALL,
        "rounds": ROUNDS,
        "duration_s": DURATION,
        "connections": CONNECTIONS,
        "workers": WORKERS,
        "loop": "uvloop",
        "http": "httptools",
        "database": url.split(":")[0],
        "deliveries": n,
        "mixed": {
            "click_every": CLICK_EVERY,
            "user_agents": len(set(user_agents())),
            "client_addresses": 5000,
        },
        **rows,
        "pixel_ratio": rows["pixel"]["ratio"],
        "click_ratio": rows["click"]["ratio"],
        "mixed_ratio": rows["mixed"]["ratio"],
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "events": events,
        "targets": {"pixel_rps": 5000, "pixel_ratio": 0.6, "pixel_p99_ms": 50, "click_ratio": 0.3},
    }
    print(
        f"{'':11} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'answered':>9} {'CPU us/req':>11}"
        f" {'of it server':>13} {'ratio':>6} {'CPU ratio':>10}"
    )
    for name, r in rows.items():
        ratios = f" {r['ratio']:>6.2f} {r['cpu_ratio']:>10.2f}" if "ratio" in r else ""
        print(
            f"{name:11} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['ok']:>9}"
            f" {r['cpu_us_per_req_median']:>11.1f} {r['cpu_us_per_req_server_only']:>13.1f}{ratios}"
        )
    print("ratio: req/s over the bare app's; CPU ratio: bare / (server + writer) CPU per request")
    print(f"load average at start {load_start}, at end {report['load_average_end']}")
    exact = answered <= stored <= sent and stored == distinct
    print(
        f"all app runs: wrk answered {answered}, sent {sent}; events stored {stored} (distinct uids"
        f" {distinct}, implied opens {events.get('open_implied', 0)} besides), in flight at stop"
        f" {stored - answered} -> {'exactly once' if exact else 'MISMATCH'}"
    )
    report["exactly_once"] = exact
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
