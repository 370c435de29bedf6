"""Per-client request limits kept in memory: at most N events per key within a sliding window.

Used for the public subscribe form (posts per client address per hour). The counts live in the
web process: each ``wildmail serve`` process counts on its own and a restart forgets them, which
is enough to stop one client from mailing dozens of addresses. Memory is bounded: past
``max_keys`` clients the least recently seen are forgotten.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta


class WindowLimit:
    """Allow at most ``limit`` events per key in any ``window``."""

    def __init__(self, limit: int, window: timedelta, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window.total_seconds(), max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # sync routes run on several threads

    def allow(self, key: str, now: datetime) -> bool:
        """Record an event for ``key`` at ``now`` and return True, or return False when over the limit."""
        t = now.timestamp()
        with self._lock:
            times = self._events.pop(key, None) or deque()
            while times and times[0] <= t - self.window:
                times.popleft()
            allowed = len(times) < self.limit
            if allowed:
                times.append(t)
            if times:
                self._events[key] = times  # most recently seen last
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return allowed

    def retry_after(self, key: str, now: datetime) -> int:
        """Whole seconds until ``key`` may have another event (at least 1)."""
        with self._lock:
            times = self._events.get(key)
            if not times:
                return 1
            return max(1, int(times[0] + self.window - now.timestamp() + 0.999))
