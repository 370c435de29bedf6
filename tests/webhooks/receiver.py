"""A real webhook receiver on loopback (http.server in a thread) that checks every signature with
the ``standardwebhooks`` library (an implementation independent of ours) and answers with the
status codes a test lines up."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    answered: int
    signature_ok: bool
    fresh: bool  # the library's full verify (signature and a timestamp within 5 minutes) passed

    @property
    def document(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Start with :meth:`start`; ``answers`` are used in order, then ``default``."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                code = receiver._record(headers, body)
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, headers: dict[str, str], body: bytes) -> int:
        hook = Webhook(self.secret)
        signature_ok = False
        try:  # the signature alone: tests move a fake clock, so the timestamp may be far from now
            stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
            expected = hook.sign(headers["webhook-id"], stamp, body.decode())
            signature_ok = expected in headers["webhook-signature"].split(" ")
        except (KeyError, ValueError):
            pass
        try:
            hook.verify(body, headers)
            fresh = True
        except WebhookVerificationError:
            fresh = False
        with self._lock:
            code = self.answers.pop(0) if self.answers else self.default
            self.received.append(Received(headers, body, code, signature_ok, fresh))
        return code

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.document["type"] == event_type]

    def wait_for(self, event_type: str, timeout: float = 30.0) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of_type(event_type)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} arrived; got {[r.document['type'] for r in self.received]}")
