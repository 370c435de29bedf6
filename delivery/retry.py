"""Retry timing: exponential back-off with jitter, the give-up rule, and when to pause a relay."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Delays grow as base x 2^(attempt-1), capped, with +-``jitter`` randomness."""

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)
    jitter: float = 0.25
    max_attempts: int = 8
    relay_backoff: timedelta = timedelta(minutes=5)
    # A refusal about the relay itself pauses it with an alert: 15 min, doubling per pause in a row.
    relay_pause: timedelta = timedelta(minutes=15)
    relay_pause_cap: timedelta = timedelta(hours=6)
    # The same recipient-like refusal for this many different recipients in a row is the relay's.
    refusal_streak: int = 5
    # This many ``unknown`` outcomes (connection lost after the content) with none accepted between.
    unknown_streak: int = 5

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt."""
        exponent = max(0, attempts - 1)
        raw = min(self.base.total_seconds() * (2**exponent), self.cap.total_seconds())
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return timedelta(seconds=raw * spread)

    def gives_up(self, attempts: int) -> bool:
        """True when no further attempt should be made."""
        return attempts >= self.max_attempts
