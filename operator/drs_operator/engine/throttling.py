"""Per-connection pacing: a token-bucket rate limit and a backoff window.

Each DRS connection gets a :class:`Pacer`. ``acquire()`` waits until the
bucket has a token and any backoff window has passed. Throttling answers
(429 APIG.0308, 400 DRS.M01503, 202 DRS.M01504) and service errors open a
backoff window that grows exponentially with full jitter and shrinks back
after a success; a server's ``Retry-After`` is honoured when it is longer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from drs_operator.engine.settings import BackoffSettings


class Pacer:
    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        backoff: BackoffSettings,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._backoff = backoff
        self._clock = clock
        self._rng = rng or random.Random()
        self._stamp = clock()
        self._blocked_until = 0.0
        self._failures = 0
        self._lock = asyncio.Lock()

    @property
    def failures(self) -> int:
        return self._failures

    @property
    def blocked_for(self) -> float:
        return max(0.0, self._blocked_until - self._clock())

    def capacity(self, *, within: float) -> int:
        """How many calls this connection may make within ``within`` seconds from now."""
        self._refill()
        open_for = within - self.blocked_for
        if open_for <= 0:
            return 0
        return int(self._tokens + open_for * self._rate)

    def _refill(self) -> None:
        now = self._clock()
        if now <= self._stamp:  # still inside a backoff window: nothing accrues
            return
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def acquire(self) -> float:
        """Wait for permission to make one call; returns the seconds waited."""
        waited = 0.0
        async with self._lock:  # callers are served in order
            while True:
                self._refill()
                delay = self.blocked_for
                if delay <= 0 and self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                if delay <= 0:
                    delay = (1 - self._tokens) / self._rate
                await asyncio.sleep(delay)
                waited += delay

    def record_failure(self, *, retry_after: float | None = None) -> float:
        """Open (or widen) the backoff window; returns its length in seconds."""
        self._failures += 1
        ceiling = min(
            self._backoff.maximum,
            self._backoff.initial * self._backoff.factor ** (self._failures - 1),
        )
        # "Equal jitter": at least half the ceiling, so the window really grows.
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff.maximum))
        self._blocked_until = max(self._blocked_until, self._clock() + delay)
        # The bucket refills only after the window, so the end of a backoff lets
        # one call through, not a burst of every waiting batch at once.
        self._tokens = 0.0
        self._stamp = self._blocked_until - 1 / self._rate  # one token at the window's end
        return delay

    def record_success(self) -> None:
        self._failures = max(0, self._failures - 1) if self._failures > 1 else 0
