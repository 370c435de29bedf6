"""Run the web app under uvicorn in a background thread (demo, ``wildmail run``, browser tests)."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI


class ServerThread:
    """uvicorn on ``host:port`` in a daemon thread; :meth:`stop` shuts down gracefully (lifespan runs)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="wm-web", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        """Start and wait until the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"web server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit (shutdown hooks flush pending events) and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout)
