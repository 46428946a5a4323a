"""The leadership gate in the refresher, the querier and the status writer.

Real collaborators (the DRS simulator and the Kubernetes API emulator over
HTTP, the real registry, connections, writer and refresher); the gate is a
flag the test opens and closes, as :meth:`Leadership.is_leader` does when
leadership is gained or lost (tests/test_leader.py tests that part).

- closed: a pass takes no job, reads no Secret, makes no call, writes
  nothing; the jobs stay due and are refreshed as soon as it opens;
- closed while a call is in flight: the answer is dropped unwritten and the
  jobs are put back, due;
- closed between a throttled attempt and its retry: no retry is sent;
- the writer sends no patch and no event through a closed gate;
- a standby's loop keeps its liveness (passes) and reports no refresh lag.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from drs_operator.domain.observations import Failed
from drs_operator.engine.connections import Connections
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.refresher import Refresher
from drs_operator.engine.registry import JobRecord, Registry
from drs_operator.engine.settings import BackoffSettings, BatchingSettings, Settings
from drs_operator.engine.writer import StatusWriter
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import RequestRecord, Simulator
from tests.component import NS, add_drsjob

SETTINGS = Settings(
    batching=BatchingSettings(batch_size=10, max_concurrency=4, rate_limit=1000, rate_burst=100),
    backoff=BackoffSettings(initial=0.05, maximum=0.1),
)
STEADY = "INCRE_TRANSFER_STARTED"


class Gated:
    """The operator's parts with one gate, open or closed by the test."""

    def __init__(self, sim: Simulator, cluster: EmulatedCluster) -> None:
        self.sim, self.cluster, self.open = sim, cluster, True
        self.metrics = Metrics()
        self.kube = KubeApi(server=cluster.url)
        self.registry = Registry(default_credentials="drs-credentials")
        self.connections = Connections(kube=self.kube, settings=SETTINGS, metrics=self.metrics)
        self.writer = StatusWriter(
            kube=self.kube, registry=self.registry, metrics=self.metrics, gate=self.gate
        )
        self.refresher = Refresher(
            registry=self.registry, connections=self.connections, writer=self.writer,
            settings=SETTINGS, metrics=self.metrics, rng=random.Random(1), gate=self.gate,
        )  # fmt: skip

    def gate(self) -> bool:
        return self.open

    def add(self, count: int) -> list[JobRecord]:
        records = []
        for index in range(count):
            add_drsjob(self.cluster, f"job-{index}", self.sim.add_job(status=STEADY))
            body = self.cluster.get("drsjobs", NS, f"job-{index}") or {}
            record = self.registry.observe(event_type=None, body=body)
            assert record is not None
            records.append(record)
        return records

    async def cycle(self) -> None:
        await self.refresher.refresh_once()
        await self.refresher.drain(10)

    def patches(self) -> int:
        return self.cluster.status_patch_count(namespace=NS)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def g(simulator: Simulator, cluster: EmulatedCluster) -> AsyncIterator[Gated]:
    gated = Gated(simulator, cluster)
    yield gated
    await gated.connections.aclose()
    await gated.kube.aclose()


async def test_a_closed_gate_takes_no_job_and_calls_nothing_until_it_opens(g: Gated) -> None:
    records = g.add(3)
    g.open = False
    await g.cycle()
    assert g.sim.stats.batch_detail_calls == 0
    assert g.cluster.count(resource="secrets") == 0, "no credentials read either"
    assert g.patches() == 0
    assert not any(r.in_flight for r in records)
    assert g.registry.next_due_in() == 0, "still due"

    g.open = True
    await g.cycle()
    assert g.sim.stats.batch_detail_calls == 1
    assert g.patches() == 3


async def test_an_answer_arriving_after_the_gate_closed_is_not_written(g: Gated) -> None:
    records = g.add(3)
    g.sim.faults.update({"latency": 0.5})
    await g.refresher.refresh_once()  # the call is on its way
    await asyncio.sleep(0.2)
    g.open = False  # leadership lost while the call is in flight
    await g.refresher.drain(10)
    assert g.sim.stats.batch_detail_calls == 1, "the call was answered"
    assert g.patches() == 0, "but its answer was not written"
    assert not any(r.in_flight for r in records), "the jobs were put back"
    assert g.registry.next_due_in() == 0, "due: the next leader refreshes them"


async def test_no_retry_is_sent_once_the_gate_closed(g: Gated) -> None:
    g.add(2)
    g.sim.faults.update({"throttle_ratio": 1.0})
    record = g.sim.stats.record

    def close_after_first(entry: RequestRecord, *, batch_detail: bool) -> None:
        record(entry, batch_detail=batch_detail)
        if batch_detail:
            g.open = False

    g.sim.stats.record = close_after_first  # type: ignore[method-assign,assignment]
    await g.cycle()
    assert g.sim.stats.batch_detail_calls == 1, "the throttled call was not retried"
    assert g.patches() == 0


async def test_the_writer_sends_nothing_through_a_closed_gate(g: Gated) -> None:
    (record,) = g.add(1)
    g.open = False
    assert await g.writer.apply(record, Failed("Throttled", "throttled")) is False
    assert g.patches() == 0
    assert g.cluster.count(resource="events") == 0
    assert g.metric("drs_operator_status_writes_total", outcome="not_leader") == 1


async def test_a_standby_loop_keeps_passing_and_reports_no_lag(g: Gated) -> None:
    g.add(2)
    g.open = False
    stop = asyncio.Event()
    first = g.refresher.last_pass
    runner = asyncio.create_task(g.refresher.run(stop))
    await asyncio.sleep(SETTINGS.cadence.tick * 1.5)
    stop.set()
    await runner
    assert g.refresher.last_pass > first, "liveness: the loop made passes"
    assert g.metric("drs_operator_refresh_lag_seconds") == 0
    assert g.sim.stats.batch_detail_calls == 0
