"""Rendering benchmark: the worker's per-recipient build vs. compiling everything per recipient.

Prints compile time per email (target < 20 ms) and personalised messages per second per core
through ``MessageTemplate.render_wire``, the build the worker runs for every delivery: signed
open, click and unsubscribe tokens, quoted-printable splicing of HTML and text, headers, and the
dot-stuffed SMTP form (target >= 15,000). The baseline compiles the email and builds the message
from scratch for each recipient; the ratio is printed beside it. DKIM signing is measured in
``bench/send.py``. Writes ``bench/results/render.json``. ``BENCH_SMALL=1`` runs tiny sizes (CI).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from campaigns.article import read_article_file  # noqa: E402
from campaigns.compiled import CompiledEmail  # noqa: E402
from campaigns.render import Branding, EmailContent, RenderedEmail, render_email  # noqa: E402
from campaigns.splitter import split_article  # noqa: E402
from delivery.message import LinkRef, MessageTemplate, Sender  # noqa: E402

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


SENDER = Sender(
    address="news@wildmail.example",
    name="Wildlife Fund",
    base_url="https://wildmail.example",
    secret=b"bench-secret-key-bench-secret-key-0123456789",
)
SENT_AT = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
# With a bounce domain each message also gets its own signed return path and List-Unsubscribe mailto.
BOUNCE_SENDER = replace(SENDER, bounce_domain="bounces.wildmail.example")


def message_template(
    i: int, item: EmailContent, rendered: RenderedEmail, sender: Sender = SENDER
) -> MessageTemplate:
    compiled = CompiledEmail(i, 1, item.position, item.subject, item.preheader, rendered.html, rendered.text)
    links = [LinkRef(1000 * i + link.position, link.position) for link in rendered.links]
    return MessageTemplate(compiled, links, sender, list_slug="amur-leopard", list_title="Amur leopard")


def build(template: MessageTemplate, i: int) -> int:
    """One recipient's message and envelope sender as the worker builds them; returns the wire size."""
    _, wire = template.render_wire(
        i, f"<wm.{i}@wildmail.example>", f"reader{i}@example.org", f"Reader {i}", SENT_AT
    )
    return len(wire) + len(template.sender.envelope_sender(i))


def bench_compile(items: list[EmailContent], engine: str) -> float:
    render_email(items[0], brand(engine))  # warm the template cache
    times = []
    for _ in range(COMPILE_ROUNDS):
        for item in items:
            t = time.perf_counter()
            render_email(item, brand(engine))
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_personalise(items: list[EmailContent], sender: Sender = SENDER) -> float:
    templates = [
        message_template(i, item, render_email(item, brand()), sender) for i, item in enumerate(items)
    ]
    n = len(templates)
    start = time.perf_counter()
    for i in range(RECIPIENTS):
        build(templates[i % n], i + 1)
    return RECIPIENTS / (time.perf_counter() - start)


def bench_baseline(items: list[EmailContent]) -> float:
    start = time.perf_counter()
    for i in range(BASELINE_RECIPIENTS):
        item = items[i % len(items)]
        build(message_template(i, item, render_email(item, brand())), i + 1)
    return BASELINE_RECIPIENTS / (time.perf_counter() - start)


def main() -> None:
    items = contents()
    compile_ms = bench_compile(items, "css-inline")
    premailer_ms = bench_compile(items[:2] if SMALL else items, "premailer")
    per_second = bench_personalise(items)
    with_bounce = bench_personalise(items, BOUNCE_SENDER)
    baseline = bench_baseline(items)
    results = {
        "small": SMALL,
        "emails": len(items),
        "compile_ms_per_email_css_inline": round(compile_ms, 2),
        "compile_ms_per_email_premailer": round(premailer_ms, 2),
        "personalised_per_second_per_core": round(per_second),
        "personalised_with_bounce_domain_per_second": round(with_bounce),
        "baseline_full_compile_per_second": round(baseline, 1),
        "ratio": round(per_second / baseline, 1),
        "targets": {"compile_ms_per_email": 20, "personalised_per_second_per_core": 15_000},
    }
    print(f"compile per email (css-inline): {compile_ms:8.2f} ms   (target < 20 ms)")
    print(f"compile per email (premailer):  {premailer_ms:8.2f} ms")
    print(f"worker build (render_wire):     {per_second:8.0f} messages/s per core   (target >= 15,000)")
    print(
        f"  with bounce_domain (b-/u- addresses): {with_bounce:8.0f} messages/s"
        f"   ({with_bounce / per_second:.2f}x of the line above)"
    )
    print(f"baseline, compile + build each:  {baseline:8.1f} messages/s per core")
    print(f"ratio:                          {per_second / baseline:8.1f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "render.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if not SMALL and (compile_ms >= 20 or per_second < 15_000):
        print("target missed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
