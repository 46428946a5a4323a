"""The refresher where users live: a few dozen jobs per connection, shared call times.

The real refresher, registry, connections and writer against the DRS simulator
and the Kubernetes emulator (the harness of ``tests/test_refresher.py``), with
virtual time: each step moves the injected clock to the next due time and runs
one pass. Every batch-detail call of a pass is taken to happen at that time.

Checked: a connection's jobs converge onto shared calls (full batches), a
steady job rides in the calls an in-progress job makes anyway, a pass keeps a
connection's in-progress jobs in one call, no job is ever
refreshed later than its cadence (a property over random phases and
cadences), and one connection's backlog never holds another connection up.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drs_operator.domain.cadence import CadenceSettings, Pace, base_interval
from drs_operator.engine.registry import JobRecord
from drs_operator.engine.settings import BatchingSettings, Settings
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import PROJECT
from tests.test_refresher import SETTINGS, Harness, h

__all__ = ["h"]  # the harness fixture, shared with test_refresher

STEADY, IN_PROGRESS, FAILED = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_STARTED", "CREATE_FAILED"
BATCH = SETTINGS.batching.batch_size


class Timeline:
    """Runs passes at due times and keeps, per call, its virtual time and IDs."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.calls: list[tuple[float, tuple[str, ...]]] = []
        self._seen = len(h.sim.stats.requests)

    async def step(self) -> None:
        wait = self.h.registry.next_due_in()
        assert wait is not None
        self.h.now += wait
        await self.h.cycle()
        requests = self.h.sim.stats.requests
        for request in requests[self._seen :]:
            if request.path.endswith("/batch-detail"):
                self.calls.append((self.h.now, request.ids))
        self._seen = len(requests)

    async def run_until(self, end: float) -> None:
        while True:
            wait = self.h.registry.next_due_in()
            if wait is None or self.h.now + wait >= end:
                return
            await self.step()

    def between(self, start: float, end: float) -> list[tuple[str, ...]]:
        return [ids for at, ids in self.calls if start <= at < end]

    def refreshes(self, job_id: str) -> list[float]:
        return [at for at, ids in self.calls if job_id in ids]


def spread(h: Harness, records: Sequence[JobRecord], pace: Pace, period: float) -> None:
    """Give the jobs phases spread evenly over ``period`` (as drift leaves them)."""
    for i, record in enumerate(records):
        h.registry.schedule(record, pace, period * i / len(records))


async def test_spread_steady_jobs_converge_onto_full_calls(h: Harness) -> None:
    """12 steady jobs whose phases drifted apart: two calls per cycle from the third on.

    Before, each job kept its own phase: a call carried the jobs due within a
    few seconds, here one or two, so about 12 calls per minute.
    """
    ids = [h.sim.add_job(status=STEADY) for _ in range(12)]
    records = [h.add(f"job-{i}", job_id) for i, job_id in enumerate(ids)]
    await h.cycle()  # new DrsJobs are refreshed at once
    spread(h, records, Pace.STEADY, 60.0)
    start = h.now
    timeline = Timeline(h)
    await timeline.run_until(start + 240)

    for cycle in (2, 3):
        calls = timeline.between(start + 60 * cycle, start + 60 * (cycle + 1))
        assert len(calls) <= math.ceil(12 / BATCH), (cycle, [len(c) for c in calls])
    late = timeline.between(start + 120, start + 240)
    assert sum(len(c) for c in late) >= 2 * 12, "every job still refreshed every cycle"


async def test_a_steady_job_rides_in_the_calls_of_an_in_progress_job(h: Harness) -> None:
    """Calls come at the in-progress cadence only; the steady job needs none of its own."""
    busy, calm = h.sim.add_job(status=IN_PROGRESS), h.sim.add_job(status=STEADY)
    h.add("busy", busy)
    h.add("calm", calm)
    await h.cycle()
    start = h.now
    timeline = Timeline(h)
    await timeline.run_until(start + 300)

    in_progress = base_interval(Pace.IN_PROGRESS, settings=SETTINGS.cadence, override=None)
    assert all(busy in ids for _, ids in timeline.calls), "every call is the busy job's"
    assert len(timeline.calls) <= math.ceil(300 / (in_progress * (1 - SETTINGS.cadence.jitter)))
    gaps = [b - a for a, b in itertools.pairwise(timeline.refreshes(calm))]
    assert gaps and max(gaps) <= 60.0, "the steady job is never late"


