"""Restarts and graceful shutdown of the real operator process.

- A restart loses nothing and writes nothing for unchanged jobs: the second
  process refreshes every job, sends no status patch, posts no event, and no
  ``lastTransitionTime`` moves; a task that changed while no operator ran is
  picked up, with exactly one event for it.
- SIGTERM while a batch is in flight: the call and its status write finish,
  the process exits 0, within a bounded time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from drs_operator.engine.app import SHUTDOWN_GRACE
from drs_operator.sandbox.simulator import Simulator

from .conftest import Cluster, OperatorFactory, condition, eventually

pytestmark = pytest.mark.e2e

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN = "restart-token"
STEADY, OTHER = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"


async def _setup(cluster: Cluster, sim: Simulator, count: int) -> dict[str, str]:
    sim.add_token(TOKEN, project_id=PROJECT)
    await cluster.create_secret(
        "drs-credentials",
        {"endpoint": sim.url, "projectId": PROJECT, "region": "xx-test-1", "token": TOKEN},
    )
    jobs = {}
    for index in range(count):
        jobs[f"job-{index}"] = sim.add_job(status=STEADY, project_id=PROJECT)
        await cluster.create_drsjob(f"job-{index}", {"jobId": jobs[f"job-{index}"]})
    return jobs


def converged(cluster: Cluster, sim: Simulator, jobs: dict[str, str]) -> Any:
    async def check() -> bool:
        for name, job_id in jobs.items():
            job = await cluster.get_drsjob(name)
            assert condition(job, "Synced").get("status") == "True", name
            assert (job or {}).get("status", {}).get("taskStatus") == sim.job(job_id)["status"]
        return True

    return check


def _transition_times(objs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (o["metadata"]["name"], c["type"]): c["lastTransitionTime"]
        for o in objs
        for c in (o.get("status") or {}).get("conditions") or []
    }


async def test_restart_loses_nothing_and_writes_nothing_unchanged(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    sim = simulator
    jobs = await _setup(cluster, sim, 5)
    first = await operator_process()
    await eventually(converged(cluster, sim, jobs), timeout=30)
    await asyncio.sleep(2.5)  # one more steady refresh: nothing to write
    assert await first.stop() == 0

    objects = await cluster.list_drsjobs()
    times = _transition_times(objects)
    events = len(await cluster.list_events())
    patches = cluster.status_patch_count()
    calls = sim.stats.batch_detail_calls
    sim.set_status(jobs["job-4"], OTHER)  # changes while no operator runs
    changed = {"job-4"}

    second = await operator_process()
    await eventually(converged(cluster, sim, jobs), timeout=30)
    await asyncio.sleep(3.0)  # every job refreshed again at least once (steady: 2 s)
    assert sim.stats.batch_detail_calls > calls
    assert cluster.status_patch_count() == patches + 1, "writes for unchanged jobs"
    new_events = (await cluster.list_events())[events:]
    about = sorted({e["involvedObject"]["name"] for e in new_events})
    assert about == sorted(changed), new_events
    assert len(new_events) == 1, new_events  # the taskStatus transition, once
    after = _transition_times(await cluster.list_drsjobs())
    moved = {k for k in times if after.get(k) != times[k]}
    assert {name for name, _ in moved} <= changed, f"flapping lastTransitionTime: {moved}"
    assert second.returncode is None
    assert await second.stop() == 0


async def test_sigterm_lets_in_flight_work_finish_and_exits_zero(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory, tmp_path: Path
) -> None:
    sim = simulator
    jobs = await _setup(cluster, sim, 3)
    proc = await operator_process("--cadence-steady", "30s")
    await eventually(converged(cluster, sim, jobs), timeout=30)

    sim.faults.update({"latency": 1.5})
    for job_id in jobs.values():
        sim.set_status(job_id, OTHER)
    calls = sim.stats.batch_detail_calls
    await cluster.patch_drsjob_spec("job-0", {"refreshInterval": "40s"})  # refresh now
    for name in ("job-1", "job-2"):
        await cluster.patch_drsjob_spec(name, {"refreshInterval": "41s"})
    await asyncio.sleep(0.6)  # the batch is waiting for its answer
    assert sim.stats.batch_detail_calls == calls, "the call should still be in flight"
    started = time.monotonic()
    code = await proc.stop(timeout=SHUTDOWN_GRACE + 10)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < SHUTDOWN_GRACE, f"shutdown took {elapsed:.1f}s"
    for name in jobs:  # the in-flight batch was answered and written before exiting
        job = await cluster.get_drsjob(name)
        assert (job or {}).get("status", {}).get("taskStatus") == OTHER, name
    assert "drs-operator stopped after" in proc.log_text()  # the shutdown line, last
