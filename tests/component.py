"""Shared fixtures of the component tests: the operator's parts without kopf.

A real DRS simulator and the Kubernetes API emulator on loopback; an
``Operator`` (registry, refresher, writer, connections, metrics) wired to
them, fed by :func:`feed` the way kopf's watch feeds it. The end-to-end tier
(``tests/e2e``) has its own fixtures for the operator process.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drs_operator.engine.app import Operator
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.settings import (
    BatchingSettings,
    CadenceSettings,
    ServingSettings,
    Settings,
)
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator

NS = "team-a"
PROJECT = "054ba152d480d55b2f5dc0069e7ddef0"
TOKEN = "token-for-component-tests"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(seed=1)
    sim.add_token(TOKEN, project_id=PROJECT)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def cluster(simulator: Simulator) -> AsyncIterator[EmulatedCluster]:
    emulator = EmulatedCluster()
    await emulator.start()
    emulator.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "drs-credentials", "namespace": NS},
            "data": {
                "token": b64(TOKEN),
                "projectId": b64(PROJECT),
                "endpoint": b64(simulator.url),
                "region": b64("cn-north-4"),
            },
        }
    )
    yield emulator
    await emulator.stop()


@pytest.fixture
async def operator(cluster: EmulatedCluster) -> AsyncIterator[Operator]:
    settings = Settings(
        batching=BatchingSettings(
            batch_size=10, max_concurrency=4, rate_limit=1000, rate_burst=100
        ),
        cadence=CadenceSettings(jitter=0.0),
        serving=ServingSettings(metrics_port=0, health_port=0),
    )
    op = Operator(settings=settings, kube=KubeApi(server=cluster.url))
    yield op
    await op.connections.aclose()
    await op.kube.aclose()


def add_drsjob(cluster: EmulatedCluster, name: str, job_id: str, **spec: Any) -> None:
    cluster.create(
        {
            "apiVersion": "drs.operators.dev/v1alpha1",
            "kind": "DrsJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"jobId": job_id, **spec},
        }
    )


def add_steady_drsjobs(
    sim: Simulator, op: Operator, cluster: EmulatedCluster, count: int
) -> list[str]:
    """``count`` steady tasks, each with a DrsJob ``job-<i>`` fed to the operator."""
    ids = [sim.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(count)]
    for i, job_id in enumerate(ids):
        add_drsjob(cluster, f"job-{i}", job_id)
    feed(op, cluster)
    return ids


def feed(op: Operator, cluster: EmulatedCluster) -> None:
    """What kopf's watch does: one event per DrsJob."""
    for obj in cluster.list("drsjobs", NS):
        op.observe(event_type=None, body=obj)


async def cycle(op: Operator) -> None:
    """One refresher pass, waiting for its batches and writes."""
    await op.refresher.refresh_once()
    await op.refresher.drain(10)


def make_all_due(op: Operator) -> None:
    for record in op.registry:
        op.registry.schedule(record, record.pace, 0)