async def test_a_pass_keeps_a_connections_in_progress_jobs_in_one_call(h: Harness) -> None:
    """Shortest cadence first: the in-progress jobs share a call, and the partial call of
    steady jobs takes steady riders (a call of in-progress jobs would take none)."""
    busy = [h.add(f"busy-{i}", h.sim.add_job(status=IN_PROGRESS)) for i in range(9)]
    calm = [h.add(f"calm-{i}", h.sim.add_job(status=STEADY)) for i in range(11)]
    await h.cycle()
    for i, record in enumerate(calm[:4]):  # due first, then the in-progress ones
        h.registry.schedule(record, Pace.STEADY, 0.1 * i)
    for record in busy:
        h.registry.schedule(record, Pace.IN_PROGRESS, 0.5)
    for record in calm[4:]:
        h.registry.schedule(record, Pace.STEADY, 20.0)
    h.now += 0.5
    h.sim.stats.reset()

    await h.cycle()

    calls = [set(request.ids) for request in h.sim.stats.requests]
    busy_ids = {r.spec.job_id for r in busy if r.spec}
    assert sorted(len(ids) for ids in calls) == [10, 10], "every refresh in two full calls"
    assert any(busy_ids <= ids for ids in calls), "the in-progress jobs were split"


EXAMPLES = itertools.count()
CADENCES = {
    "in progress": (IN_PROGRESS, None),
    "steady": (STEADY, None),
    "failed": (FAILED, None),
    "every 20s": (STEADY, "20s"),
    "every 7s": (IN_PROGRESS, "7s"),
}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    jobs=st.lists(
        st.tuples(st.sampled_from(sorted(CADENCES)), st.floats(0, 1), st.integers(0, 2)),
        min_size=1,
        max_size=24,
    ),
    seed=st.integers(0, 2**16),
)
async def test_no_job_is_ever_refreshed_later_than_its_cadence(
    simulator: Simulator,
    cluster: EmulatedCluster,
    jobs: list[tuple[str, float, int]],
    seed: int,
) -> None:
    """Random cadences and phases over up to three connections: every gap <= interval."""
    h = Harness(simulator, cluster)
    h.refresher._rng = random.Random(seed)
    run = next(EXAMPLES)  # the simulator and emulator are shared by the examples
    for n in range(3):
        simulator.add_token(f"tok-{n}", project_id=PROJECT)
        h.secret(f"cred-{run}-{n}", token=f"tok-{n}", projectId=PROJECT, endpoint=simulator.url)
    try:
        records = []
        for i, (kind, _, connection) in enumerate(jobs):
            status, every = CADENCES[kind]
            spec: dict[str, object] = {"credentialsRef": {"name": f"cred-{run}-{connection}"}}
            if every:
                spec["refreshInterval"] = every
            job_id = simulator.add_job(status=status)
            record = h.add(f"p{run}-{i}", job_id, **spec)
            records.append((record, job_id))
        await h.cycle()
        timeline = Timeline(h)
        for (record, _), (_, phase, _) in zip(records, jobs, strict=True):
            h.registry.schedule(record, record.pace, phase * 60)
        start = h.now
        await timeline.run_until(start + 600)

        for record, job_id in records:
            override = record.spec.refresh_interval if record.spec else None
            interval = base_interval(record.pace, settings=SETTINGS.cadence, override=override)
            times = [start] + [t for t in timeline.refreshes(job_id) if t >= start]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            first_due = start + 60 * 1  # the phases put every first refresh within 60 s
            assert len(times) > 1, (record.name, "never refreshed")
            assert times[1] <= first_due + 1e-6
            assert all(gap <= interval + 1e-6 for gap in gaps[1:]), (record.name, interval, gaps)
            assert start + 600 - times[-1] <= interval + 1e-6, (record.name, "stopped")
    finally:
        await h.connections.aclose()
        await h.kube.aclose()


