"""The real MTA loop: wildmail sends through a private Postfix on loopback to a local test domain;
Postfix bounces the unknown users with real DSNs to each delivery's return path, which it relays to
``wildmail inbound serve`` (the real command, in its own process). The unknown addresses end
suppressed, the others are untouched and their mail is in their mailboxes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from subscribers.models import Subscriber
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import postfix
from tests.inbound.helpers import BOUNCE_DOMAIN
from wildmail.runtime.smtp_sink import free_port

SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KNOWN = ("ana", "ben", "cai")
UNKNOWN = ("gone1", "gone2")


@pytest.fixture
def serve(ctx):
    """``wildmail inbound serve`` on a free port, with this test's database and key."""
    port = free_port()
    env = {
        **os.environ,
        "WILDMAIL_CONFIG": "/dev/null",
        "WILDMAIL_DATABASE_URL": ctx.settings.database_url,
        "WILDMAIL_SECRET_KEY": ctx.settings.secret_key,
        "WILDMAIL_BOUNCE_DOMAIN": BOUNCE_DOMAIN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wildmail.cli", "inbound", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening" in line, line + proc.stderr.read() if proc.stderr else line
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_unknown_users_bounce_back_through_postfix_and_are_suppressed(ctx, clock, serve) -> None:
    reason = postfix.unavailable()
    if reason:
        pytest.skip(reason)
    ctx.settings = ctx.settings.with_overrides(bounce_domain=BOUNCE_DOMAIN)
    # Not under pytest's tmp_path: its parents are private to root, and the daemons run as postfix.
    root = Path(tempfile.mkdtemp(prefix="wildmail-postfix-"))
    mta = postfix.PrivatePostfix(root, free_port(), BOUNCE_DOMAIN, serve, KNOWN).start()
    try:
        make_campaign(ctx, emails=1)
        add_subscribers(ctx, [(f"{u}@loop.test", u.title(), None) for u in KNOWN + UNKNOWN])
        schedule_campaign(ctx, "leopard")
        clock.set(SLOT)
        assert tick(ctx, ctx.message_ids).queued == 5
        transport = SmtpTransport("127.0.0.1", mta.port, timeout=10.0)
        assert run_worker_once(ctx, transport, ctx.sender(), WorkerConfig()) == 5
        transport.close()
        statuses: dict[str, str] = {}
        for _ in range(120):  # Postfix delivers, bounces and relays within a second or two
            with ctx.session() as s:
                statuses = dict(s.execute(select(Subscriber.email, Subscriber.status)).tuples().all())
            if all(statuses[f"{u}@loop.test"] == "bounced" for u in UNKNOWN):
                break
            time.sleep(0.5)
        assert {u: statuses[f"{u}@loop.test"] for u in UNKNOWN} == dict.fromkeys(UNKNOWN, "bounced"), (
            mta.log()
        )
        assert {u: statuses[f"{u}@loop.test"] for u in KNOWN} == dict.fromkeys(KNOWN, "active")
        assert all(postfix.delivered(mta.root, u) == 1 for u in KNOWN)
    finally:
        mta.stop()
        shutil.rmtree(root, ignore_errors=True)
