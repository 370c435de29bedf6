"""A real series for subject-test and resend tests: the seed article compiled by the product,
subscribers on a list, the scheduler's leader tick on the fake clock, the worker sending to the
test SMTP server, and readers' opens and clicks as HTTP requests to the tracking routes."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from delivery.leader import LeaderLock
from delivery.lifecycle import CampaignOptions, create_campaign_from_file, schedule_campaign
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from scheduler import leader_tick
from subscribers.lifecycle import create_list
from tests.delivery.factories import add_subscribers
from wildmail.core.clock import FakeClock
from wildmail.demo.readers import UA, find_links
from wildmail.runtime.context import AppContext
from wildmail.runtime.smtp_sink import RecordingSMTPServer

SLUG = "leopard"
BROWSER = UA["desktop"]
APPLE_PROXY = UA["apple_proxy"]  # Apple Mail Privacy Protection: a machine open


@dataclass
class Received:
    """One message the relay accepted, as a reader's mail client sees it."""

    to: str
    subject: str
    html: str
    pixel: str
    clicks: list[str]
    unsubscribe: str
    message_id: str


@dataclass
class Series:
    ctx: AppContext
    clock: FakeClock
    client: TestClient
    smtp: RecordingSMTPServer
    lock: LeaderLock
    seen: int = 0
    inbox: list[Received] = field(default_factory=list)

    def run(self) -> list[Received]:
        """One leader tick (tick, policy sweep, subject tests and resends), then send everything."""
        assert leader_tick(self.ctx, self.lock)
        transport = SmtpTransport("127.0.0.1", self.smtp.port, timeout=5)
        try:
            while run_worker_once(self.ctx, transport, self.ctx.sender(), WorkerConfig()) > 0:
                pass
        finally:
            transport.close()
        fresh = []
        for message in self.smtp.messages[self.seen :]:
            parsed = email.message_from_bytes(message.data, policy=email.policy.default)
            links = find_links(message.data)
            html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
            fresh.append(
                Received(
                    message.rcpt_tos[0],
                    str(parsed["Subject"]),
                    html,
                    links.pixel or "",
                    links.clicks,
                    links.unsubscribe or "",
                    str(parsed["Message-ID"]),
                )
            )
        self.seen = len(self.smtp.messages)
        self.inbox.extend(fresh)
        return fresh

    def later(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    def open(self, message: Received, agent: str = BROWSER) -> None:
        assert self.client.get(message.pixel, headers={"User-Agent": agent}).status_code == 200

    def click(self, message: Received, index: int = 0) -> None:
        response = self.client.get(
            message.clicks[index], headers={"User-Agent": BROWSER}, follow_redirects=False
        )
        assert response.status_code in (302, 303, 307)

    def unsubscribe(self, message: Received) -> None:
        """The mail client's one-click unsubscribe (RFC 8058), a POST to the List-Unsubscribe URL."""
        response = self.client.post(message.unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200

    def flush(self) -> None:
        assert self.client.app.state.tracker.writer.flush(timeout=10)  # type: ignore[attr-defined]


@pytest.fixture
def series(ctx: AppContext, clock: FakeClock, client: TestClient, seed_article: Path) -> Iterator[Series]:
    """The seed article as a weekly series on Mondays 09:00 UTC, its list empty, started now."""
    now = clock.now()
    with ctx.session() as s:
        create_list(s, "main", "Supporters", double_opt_in=False, at=now, frequency_cap_days=7)
        options = CampaignOptions(
            name=SLUG, list_slug="main", weekday="mon", hour=9, timezone="UTC", mode="drip",
            donation_url="https://donate.example.org/leopard",
        )  # fmt: skip
        create_campaign_from_file(s, ctx.settings, seed_article, options, now)
        s.commit()
    smtp = RecordingSMTPServer().start()
    lock = LeaderLock(ctx.engine)
    try:
        yield Series(ctx, clock, client, smtp, lock)
    finally:
        lock.release()  # PostgreSQL: the advisory lock outlives the test otherwise
        smtp.stop()


def start(series: Series, people: int) -> list[int]:
    """``people`` subscribers on the list, and the series started now (email 1 due at once)."""
    ids = add_subscribers(series.ctx, people)
    schedule_campaign(series.ctx, SLUG, series.clock.now())
    return ids
