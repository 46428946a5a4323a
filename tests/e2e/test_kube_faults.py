"""Kubernetes-side faults, end to end, in one operator process (emulated cluster only).

Each step breaks the API server the way real ones break and then checks the
operator stayed up, wrote nothing stale and lost no update:

====================  ============================================================
dropped watches       every watch stream is cut; a DrsJob created afterwards is seen
API server restart    the server is down (writes fail) while a task changes and a
                      DrsJob is created; once it is back both reach the objects
409 / 422 on /status  status patches are refused for a while; the update lands later
deleted in flight     a DrsJob is deleted while its batch-detail call is in flight:
                      no status patch is sent to it afterwards
Secret rotated        the new token is used on the next refresh; the old one never again
Secret deleted        ``Synced`` False ``CredentialsMissing``, last good status kept;
                      recreated: converges
burst                 40 DrsJobs created and 20 of them deleted at once
====================  ============================================================

Fault injection needs the emulator (kmock reactions, restarts), so this
module always runs on it; tests/cluster/test_apiserver_faults.py breaks a real
kube-apiserver the ways it can be broken from outside.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from drs_operator.sandbox.simulator import Simulator

from .conftest import Cluster, OperatorFactory, condition, eventually

pytestmark = pytest.mark.e2e

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN, NEW_TOKEN = "kube-faults-token-1", "kube-faults-token-2"
STEADY, OTHER = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"
TIMEOUT = 15.0


@pytest.mark.parametrize("cluster", ["emulator"], indirect=True)
async def test_kube_side_faults(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory, tmp_path: Path
) -> None:
    emulator: Any = cluster.emulator  # type: ignore[attr-defined]
    sim = simulator
    sim.add_token(TOKEN, project_id=PROJECT)
    secret = {"endpoint": sim.url, "projectId": PROJECT, "region": "xx-test-1"}
    await cluster.create_secret("drs-credentials", {**secret, "token": TOKEN})
    jobs: dict[str, str] = {}

    async def add(name: str) -> None:
        jobs[name] = sim.add_job(status=STEADY, project_id=PROJECT)
        await cluster.create_drsjob(name, {"jobId": jobs[name]})

    for index in range(3):
        await add(f"job-{index}")
    proc = await operator_process()

    async def converged() -> bool:
        for name, job_id in jobs.items():
            job = await cluster.get_drsjob(name)
            assert condition(job, "Synced").get("status") == "True", (name, job)
            want = sim.job(job_id)["status"]
            assert (job or {}).get("status", {}).get("taskStatus") == want, (name, want)
        return True

    await eventually(converged, timeout=30)

    # -- dropped watch streams ----------------------------------------------------------------
    emulator.store.close_watches()
    await add("after-drop")
    await eventually(converged, timeout=TIMEOUT, message="a DrsJob created after the watch drop")

    # -- API server restart: down while a task changes and a DrsJob is created ------------------
    port = emulator.port
    await emulator.stop()
    sim.set_status(jobs["job-0"], OTHER)
    await asyncio.sleep(2.5)  # refreshes happen, their writes fail
    await add("while-down")  # straight into the store: the server is not serving
    await emulator.start(port=port)
    await eventually(converged, timeout=TIMEOUT, message="updates after the API server restart")

    # -- 409 and 422 answers to status patches --------------------------------------------------
    for code in (409, 422):
        refused = emulator.count(method="PATCH")
        reaction = emulator.handler["patch"][re.compile(r".*/status")] << code
        sim.set_status(
            jobs["job-1"], OTHER if sim.job(jobs["job-1"])["status"] == STEADY else STEADY
        )

        async def tried(since: int = refused) -> bool:
            return bool(emulator.count(method="PATCH") >= since + 2)

        await eventually(tried, timeout=TIMEOUT, message=f"status patches answered {code}")
        emulator.handler._payloads.remove(reaction)
        await eventually(converged, timeout=TIMEOUT, message=f"the update lost to a {code}")

    # -- a DrsJob deleted while its batch is in flight ------------------------------------------
    sim.faults.update({"latency": 1.0})
    sim.set_status(jobs["job-2"], OTHER)
    await cluster.patch_drsjob_spec("job-2", {"refreshInterval": "7s"})  # refresh now
    await asyncio.sleep(0.4)  # the call is on its way (1 s of latency)
    await cluster.delete_drsjob("job-2")
    deleted_at = len(emulator.requests())
    del jobs["job-2"]
    await asyncio.sleep(2.0)
    late = [
        (r.method, r.path)
        for r in emulator.requests()[deleted_at:]
        if r.method in ("PATCH", "PUT", "POST") and "/job-2" in r.path
    ]
    assert late == [], f"stale writes to a deleted DrsJob: {late}"
    assert await cluster.get_drsjob("job-2") is None
    sim.faults.reset()

    # -- Secret rotated: the new token on the next refresh, the old one never again ---------------
    sim.add_token(NEW_TOKEN, project_id=PROJECT)
    await cluster.create_secret("drs-credentials", {**secret, "token": NEW_TOKEN})
    await asyncio.sleep(2.5)  # the Secret cache (1 s) expires, every job is refreshed
    sim.revoke_tokens()
    sim.add_token(NEW_TOKEN, project_id=PROJECT)  # only the old token stays revoked
    before = sim.stats.by_status[401]
    sim.set_status(jobs["job-0"], STEADY)
    await eventually(converged, timeout=TIMEOUT, message="converged with the rotated token")
    await asyncio.sleep(2.0)
    assert sim.stats.by_status[401] == before, "the old token was used after the rotation"

    # -- Secret deleted: CredentialsMissing with the last good status; recreated: converges --------
    await cluster.delete_secret("drs-credentials")

    async def missing() -> bool:
        for name in jobs:
            job = await cluster.get_drsjob(name)
            synced = condition(job, "Synced")
            assert synced.get("reason") == "CredentialsMissing", (name, synced)
            assert (job or {}).get("status", {}).get("taskStatus"), name  # kept
            assert condition(job, "Ready").get("status") == "True", name  # kept
        return True

    await eventually(missing, timeout=TIMEOUT, message="CredentialsMissing on every job")
    await cluster.create_secret("drs-credentials", {**secret, "token": NEW_TOKEN})
    await eventually(converged, timeout=TIMEOUT, message="converged after the Secret came back")

    # -- a burst: 40 created, 20 of them deleted at once ----------------------------------------
    burst = [f"burst-{i:02d}" for i in range(40)]
    for name in burst:
        await add(name)
    await asyncio.sleep(0.3)
    mark = len(emulator.requests())
    for name in burst[::2]:
        await cluster.delete_drsjob(name)
        del jobs[name]
    await eventually(converged, timeout=30, message="the burst's survivors converged")
    await asyncio.sleep(1.0)
    for name in burst[::2]:
        assert await cluster.get_drsjob(name) is None, f"{name} came back"
    stale = [
        r
        for r in emulator.requests()[mark:]
        if r.method == "PATCH" and r.status != 404 and any(f"/{n}/" in r.path for n in burst[::2])
    ]
    assert stale == [], f"status written to deleted DrsJobs: {stale}"

    # Up all along, nothing but status writes, no tracebacks.
    assert proc.returncode is None
    assert await cluster.non_status_writes() == []
    assert await proc.stop() == 0
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]
