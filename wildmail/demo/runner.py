"""Drive the whole mission on one machine with a simulated clock.

A temporary SQLite database, an in-process SMTP server that keeps what it receives (and answers
550 for a few addresses), the real inbound listener for what comes back later (DSNs and a few
complaints, see :mod:`wildmail.demo.mailback`), and the real web app on loopback. The clock jumps
from one due moment to the next: the timetable's send slots and the moments simulated readers act.
Readers' requests are real HTTP to the running app, so every figure at the end comes from the
product's own code.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import httpx

from delivery.enqueue import tick
from delivery.lifecycle import CampaignOptions, create_campaign_from_file, schedule_campaign
from delivery.queries import email_count, link_kind, next_due, sent_as
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from inbound.intake import Intake
from inbound.listener import listener
from optimise.figures import Tuning, campaign_tuning
from optimise.step import step
from optimise.subject_tests import start_test
from stats.figures import CampaignReport
from stats.html_report import write_html_report
from stats.report import campaign_report
from subscribers.csv_import import import_csv
from subscribers.lifecycle import create_list
from wildmail.core.clock import FakeClock
from wildmail.core.db import make_engine
from wildmail.core.settings import Settings
from wildmail.core.tokens import BadToken, parse_click
from wildmail.demo.donors import Donors
from wildmail.demo.mailback import Mail, answer, deliver
from wildmail.demo.population import make_population, write_csv
from wildmail.demo.readers import UA, Action, Reader, find_links, header
from wildmail.runtime import migrate
from wildmail.runtime.context import AppContext
from wildmail.runtime.smtp_sink import RecordingSMTPServer, free_port
from wildmail.web.app import create_app
from wildmail.web.serving import ServerThread

SAMPLE = Path(str(files("campaigns") / "samples" / "amur-leopard.md"))  # package data
SLUG = "amur-leopard"
LIST = "supporters"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday morning
# The demo's subject test on email 1: simulated readers open the second subject more often
# (APPEAL), so the rule has a true winner to find; max sample 400 trials.
SUBJECT_TEST = (
    ("The Amur leopard: a big cat on the edge", "Part one of our series"),
    ("Fewer than 130 Amur leopards are left", "What it takes to bring them back"),
)
APPEAL = {SUBJECT_TEST[1][0]: 2.0}


@dataclass
class DemoConfig:
    """Size and reproducibility of a demo run."""

    subscribers: int = 500
    weeks: int | None = None  # default: one week per email, plus one
    seed: int = 2026
    out: Path | None = None


@dataclass
class DemoResult:
    """What the run produced."""

    out_dir: Path
    database_url: str
    report: CampaignReport
    html_report: Path
    figures_json: Path
    messages: int
    requests: dict[str, int] = field(default_factory=dict)
    tuning: Tuning = field(default_factory=Tuning)


Progress = Callable[[float, str], None]


class _Simulation:
    def __init__(self, cfg: DemoConfig, out: Path) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.people = make_population(cfg.subscribers, self.rng)
        self.by_email = {p.email: p for p in self.people}
        self.clock = FakeClock(START)
        self.smtp = RecordingSMTPServer(hard_bounce={p.email for p in self.people if p.bounces}).start()
        port = free_port()
        self.settings = Settings(
            database_url=f"sqlite:///{out / 'wildmail-demo.db'}",
            base_url=f"http://127.0.0.1:{port}",
            secret_key=hashlib.sha256(f"wildmail-demo-{cfg.seed}".encode()).hexdigest(),
            sender_address="news@wildlife-fund.example",
            sender_name="Wildlife Fund",
            organisation="Wildlife Fund",
            postal_address="12 Forest Road, 00000 Green Valley",
            smtp_host="127.0.0.1",
            smtp_port=self.smtp.port,
            unsubscribe_mailto="unsubscribe@wildlife-fund.example",
            bounce_domain="bounces.wildlife-fund.example",
            donation_webhook_secret=hashlib.sha256(
                f"wildmail-demo-donations-{cfg.seed}".encode()
            ).hexdigest(),
        )
        engine = make_engine(self.settings.database_url)
        migrate.upgrade(engine)
        self.ctx = AppContext(self.settings, engine, self.clock)
        self.web = ServerThread(create_app(self.ctx), port=port).start()
        self.inbound = listener(engine, Intake.from_settings(self.settings), self.clock.now, port=free_port())
        self.inbound.start()
        self.mailback: list[Mail] = []
        self.returned = {"hard": 0, "soft": 0, "complaint": 0}
        self.http = httpx.Client(timeout=10.0)
        self.transport = SmtpTransport.from_settings(self.settings)
        self.worker = WorkerConfig(batch=200)
        self.sender = self.ctx.sender()
        self.reader = Reader(self.rng)
        self.actions: list[Action] = []
        self.seen = 0
        self.link_kinds: dict[int, str] = {}
        self.requests = {"pixel": 0, "click": 0, "unsubscribe": 0, "donation": 0}
        self.clicker: dict[str, str] = {}  # click URL -> the address of the person it was sent to
        self.donors = Donors(
            random.Random(cfg.seed + 1),  # its own draws: the readers' figures stay as they were
            f"{self.settings.base_url}/webhooks/donations",
            self.settings.donation_webhook_secret,
            SLUG,
        )

    def setup(self, out: Path) -> None:
        now = self.clock.now()
        with self.ctx.session() as s:
            create_list(s, LIST, "Supporters", double_opt_in=False, at=now)
            s.commit()
        import_csv(self.ctx.engine, write_csv(self.people, out / "subscribers.csv"), LIST, at=now)
        options = CampaignOptions(
            name=SLUG,
            list_slug=LIST,
            start=date(2026, 3, 3),
            weekday="tue",
            hour=9,
            timezone="Europe/London",
            mode="drip",
            donation_url="https://donate.wildlife-fund.example/amur-leopard",
        )
        with self.ctx.session() as s:
            campaign = create_campaign_from_file(s, self.settings, SAMPLE, options, now)
            start_test(s, self.settings, campaign, 1, SUBJECT_TEST, max_sample=400, now=now)
            s.commit()
        schedule_campaign(self.ctx, SLUG)

    def next_due(self) -> datetime | None:
        return next_due(self.ctx)

    def send_due(self) -> None:
        tick(self.ctx, self.ctx.message_ids)
        step(self.ctx, self.ctx.message_ids)  # the subject test is judged after each tick
        while run_worker_once(self.ctx, self.transport, self.sender, self.worker) > 0:
            pass
        self.harvest()

    def _kind(self, url: str) -> str:
        try:
            _, link_id = parse_click(self.settings.secret, url.rsplit("/c/", 1)[1])
        except (BadToken, IndexError):
            return "unknown"
        if link_id not in self.link_kinds:
            self.link_kinds[link_id] = link_kind(self.ctx, link_id) or "unknown"
        return self.link_kinds[link_id]

    def harvest(self) -> None:
        fresh = self.smtp.messages[self.seen :]
        self.seen += len(fresh)
        for received in fresh:
            person = self.by_email.get(received.rcpt_tos[0].lower())
            row = sent_as(self.ctx, header(received.data, "Message-ID"))
            if person is None or row is None:
                continue
            if person.late and (person.late != "complaint" or row.position == 2):
                n = len(self.mailback) + sum(self.returned.values())
                sent = row.sent_at or self.clock.now()
                mail = answer(person.late, person.email, received.mail_from, received.data, sent, n, self.rng)
                heapq.heappush(self.mailback, mail)
                self.returned[person.late] += 1
                continue  # a closed or full mailbox, or an annoyed reader: nobody reads it
            links = find_links(received.data)
            kinds = {u: self._kind(u) for u in links.clicks}
            appeal = APPEAL.get(header(received.data, "Subject"), 1.0)
            for url, kind in kinds.items():
                if kind == "donation":
                    self.clicker[url] = person.email
            for action in self.reader.react(
                person, links, row.position, row.sent_at or self.clock.now(), kinds, appeal
            ):
                heapq.heappush(self.actions, action)

    def act_until(self, limit: datetime) -> None:
        """Readers' requests and mail coming back, in time order, up to ``limit``."""
        while True:
            mail_at = self.mailback[0].at if self.mailback else None
            action_at = self.actions[0].at if self.actions else None
            gift_at = self.donors.next_at()
            nxt = min((t for t in (mail_at, action_at, gift_at) if t is not None), default=None)
            if nxt is None or nxt > limit:
                return
            if nxt > self.clock.now():
                self.clock.set(nxt)
            if mail_at == nxt:
                deliver(self.inbound.hostname, self.inbound.port, heapq.heappop(self.mailback))
                continue
            if gift_at == nxt:
                self.donors.give(self.http)
                self.requests["donation"] += 1
                continue
            a = heapq.heappop(self.actions)
            headers = {"User-Agent": a.user_agent}
            if a.method == "POST":
                self.http.post(a.url, data=a.data, headers=headers)
                self.requests["unsubscribe"] += 1
            else:
                answer_ = self.http.get(a.url, headers=headers)
                self.requests["pixel" if "/o/" in a.url else "click"] += 1
                donor = self.clicker.get(a.url)
                if donor and a.user_agent != UA["scanner"] and answer_.status_code == 302:
                    self.donors.after_click(donor, answer_.headers["location"], a.at)

    def close(self) -> None:
        self.web.stop()  # flushes the event writer
        self.inbound.stop()
        self.http.close()
        self.transport.close()
        self.smtp.stop()


