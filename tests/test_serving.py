"""Metrics and health endpoints, scraped over HTTP."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from drs_operator.engine.app import Operator
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.settings import CadenceSettings, ServingSettings, Settings
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator
from tests.component import TOKEN, add_drsjob, cycle, feed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(cluster: EmulatedCluster) -> AsyncIterator[Operator]:
    settings = Settings(
        cadence=CadenceSettings(jitter=0.0),
        serving=ServingSettings(
            metrics_port=free_port(),
            health_port=free_port(),
            bind_address="127.0.0.1",
            stall_after=30,
        ),
    )
    op = Operator(settings=settings, kube=KubeApi(server=cluster.url))
    await op.start()
    yield op
    await op.stop()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in metrics")


async def test_metrics_count_calls_ids_writes_and_jobs_by_phase(
    simulator: Simulator, cluster: EmulatedCluster, served: Operator
) -> None:
    ids = [simulator.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(12)]
    ids.append(simulator.add_job(status="FULL_TRANSFER_FAILED"))
    for i, job_id in enumerate(ids):
        add_drsjob(cluster, f"job-{i}", job_id)
    feed(served, cluster)
    await cycle(served)

    port = served.servers.ports["metrics"]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text

    assert sample(text, "drs_operator_batch_detail_calls_total", outcome="success",
                  http_status="200") == 2  # fmt: skip
    assert sample(text, "drs_operator_batch_detail_ids_sum") == 13
    assert sample(text, "drs_operator_status_writes_total", outcome="written") == 13
    assert sample(text, "drs_operator_drsjobs", phase="Running") == 12
    assert sample(text, "drs_operator_drsjobs", phase="Failed") == 1
    assert sample(text, "drs_operator_drsjobs_conditions", type="Stalled", status="True") == 1
    assert sample(text, "drs_operator_batch_detail_duration_seconds_count", outcome="success") == 2
    # Bounded labels only: no job ID, no name, no secret.
    for job_id in ids:
        assert job_id not in text
    assert "job-1" not in text and TOKEN not in text and SECRET_MARKER not in text


async def test_throttling_and_backoff_are_counted(
    simulator: Simulator, cluster: EmulatedCluster, served: Operator
) -> None:
    add_drsjob(cluster, "slow", simulator.add_job(status="INCRE_TRANSFER_STARTED"))
    feed(served, cluster)
    simulator.faults.throttle_ratio = 1.0
    simulator.faults.retry_after = 0.01
    await cycle(served)

    port = served.servers.ports["metrics"]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert sample(text, "drs_operator_throttled_total", code="APIG.0308") == 3
    assert sample(text, "drs_operator_backoffs_total", cause="throttled") == 3
    assert sample(text, "drs_operator_batch_detail_calls_total", outcome="throttled",
                  http_status="429") == 3  # fmt: skip


async def test_liveness_fails_when_the_refresher_stalls(served: Operator) -> None:
    port = served.servers.ports["health"]
    async with httpx.AsyncClient() as http:
        alive = await http.get(f"http://127.0.0.1:{port}/healthz")
        ready = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert (alive.status_code, ready.status_code) == (200, 200)

        served.refresher.last_pass -= 31  # as if no pass completed for 31 s
        stalled = await http.get(f"http://127.0.0.1:{port}/healthz")
        assert stalled.status_code == 503
        assert "stalled" in stalled.json()["message"]


async def test_readiness_is_off_while_stopping(served: Operator) -> None:
    port = served.servers.ports["health"]
    served.probes.ready = False
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 503
