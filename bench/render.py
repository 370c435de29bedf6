"""Rendering benchmark: compile once per email vs. compiling everything per recipient.

Prints compile time per email (target < 20 ms), personalised messages per second per core
for HTML + text via ``CompiledEmail.personalise`` (target >= 15,000), the baseline of a full
compile per recipient, and the ratio. Writes ``bench/results/render.json``.
``BENCH_SMALL=1`` runs tiny sizes (CI).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaigns.article import read_article_file  # noqa: E402
from campaigns.compiled import CompiledEmail, Recipient  # noqa: E402
from campaigns.render import Branding, EmailContent, RenderedEmail, render_email  # noqa: E402
from campaigns.splitter import split_article  # noqa: E402

SMALL = os.environ.get("BENCH_SMALL") == "1"
COMPILE_ROUNDS = 3 if SMALL else 30
RECIPIENTS = 2_000 if SMALL else 200_000
BASELINE_RECIPIENTS = 20 if SMALL else 300


def contents() -> list[EmailContent]:
    plan = split_article(read_article_file(ROOT / "campaigns" / "samples" / "amur-leopard.md"))
    n = len(plan.emails)
    return [
        EmailContent(
            e.position, n, e.title, e.subject, e.preheader, e.paragraphs, e.reading_minutes, plan.format
        )
        for e in plan.emails
    ]


def brand(engine: str = "css-inline") -> Branding:
    return Branding(
        "Wildlife Fund",
        "1 Example Street, 00000 Example City",
        "Six weeks with the Amur leopard",
        "https://give.example/amur",
        "Protect a leopard's forest",
        "https://wildmail.example/",
        engine=engine,
    )


def recipient(i: int, rendered: RenderedEmail) -> Recipient:
    base = "https://wildmail.example"
    return Recipient(
        name=f"Reader {i}",
        open_url=f"{base}/o/{i:08d}AbCdEfGhIjKlMnOp.gif",
        unsubscribe_url=f"{base}/u/{i:08d}QrStUvWxYz012345",
        link_urls={
            link.position: f"{base}/c/{i:08d}.{link.position}.HmAcSiGnAtUrE" for link in rendered.links
        },
    )


def bench_compile(items: list[EmailContent], engine: str) -> float:
    render_email(items[0], brand(engine))  # warm the template cache
    times = []
    for _ in range(COMPILE_ROUNDS):
        for item in items:
            t = time.perf_counter()
            render_email(item, brand(engine))
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_personalise(items: list[EmailContent]) -> float:
    rendered = [render_email(item, brand()) for item in items]
    compiled = [
        CompiledEmail(i, 1, c.position, c.subject, c.preheader, r.html, r.text)
        for i, (c, r) in enumerate(zip(items, rendered, strict=True))
    ]
    n = len(compiled)
    pools = [[recipient(j, r) for j in range(1_000)] for r in rendered]
    start = time.perf_counter()
    for i in range(RECIPIENTS):
        compiled[i % n].personalise(pools[i % n][(i // n) % 1_000])
    return RECIPIENTS / (time.perf_counter() - start)


def bench_baseline(items: list[EmailContent]) -> float:
    start = time.perf_counter()
    for i in range(BASELINE_RECIPIENTS):
        item = items[i % len(items)]
        r = render_email(item, brand())
        CompiledEmail(i, 1, item.position, item.subject, item.preheader, r.html, r.text).personalise(
            recipient(i, r)
        )
    return BASELINE_RECIPIENTS / (time.perf_counter() - start)


def main() -> None:
    items = contents()
    compile_ms = bench_compile(items, "css-inline")
    premailer_ms = bench_compile(items[:2] if SMALL else items, "premailer")
    per_second = bench_personalise(items)
    baseline = bench_baseline(items)
    results = {
        "small": SMALL,
        "emails": len(items),
        "compile_ms_per_email_css_inline": round(compile_ms, 2),
        "compile_ms_per_email_premailer": round(premailer_ms, 2),
        "personalised_per_second_per_core": round(per_second),
        "baseline_full_compile_per_second": round(baseline, 1),
        "ratio": round(per_second / baseline, 1),
        "targets": {"compile_ms_per_email": 20, "personalised_per_second_per_core": 15_000},
    }
    print(f"compile per email (css-inline): {compile_ms:8.2f} ms   (target < 20 ms)")
    print(f"compile per email (premailer):  {premailer_ms:8.2f} ms")
    print(f"personalise HTML+text:          {per_second:8.0f} messages/s per core   (target >= 15,000)")
    print(f"baseline, full compile each:    {baseline:8.1f} messages/s per core")
    print(f"ratio:                          {per_second / baseline:8.1f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "render.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not SMALL and (compile_ms >= 20 or per_second < 15_000):
        print("target missed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
