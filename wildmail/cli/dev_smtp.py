"""``wildmail dev-smtp``: a local SMTP server for trying wildmail out; every message lands in a folder.

Nothing is delivered anywhere: each accepted message is written to ``--out`` as a numbered
``.eml`` file and announced with one line. It listens on loopback at the configured
``smtp_port`` unless ``--port`` says otherwise, so the worker and ``test-send`` reach it as they
would a real relay.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from wildmail.cli.common import EXIT_FAILURE, console, fail
from wildmail.cli.stopping import POLL, StopFlag
from wildmail.core.settings import SettingsError, load_settings
from wildmail.runtime.smtp_sink import Received, RecordingSMTPServer


class FolderSink(RecordingSMTPServer):
    """Keeps nothing in memory: each message goes to ``folder`` and is announced."""

    def __init__(self, port: int, folder: Path) -> None:
        super().__init__(port=port)
        self.folder = folder
        self._count = len(list(folder.glob("*.eml")))
        self._write_lock = threading.Lock()

    def record(self, received: Received) -> None:
        with self._write_lock:
            self._count += 1
            number = self._count
        first = received.rcpt_tos[0] if received.rcpt_tos else "nobody"
        name = f"{number:04d}-{re.sub(r'[^A-Za-z0-9@._-]', '_', first)[:80]}.eml"
        (self.folder / name).write_bytes(received.data)
        subject = received.message["Subject"] or ""
        console.print(
            f"dev-smtp: {', '.join(received.rcpt_tos)}: {subject!r} -> {self.folder / name}",
            highlight=False,
            soft_wrap=True,
        )


def dev_smtp(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 [default: smtp_port].")] = None,
    out: Annotated[Path, typer.Option(help="Folder the messages are written to.")] = Path("dev-mail"),
) -> None:
    """A local SMTP server for trying wildmail: messages are written to a folder, never delivered."""
    if port is None:
        try:
            port = load_settings().smtp_port
        except SettingsError as exc:
            fail(str(exc))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{out}: cannot create ({exc.strerror or exc})")
    flag = StopFlag().install()
    sink = FolderSink(port, out)
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:
        fail(f"cannot listen on 127.0.0.1:{port} ({exc}); is another server using it? (--port)", EXIT_FAILURE)
    console.print(f"dev-smtp listening on 127.0.0.1:{port}; messages are written to {out}/", highlight=False)
    try:
        while flag.reason() is None:
            time.sleep(POLL)
    finally:
        sink.stop()
