"""Sharding by label selector between real operator processes, on the emulator and a real API
server (where the API server's own watch cache turns a relabelling into DELETED and ADDED).

Two shards as the Helm chart renders them: shard ``a`` runs with
``--selector drs.operators.dev/shard=a``, the default shard with
``--selector 'drs.operators.dev/shard notin (a)'`` (unlabelled DrsJobs and
any other value); each has leader election on with a Lease of its own, so
both lead. :mod:`tests.e2e.ha` tells their DRS calls apart by project.

- the shards ask DRS about disjoint sets of tasks whose union is every task,
  and each writes only its own DrsJobs;
- a DrsJob relabelled from ``a`` to ``b`` moves to the default shard: a task
  change made at the same moment reaches its status (not lost); after the
  move only the default shard asks about it (not refreshed by both); a
  DrsJob whose label is removed moves the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drs_operator.sandbox.simulator import Simulator

from .conftest import FAST_ARGS, Cluster, OperatorFactory, condition, eventually
from .ha import OTHER, add_jobs, ids_asked, lease_args, now, start_replica
from .test_leader_election import converged

pytestmark = pytest.mark.e2e

KEY = "drs.operators.dev/shard"
STEADY_CADENCE = float(FAST_ARGS[FAST_ARGS.index("--cadence-steady") + 1].rstrip("s"))


async def test_two_shards_see_disjoint_sets_and_a_relabelled_drsjob_moves(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    sim = simulator
    in_a = await add_jobs(cluster, sim, ["a-0", "a-1", "a-2"], labels={KEY: "a"})
    in_default = await add_jobs(cluster, sim, ["plain-0", "plain-1"])
    in_default |= await add_jobs(cluster, sim, ["b-0"], labels={KEY: "b"})
    everything = in_a | in_default
    shard_a = await start_replica(
        cluster, sim, operator_process, "shard-a",
        "--selector", f"{KEY}=a", *lease_args(cluster.namespace, lease="drs-a"),
    )  # fmt: skip
    default = await start_replica(
        cluster, sim, operator_process, "shard-default",
        "--selector", f"{KEY} notin (a)", *lease_args(cluster.namespace, lease="drs-default"),
    )  # fmt: skip
    await eventually(converged(cluster, sim, everything), timeout=30)
    await eventually(shard_a.leading, timeout=10)
    await eventually(default.leading, timeout=10)
    await asyncio.sleep(STEADY_CADENCE + 0.5)

    assert ids_asked(shard_a.calls(sim)) == set(in_a.values())
    assert ids_asked(default.calls(sim)) == set(in_default.values())
    if cluster.counts_requests:
        # Each shard wrote every one of its own DrsJobs' first status, and no other's.
        assert _written_by(cluster, "shard-a") == set(in_a)
        assert _written_by(cluster, "shard-default") == set(in_default)

    # Relabel a-0 into the default shard, and change its task at the same moment.
    moved = in_a["a-0"]
    sim.set_status(moved, OTHER)
    await cluster.label_drsjob("a-0", {KEY: "b"})
    relabelled = now()
    await eventually(
        lambda: _changed(cluster, "a-0"), timeout=15, message="the change made during the move"
    )
    # Unlabel a-1: no label is the default shard's too.
    await cluster.label_drsjob("a-1", {KEY: None})
    unlabelled = now()
    await asyncio.sleep(2 * STEADY_CADENCE + 0.5)

    settled = relabelled + 0.5  # a call already on its way may still arrive
    assert moved not in ids_asked(shard_a.calls(sim, after=settled)), "refreshed by both"
    assert moved in ids_asked(default.calls(sim, after=relabelled)), "lost by the shards"
    assert in_a["a-1"] not in ids_asked(shard_a.calls(sim, after=unlabelled + 0.5))
    assert in_a["a-1"] in ids_asked(default.calls(sim, after=unlabelled))
    assert ids_asked(shard_a.calls(sim, after=unlabelled + 0.5)) == {in_a["a-2"]}
    await eventually(converged(cluster, sim, everything), timeout=15)
    job = await cluster.get_drsjob("a-0")
    assert condition(job, "Synced").get("status") == "True"


async def _changed(cluster: Cluster, name: str) -> bool:
    job = await cluster.get_drsjob(name)
    return bool(((job or {}).get("status") or {}).get("taskStatus") == OTHER)


def _written_by(cluster: Cluster, replica: str) -> set[str]:
    """The DrsJobs whose status this replica patched (the emulator's log or the audit log)."""
    if cluster.is_emulated:
        emulator: Any = cluster.emulator  # type: ignore[attr-defined]
        return {
            r.name
            for r in emulator.requests(method="PATCH", resource="drsjobs", subresource="status")
            if f"({replica})" in (r.user_agent or "") and r.name
        }
    return {
        str(ref.get("name"))
        for e in cluster.requests()  # type: ignore[attr-defined]
        if e.get("verb") == "patch"
        and f"({replica})" in str(e.get("userAgent") or "")
        and (ref := e.get("objectRef") or {}).get("resource") == "drsjobs"
        and ref.get("subresource") == "status"
    }
