"""A real kube-apiserver breaking under a running operator (one process throughout).

==================  ================================================================
API server restart  kube-apiserver is stopped while a task changes at DRS (the
                    status writes fail) and started again on the same port: the
                    change lands, a DrsJob created afterwards is seen (the watch
                    came back)
watch expired       the operator is frozen (SIGSTOP) while a DrsJob is created,
                    one's spec changes and one is deleted; etcd is compacted and
                    kube-apiserver restarted, so the watch the operator resumes
                    from its last resourceVersion is answered 410 Gone: it lists
                    again and takes all three changes (the deleted job is no
                    longer asked about at DRS, nothing is written to it)
deleted in flight   a DrsJob is deleted while its batch-detail call is in flight:
                    no status patch reaches it afterwards (audit log)
burst               40 DrsJobs created and 20 of them deleted at once: the rest
                    converge, no status lands on a deleted one
==================  ================================================================

The emulated version of these (plus 409/422 answers, which a real server
cannot be made to give) is tests/e2e/test_kube_faults.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from drs_operator.sandbox.controlplane import ControlPlane
from drs_operator.sandbox.simulator import Simulator
from tests.e2e.conftest import eventually

from .conftest import (
    add_job,
    condition,
    create_secret,
    drsjobs_path,
    get_drsjob,
    new_namespace,
)

pytestmark = pytest.mark.cluster

STEADY, OTHER = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"
TIMEOUT = 20.0


class Jobs:
    """DrsJobs of one namespace and their tasks at the simulator."""

    def __init__(self, plane: ControlPlane, sim: Simulator, namespace: str) -> None:
        self.plane, self.sim, self.namespace = plane, sim, namespace
        self.ids: dict[str, str] = {}

    def add(self, name: str, **spec: Any) -> None:
        self.ids[name] = add_job(self.plane, self.sim, self.namespace, name, STEADY, **spec)

    def delete(self, name: str) -> None:
        self.plane.request("DELETE", drsjobs_path(self.namespace, name)).expect()
        del self.ids[name]

    async def converged(self) -> bool:
        for name, job_id in self.ids.items():
            obj = get_drsjob(self.plane, self.namespace, name)
            assert condition(obj, "Synced").get("status") == "True", (name, obj.get("status"))
            want = self.sim.job(job_id)["status"]
            assert obj["status"].get("taskStatus") == want, (name, want)
            generation = obj["metadata"]["generation"]
            assert obj["status"].get("observedGeneration") == generation, name
        return True

    def status_writes(self, events: list[dict[str, Any]], name: str) -> list[int]:
        """Response codes of the status patches to ``name`` among the audit events."""
        return [
            e["responseStatus"]["code"]
            for e in events
            if e.get("verb") == "patch"
            and e["objectRef"].get("namespace") == self.namespace
            and e["objectRef"].get("name") == name
            and e["objectRef"].get("subresource") == "status"
        ]


def after_deletion(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The audit events after the one that deleted DrsJob ``name``."""
    for index, event in enumerate(events):
        ref = event.get("objectRef") or {}
        if event.get("verb") == "delete" and ref.get("resource") == "drsjobs":
            if ref.get("name") == name and event["responseStatus"]["code"] == 200:
                return events[index + 1 :]
    raise AssertionError(f"no deletion of {name} in the audit log")


def asked_for(sim: Simulator, job_id: str, since: float) -> bool:
    return any(
        job_id in r.ids
        for r in sim.stats.requests
        if r.path.endswith("/jobs/batch-detail") and r.time >= since
    )


