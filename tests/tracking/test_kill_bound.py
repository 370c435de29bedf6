"""What a SIGKILL of ``wildmail serve`` can lose: only hits answered within the flush interval.

docs/operations.md states the bound; these tests hold the product to it and the document to the code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.tracking.conftest import BROWSER_UA, make_world
from tracking.writer import BATCH_SIZE, FLUSH_INTERVAL

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hits_answered_before_the_flush_interval_survive_sigkill(engine, settings, clock, db_url, tmp_path):
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    port = free_port()
    env = {
        **os.environ,
        "WILDMAIL_DATABASE_URL": db_url,
        "WILDMAIL_SECRET_KEY": settings.secret_key or "",
        "WILDMAIL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("WILDMAIL_CONFIG", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "wildmail.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"User-Agent": BROWSER_UA}) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    http.get("/favicon-probe")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "wildmail serve did not start"
                    time.sleep(0.1)
            answered = sum(http.get(world.open_path(i % 2)).status_code == 200 for i in range(300))
        assert answered == 300
        time.sleep(FLUSH_INTERVAL * 5)  # quiet for longer than the bound
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len([e for e in world.events() if e.kind == "open"]) == answered


def test_operations_doc_states_the_bound_the_code_has():
    doc = (REPO / "docs" / "operations.md").read_text()
    section = doc.split("## What a crash of `wildmail serve` can lose", 1)[1].split("\n## ", 1)[0]
    assert f"every {round(FLUSH_INTERVAL * 1000)} ms" in section
    assert f"at {BATCH_SIZE:,} hits" in section
    assert "SIGKILL" in section and "SIGTERM" in section