async def test_one_connections_backlog_never_holds_another_up(
    simulator: Simulator, cluster: EmulatedCluster
) -> None:
    """A pass starts what each connection's rate allows; the backlog stays due, not queued.

    Before, one pass started a batch for every due job: 30 batches of the slow
    connection queued for the shared slots ahead of the other connection's one.
    """
    slow = Settings(
        batching=BatchingSettings(batch_size=10, max_concurrency=4, rate_limit=2, rate_burst=1)
    )
    h = Harness(simulator, cluster, settings=slow, seed=1)
    simulator.add_token("noisy-token", project_id=PROJECT)
    h.secret("noisy", token="noisy-token", projectId=PROJECT, endpoint=simulator.url)
    try:
        noisy = [
            h.add(f"noisy-{i}", simulator.add_job(status=STEADY), credentialsRef={"name": "noisy"})
            for i in range(300)
        ]
        quiet = [h.add(f"quiet-{i}", simulator.add_job(status=STEADY)) for i in range(3)]

        await h.refresher.refresh_once()
        started = len(h.refresher._tasks)
        in_flight = sum(r.in_flight for r in noisy)
        await h.refresher.drain(10)

        assert all(h.synced(r.name) == ("True", "Refreshed") for r in quiet)
        capacity = 1 + 2 * SETTINGS.cadence.tick  # the burst and a tick's worth of rate
        assert in_flight <= capacity * 10, f"{in_flight} noisy jobs taken in one pass"
        assert started <= capacity + 1, f"{started} batches started in one pass"
        waiting = sum(h.synced(r.name)[0] != "True" for r in noisy)
        assert waiting >= 300 - capacity * 10 and not any(r.in_flight for r in noisy)
        assert h.registry.oldest_due_age() >= 0 and h.registry.next_due_in() == 0, (
            "the rest of the backlog is still due, in its connection's queue"
        )
    finally:
        await h.connections.aclose()
        await h.kube.aclose()


async def test_batches_stalled_behind_slow_writes_never_pile_up_past_the_rate(
    simulator: Simulator, cluster: EmulatedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While every slot waits on slow status writes, passes start no more batches
    than one tick of the connection's rate allows; released, at most those go out
    at once.

    Before, a batch stopped counting against its connection's budget once it had
    passed the pacer, even though it still queued for a slot: each pass started
    another tick's worth, and when the writes came back the queue went out at
    once (10,000 new DrsJobs in the bench: 577 calls in one second at a limit of
    100 calls/s).
    """
    rate, tick = 50.0, 0.2
    tight = Settings(
        batching=BatchingSettings(batch_size=10, max_concurrency=1, rate_limit=rate, rate_burst=1),
        cadence=CadenceSettings(tick=tick),
    )
    h = Harness(simulator, cluster, settings=tight, seed=3)
    writer = h.writer
    stalled = asyncio.Event()
    write = writer.write

    async def slow_write(record: JobRecord, pending: Any) -> bool:
        await stalled.wait()  # the API server answers nothing until released
        return await write(record, pending)

    monkeypatch.setattr(writer, "write", slow_write)
    try:
        records = [h.add(f"stall-{i}", simulator.add_job(status=STEADY)) for i in range(600)]
        capacity = 1 + rate * tick  # the burst and a tick's worth of rate
        first = len(h.sim.stats.requests)
        taken = []
        for _ in range(10):  # two seconds of passes while the writes hang
            await h.refresher.refresh_once()
            await asyncio.sleep(tick)
            taken.append(sum(r.in_flight for r in records))
        # Waiting for a slot: at most a tick of the rate; holding one: one batch per
        # slot (the calls' and the writes' share, as the refresher sizes them).
        slots = 1 + max(1, tight.writing.write_concurrency // BATCH)
        assert max(taken) <= (capacity + slots) * BATCH, f"jobs in flight per pass: {taken}"

        before = len(h.sim.stats.requests)
        stalled.set()
        released = time.time()
        await h.refresher.drain(10)
        times = [r.time for r in h.sim.stats.requests[before:] if r.ids]
        soon = sum(1 for t in times if t < released + tick)
        assert soon <= 2 * capacity, f"{soon} calls within {tick}s of the release"
        assert not any(r.in_flight for r in records), "every batch finished"
        written = sum(h.synced(r.name) == ("True", "Refreshed") for r in records)
        calls = sum(1 for r in h.sim.stats.requests[first:] if r.ids)
        assert written == BATCH * calls, "each call's jobs got their status"
        assert h.registry.next_due_in() == 0, "the rest stays due, in the registry"
    finally:
        await h.connections.aclose()
        await h.kube.aclose()
