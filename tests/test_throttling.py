"""The per-connection pacer: token bucket and growing, jittered backoff."""

from __future__ import annotations

import random

import pytest

from drs_operator.engine.settings import BackoffSettings
from drs_operator.engine.throttling import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.looptime
async def test_rate_limit_spaces_calls_after_the_burst() -> None:
    import asyncio

    pacer = Pacer(
        rate=2.0, burst=2, backoff=BackoffSettings(), clock=asyncio.get_running_loop().time
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    stamps = []
    for _ in range(6):
        await pacer.acquire()
        stamps.append(loop.time() - start)
    assert stamps[:2] == [0, 0]  # the burst
    assert stamps[-1] == pytest.approx(2.0, abs=0.01)  # 4 more at 2/s


def test_backoff_grows_and_is_capped() -> None:
    clock = FakeClock()
    pacer = Pacer(
        rate=100,
        burst=1,
        backoff=BackoffSettings(initial=1, maximum=8, factor=2),
        clock=clock,
        rng=random.Random(3),
    )
    delays = [pacer.record_failure() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert pacer.blocked_for > 0


def test_retry_after_is_honoured_when_longer() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=1, burst=1, backoff=BackoffSettings(initial=1, maximum=60), clock=clock)
    assert pacer.record_failure(retry_after=20) == 20
    assert pacer.blocked_for == pytest.approx(20)


def test_success_relaxes_backoff() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=1, burst=1, backoff=BackoffSettings(), clock=clock)
    pacer.record_failure()
    pacer.record_failure()
    pacer.record_success()
    pacer.record_success()
    assert pacer.failures == 0


@pytest.mark.looptime
async def test_acquire_waits_out_the_backoff_window() -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    pacer = Pacer(rate=100, burst=5, backoff=BackoffSettings(initial=4, maximum=4), clock=loop.time)
    delay = pacer.record_failure()
    start = loop.time()
    await pacer.acquire()
    assert loop.time() - start == pytest.approx(delay, abs=0.05)


@pytest.mark.looptime
async def test_the_end_of_a_backoff_lets_one_call_through_not_a_burst() -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    pacer = Pacer(rate=2.0, burst=4, backoff=BackoffSettings(initial=4, maximum=4), clock=loop.time)
    delay = pacer.record_failure()
    start = loop.time()
    stamps = []
    for _ in range(3):
        await pacer.acquire()
        stamps.append(loop.time() - start)
    # One probe at the window's end, then the rate (2/s) — not `burst` calls at once.
    assert stamps == pytest.approx([delay, delay + 0.5, delay + 1.0], abs=0.01)
