"""Stopping long-running commands on SIGTERM/SIGINT without doing work inside a signal handler.

systemd stops a unit by sending SIGTERM to every process of its group, and a supervising parent
forwards it too, so a process may get two signals in quick succession. A handler that prints,
logs or takes a lock can be re-entered by the second one; these handlers only record the signal,
and the main thread acts on it between short waits.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

POLL = 0.2  # seconds between looks at the flag and the parent


class StopFlag:
    """Set by SIGTERM/SIGINT (the first signal's number is kept) or by a vanished parent."""

    def __init__(self, parent_pid: int | None = None) -> None:
        self.signum: int | None = None
        self.parent_pid = parent_pid

    def install(self) -> StopFlag:
        signal.signal(signal.SIGTERM, self._note)
        signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    def parent_gone(self) -> bool:
        """True when this process was started by a parent that is no longer its parent (it died)."""
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def reason(self) -> str | None:
        """Why to stop (for one line of output), or None to keep running."""
        if self.signum is not None:
            return f"signal {self.signum}"
        if self.parent_gone():
            return f"parent process {self.parent_pid} gone"
        return None


def run_until_stopped(
    flag: StopFlag, stop: threading.Event, target: Callable[[], None], announce: Callable[[str], None]
) -> None:
    """Run ``target`` (which returns once ``stop`` is set) in a thread; the main thread watches
    ``flag``, announces the reason once and sets ``stop``."""
    runner = threading.Thread(target=target, name="wm-run")
    runner.start()
    while runner.is_alive():
        runner.join(POLL)
        reason = flag.reason()
        if reason is not None and not stop.is_set():
            announce(reason)
            stop.set()