async def test_the_operator_rides_out_a_real_api_server(
    controlplane: ControlPlane, namespace: str, sim: Simulator, run_operator: Any
) -> None:
    plane = controlplane
    assert plane.audit is not None
    create_secret(plane, namespace, sim)
    jobs = Jobs(plane, sim, namespace)
    for index in range(3):
        jobs.add(f"job-{index}")
    proc = await run_operator("-n", namespace)
    await eventually(jobs.converged, timeout=30)
    started = time.monotonic()

    def lap(step: str) -> None:
        print(f"\n[cluster] {step}: {time.monotonic() - started:.1f}s", end="")

    # -- API server restart: down while a task changes; a DrsJob created once it is back ---------
    await asyncio.to_thread(plane.stop_apiserver)
    try:  # whatever happens, the session's API server comes back for the other tests
        lap("stopped")
        sim.set_status(jobs.ids["job-0"], OTHER)
        await asyncio.sleep(2.5)  # refreshes happen; their status writes fail
    finally:
        await asyncio.to_thread(plane.start_apiserver)
    lap("started")
    jobs.add("after-restart")
    await eventually(jobs.converged, timeout=TIMEOUT, message="updates after the restart")
    assert "Kubernetes API unreachable" in proc.log_text(), "no write failed while it was down"
    lap("restart")

    # -- watch expired: changes while the operator is frozen, history compacted ------------------
    other = new_namespace(plane, "noise")
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            # The frozen operator's watch ends with the old kube-apiserver, before any of the
            # changes below is made: it cannot have them in a buffer.
            await asyncio.to_thread(plane.restart_apiserver)
            mark = plane.audit.mark()
            jobs.add("while-frozen")
            patch = {"spec": {"refreshInterval": "6s"}}
            plane.request(
                "PATCH",
                drsjobs_path(namespace, "job-1"),
                patch,
                content_type="application/merge-patch+json",
            ).expect()
            gone_id = jobs.ids["job-2"]
            jobs.delete("job-2")
            for index in range(5):  # writes elsewhere move etcd's revision on
                body = {"metadata": {"name": f"noise-{index}"}, "data": {"x": "y"}}
                plane.request("POST", f"/api/v1/namespaces/{other}/configmaps", body).expect(201)
            plane.compact_etcd()
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        await eventually(jobs.converged, timeout=TIMEOUT, message="changes made while frozen")

        # kopf lists again only when its resumed watch is answered 410 Gone (its line about
        # it is DEBUG, which the operator's logging keeps quiet): the new list is the proof.
        async def relisted() -> bool:
            # A list or watch's audit event is written when its answer ends: poll for it.
            return any(
                e.get("verb") == "list" and e["objectRef"].get("resource") == "drsjobs"
                for e in plane.audit.since(mark)  # type: ignore[union-attr]
            )

        await eventually(relisted, timeout=5, message="a new list of DrsJobs after the 410")

        def forgotten() -> bool:
            return "job-2: deleted while the watch was down; forgotten" in proc.log_text()

        await eventually(forgotten, timeout=10, message="job-2 forgotten after the re-list")
        since = time.time() + 0.2  # a call already on its way may still carry it
        await asyncio.sleep(3.0)  # more than a steady cadence (2 s)
        assert not asked_for(sim, gone_id, since=since), "the deleted job is still refreshed"
        late = jobs.status_writes(after_deletion(plane.audit.since(mark), "job-2"), "job-2")
        assert late == [], f"status patches sent to job-2 after it was deleted: {late}"
    finally:
        plane.delete_namespace(other)
    lap("watch expired")

    # -- a DrsJob deleted while its batch-detail call is in flight -------------------------------
    sim.faults.update({"latency": 1.0})
    sim.set_status(jobs.ids["job-1"], OTHER)
    plane.request(
        "PATCH",
        drsjobs_path(namespace, "job-1"),
        {"spec": {"refreshInterval": "7s"}},  # refresh now
        content_type="application/merge-patch+json",
    ).expect()
    await asyncio.sleep(0.4)  # the call is on its way (1 s of latency)
    mark = plane.audit.mark()
    deleted_at, task = time.time(), jobs.ids["job-1"]
    jobs.delete("job-1")
    await asyncio.sleep(2.0)
    # The simulator records a call when it answers, 1 s after it came in: one for job-1
    # came in before the deletion and was answered after it (the case under test).
    answered = [r.time for r in sim.stats.requests if task in r.ids]
    assert any(t - 1.0 < deleted_at < t for t in answered), "no call was in flight"
    late = jobs.status_writes(after_deletion(plane.audit.since(mark), "job-1"), "job-1")
    assert late == [], f"status patches sent to job-1 after it was deleted: {late}"
    sim.faults.reset()
    lap("deleted in flight")

    # -- a burst: 40 created, 20 of them deleted at once -----------------------------------------
    burst = [f"burst-{i:02d}" for i in range(40)]
    for name in burst:
        jobs.add(name)
    await asyncio.sleep(0.3)
    doomed = {name: jobs.ids[name] for name in burst[::2]}
    for name in doomed:
        jobs.delete(name)
    await eventually(jobs.converged, timeout=30, message="the burst's survivors converged")
    mark, since = plane.audit.mark(), time.time()
    await asyncio.sleep(2.5)  # more than a steady cadence: every survivor refreshed again
    touched = {
        e["objectRef"]["name"]
        for e in plane.audit.since(mark)
        if (e.get("objectRef") or {}).get("name") in doomed
    }
    assert touched == set(), f"requests about deleted DrsJobs: {sorted(touched)}"
    assert not any(asked_for(sim, job_id, since) for job_id in doomed.values())
    lap("burst")

    # Up all along; nothing but status writes; no tracebacks.
    assert proc.returncode is None
    assert await proc.stop() == 0
    log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]
    operator_writes = [
        e
        for e in plane.audit.events()
        if (e.get("objectRef") or {}).get("namespace") == namespace
        and e.get("verb") in ("create", "update", "patch", "delete")
        and (e.get("objectRef") or {}).get("resource") in ("drsjobs", "secrets")
        and (e.get("objectRef") or {}).get("subresource") != "status"
        and "Python-urllib" not in e.get("userAgent", "")
    ]
    assert operator_writes == [], operator_writes
