"""Run the web app under uvicorn: ``wildmail serve``/``run`` and a background thread (demo, browser tests).

Every start goes through :func:`uvicorn_options`, so ``X-Forwarded-For`` is believed only from the
``trusted_proxies`` setting (none by default), never from uvicorn's own default of 127.0.0.1 or its
``FORWARDED_ALLOW_IPS`` environment variable.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from wildmail.core.settings import Settings
from wildmail.web.app import WebApp


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Proxy-header options for uvicorn: rewrite the client address only for requests from a trusted proxy."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def _settings_of(app: WebApp) -> Settings:
    settings: Settings = app.state.ctx.settings
    return settings


def run_server(app: WebApp, host: str, port: int) -> None:
    """Serve ``app`` in the foreground until SIGINT/SIGTERM; uvicorn's own records go to the
    handler the command set up (``log_config=None``), so ``--log-format json`` covers them too."""
    uvicorn.run(
        app, host=host, port=port, log_level="warning", log_config=None, **uvicorn_options(_settings_of(app))
    )


class ServerThread:
    """uvicorn on ``host:port`` in a daemon thread; :meth:`stop` shuts down gracefully (lifespan runs).

    ``port=0`` picks a free port; :attr:`url` is set once :meth:`start` returns.
    """

    def __init__(self, app: WebApp, host: str = "127.0.0.1", port: int = 8000) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            **uvicorn_options(_settings_of(app)),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="wm-web", daemon=True)
        self.host = host
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        """Start and wait until the server accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"web server did not start on {self.url}")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit (shutdown hooks flush pending events) and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout)