def run_demo(cfg: DemoConfig, progress: Progress | None = None) -> DemoResult:
    """Run the simulation and write the report files; returns where everything is."""
    out = cfg.out or Path.cwd() / "demo-output"
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("wildmail-demo.db*"):
        stale.unlink()
    sim = _Simulation(cfg, out)
    try:
        sim.setup(out)
        emails = email_count(sim.ctx, SLUG) or 1
        weeks = cfg.weeks or emails + 1
        end = START + timedelta(weeks=weeks)
        total = (end - START).total_seconds()
        while True:
            sim.send_due()
            due = sim.next_due()
            if progress:
                progress(min(1.0, (sim.clock.now() - START).total_seconds() / total), f"{sim.seen} messages")
            if due is not None and due <= sim.clock.now():
                due = sim.clock.now() + timedelta(minutes=1)
            horizon = min(due or end, end)
            sim.act_until(horizon)
            if horizon >= end:
                break
            sim.clock.set(horizon)
        sim.act_until(end)
        sim.clock.set(end)
    finally:
        sim.close()
    report = campaign_report(sim.ctx.engine, SLUG, sim.clock)
    step(sim.ctx, sim.ctx.message_ids)  # the last look at the subject test
    tuning = campaign_tuning(sim.ctx, report.campaign_id)
    html = write_html_report(sim.ctx.engine, SLUG, out / "report.html", sim.clock)
    figures = out / "figures.json"
    figures.write_text(json.dumps({**report.as_dict(), **tuning.as_dict()}, indent=2), encoding="utf-8")
    if progress:
        progress(1.0, f"{sim.seen} messages")
    sim.ctx.close()
    return DemoResult(out, sim.settings.database_url, report, html, figures, sim.seen, sim.requests, tuning)
