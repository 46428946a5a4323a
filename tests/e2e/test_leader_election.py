"""Leader election between real operator processes, on the emulator and a real API server.

Two (or one) ``drs-operator run --leader-election`` processes share one
Lease (3 s lease, 2 s renew deadline, 0.5 s retry period unless a test says
otherwise); :mod:`tests.e2e.ha` tells their DRS calls apart by project.

=========================  ====================================================================
one leader                 started together, exactly one process calls DRS and writes statuses
                           and events (simulator log by project; writes by User-Agent in the
                           emulator's log or the API server's audit log; the standby's own
                           counters); the Lease names it;
                           both are ready; the standby says it stands by
kill -9                    the standby takes over within lease duration + one cadence of the
                           kill; no job goes unrefreshed longer than cadence + lease duration +
                           two retry periods (the standby measures the lease from when it saw
                           the last renewal, up to 1.2 retry periods after it, as client-go);
                           the dead leader makes no call afterwards
SIGTERM                    the Lease is released (holder cleared), the standby acquires it within
                           ~2 retry periods of the exit, long before the 30 s lease would have
                           run out; every call of the old leader precedes every call of the new
                           one, and the new leader's first cycle asks each task once
renewals fail (emulator)   the API server refuses Lease updates (503): at the renew deadline the
                           leader stops calling DRS, writes nothing (not even the answer of a
                           call in flight at the deadline), reports drs_operator_leader 0, and
                           leads again once the API server accepts the renewal
=========================  ====================================================================
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Any

import pytest

from drs_operator.sandbox.simulator import Simulator

from .conftest import FAST_ARGS, Cluster, OperatorFactory, condition, eventually, metric_value
from .ha import (
    LEASE,
    OTHER,
    Replica,
    add_jobs,
    calls_of,
    ids_asked,
    lease_args,
    now,
    refresh_times,
    start_replica,
)
from .test_restart_shutdown import converged

pytestmark = pytest.mark.e2e

STEADY_CADENCE = float(FAST_ARGS[FAST_ARGS.index("--cadence-steady") + 1].rstrip("s"))


async def leader_among(*replicas: Replica) -> Replica:
    """The one replica that says it leads, once exactly one does."""

    async def one() -> Replica | None:
        leading = [r for r in replicas if await r.leading()]
        return leading[0] if len(leading) == 1 else None

    found: Replica = await eventually(one, timeout=20, message="exactly one leader")
    return found


async def holder(cluster: Cluster, name: str = LEASE) -> str:
    lease = await cluster.get_lease(name)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def writers(cluster: Cluster) -> dict[str, int]:
    """Writes of DrsJobs and Events by User-Agent (who sent them): from the emulator's request
    log, or a real API server's audit log (``cluster.counts_requests``)."""
    counts: dict[str, int] = {}
    if cluster.is_emulated:
        emulator: Any = cluster.emulator  # type: ignore[attr-defined]
        found = [
            r.user_agent or "?"
            for r in emulator.requests(writes_only=True)
            if r.resource in ("drsjobs", "events")
        ]
    else:
        found = [
            str(e.get("userAgent") or "?")
            for e in cluster.requests()  # type: ignore[attr-defined]
            if e.get("verb") in ("create", "update", "patch", "delete")
            and (e.get("objectRef") or {}).get("resource") in ("drsjobs", "events")
        ]
    for agent in found:
        counts[agent] = counts.get(agent, 0) + 1
    return counts


