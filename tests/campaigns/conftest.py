"""Fixtures for campaign tests: the CLI on a real SQLite file, the sample article."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO

SAMPLE = REPO / "campaigns" / "samples" / "amur-leopard.md"


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run CLI commands in ``tmp_path`` against this test's migrated SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WILDMAIL_CONFIG", raising=False)
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "campaign-cli-test-secret-not-for-production")
    monkeypatch.setenv("WILDMAIL_BASE_URL", "http://testserver")
    monkeypatch.setenv("WILDMAIL_FETCH_ALLOWED_NETWORKS", "127.0.0.1")  # the loopback picture server
    return tmp_path


@pytest.fixture
def run(cli_env: Path):
    """Invoke ``wildmail <args>``; returns the click Result."""
    from wildmail.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


class PictureServer:
    """A loopback HTTP server answering ``/<w>x<h>.png`` with a PNG of that size,
    ``/redirect?to=<url>`` with a redirect there (404 for anything else); ``hits`` counts
    requests by path."""

    def __init__(self) -> None:
        import http.server
        import io
        import threading
        from collections import Counter

        from PIL import Image

        self.hits: Counter[str] = Counter()
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits[self.path] += 1
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.removeprefix("/redirect?to="))
                    self.end_headers()
                    return
                stem = self.path.split("?")[0].rsplit("/", 1)[-1].removesuffix(".png")
                try:
                    width, height = (int(v) for v in stem.split("x"))
                except ValueError:
                    self.send_error(404)
                    return
                out = io.BytesIO()
                Image.new("RGB", (width, height), (40, 120, 60)).save(out, "PNG")
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(out.getvalue())))
                self.end_headers()
                self.wfile.write(out.getvalue())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def picture_server() -> Iterator[PictureServer]:
    """Pictures from a local HTTP server (tests never reach the internet)."""
    server = PictureServer()
    try:
        yield server
    finally:
        server.close()
