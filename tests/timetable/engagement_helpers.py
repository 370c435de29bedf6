"""Shared steps of the send-time and sunset tests: the production tick, engagement step and
worker on the fake clock, a real SMTP server, and opens/clicks over real HTTP."""

from __future__ import annotations

import re
from datetime import datetime

from delivery.enqueue import tick
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from scheduler import run_engagement
from wildmail.runtime.smtp_sink import Received

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"
APPLE_PROXY = "Mozilla/5.0"  # Apple Mail Privacy Protection: a machine open


def run_at(ctx, clock, smtp_server, at: datetime) -> int:
    """Move the clock, run the tick and the engagement step as the scheduler does, send what is
    queued to the SMTP server; returns how many messages the worker sent."""
    clock.set(at)
    tick(ctx, ctx.message_ids)
    run_engagement(ctx)
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=2.0)
    try:
        return run_worker_once(ctx, transport, ctx.sender(), WorkerConfig())
    finally:
        transport.close()


def inbox(smtp_server, address: str) -> list[Received]:
    return [m for m in smtp_server.messages if m.rcpt_tos == [address]]


def open_pixel(client, received: Received, agent: str = BROWSER) -> None:
    """Fetch the open pixel of a received campaign email over HTTP, as a mail client does."""
    body = received.message.get_body(("html",))
    assert body is not None
    html = body.get_content()
    url = re.search(r'<img src="([^"]+/o/[^"]+)"', html)
    assert url is not None
    path = url.group(1).split("://", 1)[1].partition("/")[2]
    assert client.get(f"/{path}", headers={"User-Agent": agent}).status_code == 200
    assert client.app.state.tracker.writer.flush(timeout=10)
