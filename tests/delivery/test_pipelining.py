"""The pipelined SMTP path (RFC 2920) against Postfix smtp-sink, which advertises PIPELINING."""

import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from delivery.enqueue import tick
from delivery.lifecycle import schedule_campaign
from delivery.models import Delivery
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from tests.delivery.factories import add_subscribers, make_campaign
from wildmail.runtime.smtp_sink import free_port

SINK = Path("/usr/sbin/smtp-sink")
DUMPS: dict[Path, Path] = {}
pytestmark = pytest.mark.skipif(not SINK.exists(), reason="Postfix smtp-sink not installed")


def sink(tmp_path, *flags):
    port = free_port()
    dump = Path(tempfile.mkdtemp(prefix="wm-sink-"))  # outside pytest's private tmp: the sink runs as nobody
    dump.chmod(0o777)
    DUMPS[tmp_path] = dump
    proc = subprocess.Popen(
        [str(SINK), "-u", "nobody", "-d", str(dump / "m-"), *flags, f"127.0.0.1:{port}", "10"]
    )
    time.sleep(0.3)
    return proc, port


def send_once_to_sink(ctx, tmp_path, *flags):
    """One worker pass against an smtp-sink started with ``flags``; the sink is gone afterwards."""
    proc, port = sink(tmp_path, *flags)
    try:
        transport = SmtpTransport("127.0.0.1", port, timeout=5)
        run_worker_once(ctx, transport, ctx.sender(), WorkerConfig())
        transport.close()
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(DUMPS.pop(tmp_path), ignore_errors=True)


def states(ctx):
    with ctx.session() as s:
        return sorted(s.execute(select(Delivery.state, Delivery.smtp_phase)).all())


def prepare(ctx, clock, people=3):
    make_campaign(ctx, emails=1)
    add_subscribers(ctx, people)
    schedule_campaign(ctx, "leopard")
    clock.set(datetime(2026, 1, 5, 9, tzinfo=UTC))
    tick(ctx, ctx.message_ids)


@pytest.mark.parametrize("window", [1, 3])
def test_pipelined_sends_are_delivered_and_recorded(ctx, clock, tmp_path, window):
    prepare(ctx, clock, 5)
    proc, port = sink(tmp_path)
    try:
        transport = SmtpTransport("127.0.0.1", port, timeout=5)
        assert run_worker_once(ctx, transport, ctx.sender(), WorkerConfig(mark_window=window)) == 5
        assert transport._conn is not None and transport._conn.has_extn("pipelining")
        transport.close()
    finally:
        proc.terminate()
        proc.wait()
    assert states(ctx) == [("sent", "done")] * 5
    dump = DUMPS.pop(tmp_path)
    dumped = [p.read_bytes() for p in dump.iterdir()]
    shutil.rmtree(dump)
    assert len(dumped) == 5 and all(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in d for d in dumped)


@pytest.mark.parametrize(
    "flags,want",
    [
        # hard reject at RCPT with "500 5.3.0": the relay's mail system, not the recipient: the
        # relay is paused, the first waits and the second is never started
        (["-f", "rcpt"], [("queued", "none"), ("retry_wait", "rcpt")]),
        (["-r", "rcpt"], [("retry_wait", "rcpt")] * 2),  # soft reject at RCPT
        (["-q", "data"], [("retry_wait", "data")] * 2),  # hang up on DATA, before any content
    ],
)
def test_pipelined_failures_are_classified(ctx, clock, tmp_path, flags, want):
    prepare(ctx, clock, 2)
    send_once_to_sink(ctx, tmp_path, *flags)
    assert states(ctx) == want


def test_hang_up_after_the_content_leaves_it_unknown_and_the_next_untouched(ctx, clock, tmp_path):
    """The content of the first message travels with the second's MAIL/RCPT/DATA: a relay that
    hangs up at the end of data makes the first ``unknown`` (maybe delivered), never the second."""
    prepare(ctx, clock, 2)
    send_once_to_sink(ctx, tmp_path, "-q", ".")
    # The second never reached DATA (its MAIL went unanswered): retried later, never unknown.
    assert states(ctx) == [("retry_wait", "mail"), ("unknown", "data")]