async def test_two_replicas_exactly_one_calls_drs_and_writes(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    sim = simulator
    jobs = await add_jobs(cluster, sim, [f"job-{i}" for i in range(4)])
    args = lease_args(cluster.namespace)
    # Started back to back (the harness names log files in order): they campaign at once.
    a = await start_replica(cluster, sim, operator_process, "op-a", *args)
    b = await start_replica(cluster, sim, operator_process, "op-b", *args)
    await eventually(converged(cluster, sim, jobs), timeout=30)
    leader = await leader_among(a, b)
    standby = b if leader is a else a
    assert await holder(cluster) == leader.name

    sim.set_status(jobs["job-0"], OTHER)  # a change: a status write and an event to make
    await eventually(converged(cluster, sim, jobs), timeout=15)
    await asyncio.sleep(2 * STEADY_CADENCE)  # more refresh cycles

    assert standby.calls(sim) == [], "the standby called DRS"
    assert ids_asked(leader.calls(sim)) == set(jobs.values())
    assert sim.stats.batch_detail_calls == len(leader.calls(sim)), "every call is the leader's"
    if cluster.counts_requests:  # the emulator's request log, or the audit log
        by_agent = writers(cluster)
        assert by_agent, "the leader wrote statuses and events"
        assert all(f"({leader.name})" in agent for agent in by_agent), by_agent
    standby_metrics = await standby.metrics()
    assert (
        metric_value(standby_metrics, "drs_operator_batch_detail_calls_total", required=False) == 0
    )
    assert (
        metric_value(
            standby_metrics, "drs_operator_status_writes_total", 'outcome="written"', required=False
        )
        == 0
    )
    assert metric_value(standby_metrics, "drs_operator_events_total", required=False) == 0
    leader_metrics = await leader.metrics()
    assert metric_value(leader_metrics, "drs_operator_status_writes_total", 'outcome="written"') > 0
    assert metric_value(leader_metrics, "drs_operator_leader_transitions_total", "gained") == 1
    assert (await leader.ready(), await standby.ready()) == (200, 200), "standbys are ready too"
    assert f"is held by {leader.name}" in standby.proc.log_text()
    assert "Leading: acquired Lease" in leader.proc.log_text()


async def test_kill_9_the_standby_takes_over_within_lease_duration_and_a_cadence(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    sim = simulator
    cadence, lease, retry = 4.0, 3.0, 0.5
    jobs = await add_jobs(cluster, sim, [f"job-{i}" for i in range(12)])
    args = (*lease_args(cluster.namespace), "--cadence-steady", f"{cadence:g}s")
    a = await start_replica(cluster, sim, operator_process, "op-a", *args)
    await eventually(a.leading, timeout=20)
    b = await start_replica(cluster, sim, operator_process, "op-b", *args)
    await eventually(converged(cluster, sim, jobs), timeout=30)
    await eventually(lambda: "is held by op-a" in b.proc.log_text(), timeout=20)
    await asyncio.sleep(cadence + 1)  # a steady cycle of the leader

    killed = now()
    a.proc.process.kill()  # SIGKILL: no release, the lease must run out
    await a.proc.process.wait()
    first = await eventually(
        lambda: b.calls(sim), timeout=lease + cadence + 10, message="the standby's first call"
    )
    takeover = first[0].time - killed
    assert takeover <= lease + cadence, f"took over {takeover:.2f}s after the kill"
    assert a.calls(sim, after=killed + 0.1) == [], "the killed leader cannot call"
    await asyncio.sleep(cadence + 1)  # a full cycle of the new leader
    assert ids_asked(b.calls(sim)) == set(jobs.values())

    worst = 0.0
    for job_id in jobs.values():
        times = refresh_times(sim, job_id)
        before = [t for t in times if t <= killed]
        after = [t for t in times if t > killed]
        assert before and after, job_id
        worst = max(worst, after[0] - before[-1])
    bound = cadence + lease + 2 * retry
    assert worst <= bound, f"a job went {worst:.2f}s unrefreshed (bound {bound:g}s)"
    print(f"kill -9: first call of the new leader {takeover:.2f}s after the kill; "
          f"longest gap between refreshes of a job {worst:.2f}s")  # fmt: skip
    assert await holder(cluster) == "op-b"
    assert "Leading: acquired Lease" in b.proc.log_text()


async def test_sigterm_releases_the_lease_and_the_standby_takes_over_at_once(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    sim = simulator
    retry, lease = 0.5, 30.0  # a long lease: only the release explains a fast takeover
    jobs = await add_jobs(cluster, sim, [f"job-{i}" for i in range(12)])
    args = lease_args(cluster.namespace, duration="30s", deadline="20s", retry="0.5s")
    a = await start_replica(cluster, sim, operator_process, "op-a", *args)
    await eventually(a.leading, timeout=20)
    b = await start_replica(cluster, sim, operator_process, "op-b", *args)
    await eventually(converged(cluster, sim, jobs), timeout=30)
    await eventually(lambda: "is held by op-a" in b.proc.log_text(), timeout=20)
    await asyncio.sleep(STEADY_CADENCE + 1)

    assert await a.proc.stop() == 0  # SIGTERM
    exited = now()
    assert "Released Lease" in a.proc.log_text()
    first = await eventually(
        lambda: b.calls(sim), timeout=lease / 2, message="the new leader's first call"
    )
    takeover = first[0].time - exited
    lease_obj = await cluster.get_lease(LEASE)
    spec = (lease_obj or {}).get("spec") or {}
    assert spec.get("holderIdentity") == "op-b"
    acquired = _seconds(spec["acquireTime"]) - exited
    assert acquired <= 2 * retry + 0.5, f"acquired {acquired:.2f}s after the old leader exited"
    assert takeover < lease / 2, "taken over by release, not by expiry"

    # No doubled calls across the handover: the old leader's calls all precede the
    # new leader's, and the new leader's first cycle asks each task exactly once.
    assert max(r.time for r in a.calls(sim)) < first[0].time
    await asyncio.sleep(STEADY_CADENCE * 0.75)
    sweep = [r for r in b.calls(sim) if r.time < first[0].time + STEADY_CADENCE * 0.75]
    asked = [job_id for call in sweep for job_id in call.ids]
    assert sorted(asked) == sorted(jobs.values()), "each task once in the first cycle"
    print(f"SIGTERM: Lease acquired {acquired:.2f}s and first call {takeover:.2f}s "
          f"after the old leader exited")  # fmt: skip


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("cluster", ["emulator"], indirect=True)  # fault injection
async def test_a_leader_whose_renewals_fail_stops_calling_drs_and_writing(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    emulator: Any = cluster.emulator  # type: ignore[attr-defined]
    sim = simulator
    deadline = 2.0
    jobs = await add_jobs(cluster, sim, [f"job-{i}" for i in range(4)])
    a = await start_replica(cluster, sim, operator_process, "op-a", *lease_args(cluster.namespace))
    await eventually(a.leading, timeout=20)
    await eventually(converged(cluster, sim, jobs), timeout=30)

    # DRS answers take 3 s from now on (calls already answered meanwhile changed nothing);
    # then the API server refuses every Lease update, and the task changes: the call
    # that sees the change is in flight when the renew deadline (2 s) passes.
    sim.faults.update({"latency": 3.0})
    await asyncio.sleep(0.3)
    refused = emulator.handler["put"][re.compile(r".*/leases/.*")] << 503
    faulted = now()
    sim.set_status(jobs["job-0"], OTHER)
    await cluster.patch_drsjob_spec("job-0", {"refreshInterval": "30s"})  # refresh now
    patches = cluster.status_patch_count()
    await eventually(lambda: a.calls(sim, after=faulted), timeout=10, message="the in-flight call")
    await eventually(lambda: not_leading(a), timeout=deadline + 5, message="leadership lost")
    lost = now()
    assert lost - faulted <= deadline + 2, f"lost {lost - faulted:.2f}s after the fault"

    await asyncio.sleep(3 * STEADY_CADENCE)  # several cadences: nothing may be called or written
    late = a.calls(sim, after=faulted + deadline + 3.5)  # the in-flight call ends by then
    assert late == [], f"{len(late)} DRS calls after the renew deadline"
    assert cluster.status_patch_count() == patches, "a status written after the deadline"
    job = await cluster.get_drsjob("job-0")
    assert (job or {}).get("status", {}).get("taskStatus") != OTHER, "the late answer was written"
    assert await a.ready() == 200, "a standby is still healthy"

    emulator.handler._payloads.remove(refused)
    sim.faults.reset()
    await eventually(a.leading, timeout=10, message="leading again")
    await eventually(converged(cluster, sim, jobs), timeout=15, message="the change written")
    text = await a.metrics()
    assert metric_value(text, "drs_operator_leader_transitions_total", "lost") == 1
    assert metric_value(text, "drs_operator_leader_transitions_total", "gained") == 2
    assert "Standing by: lost Lease" in a.proc.log_text()
    assert await a.proc.stop() == 0
    assert "Traceback" not in a.proc.log_text()


async def not_leading(replica: Replica) -> bool:
    return metric_value(await replica.metrics(), "drs_operator_leader", required=False) == 0.0


async def test_a_standby_writes_nothing_even_when_its_jobs_need_no_call(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    """Invalid specs and missing credentials need no DRS call, but their status is a write."""
    sim = simulator
    jobs = await add_jobs(cluster, sim, ["good"])
    await cluster.create_drsjob("suspended", {"jobId": jobs["good"], "suspend": True})
    args = lease_args(cluster.namespace)
    a = await start_replica(cluster, sim, operator_process, "op-a", *args)
    await eventually(a.leading, timeout=20)
    await eventually(converged(cluster, sim, jobs), timeout=30)
    b = await start_replica(cluster, sim, operator_process, "op-b", *args)
    await eventually(lambda: "is held by op-a" in b.proc.log_text(), timeout=20)
    mark = time.monotonic()
    await cluster.create_drsjob("no-secret", {"jobId": jobs["good"], "credentialsRef": {
        "name": "absent"}})  # fmt: skip
    await eventually(
        lambda: _synced_reason(cluster, "no-secret"), timeout=15, message="written by the leader"
    )
    await asyncio.sleep(max(0.0, 2 - (time.monotonic() - mark)))
    if cluster.counts_requests:
        assert writers(cluster), "the leader's writes are on record"
        assert all("(op-a)" in agent for agent in writers(cluster)), writers(cluster)
    text = await b.metrics()
    assert (
        metric_value(text, "drs_operator_status_writes_total", 'outcome="written"', required=False)
        == 0
    )
    assert calls_of(sim, b.project) == []


async def _synced_reason(cluster: Cluster, name: str) -> str:
    return str(condition(await cluster.get_drsjob(name), "Synced").get("reason") or "")
