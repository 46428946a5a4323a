"""A DrsJob deleted while the watch was down is forgotten when kopf lists again.

kopf re-lists after a resumed watch is answered 410 Gone, and sends no DELETED
for what disappeared meanwhile (found against a real kube-apiserver:
tests/cluster/test_apiserver_faults.py). :class:`drs_operator.handlers.Relists`
lists the names itself and makes the registry forget the missing ones that
are not newer than its list. Here against the emulator, without kopf: the
registry is fed as kopf feeds it and objects vanish without an event.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from drs_operator.engine.app import Operator
from drs_operator.handlers import Relists
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import NS, add_steady_drsjobs, feed


async def test_a_sweep_forgets_only_what_the_list_lacks_and_is_not_newer(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    add_steady_drsjobs(simulator, operator, cluster, 3)
    cluster.create(
        {
            "apiVersion": "drs.operators.dev/v1alpha1",
            "kind": "DrsJob",
            "metadata": {"name": "elsewhere", "namespace": "other"},
            "spec": {"jobId": simulator.add_job()},
        }
    )
    feed(operator, cluster)
    for obj in cluster.list("drsjobs", "other"):
        operator.observe(event_type=None, body=obj)
    cluster.delete("drsjobs", NS, "job-1")  # no event reaches the registry
    cluster.delete("drsjobs", "other", "elsewhere")
    # A job the registry knows at a resourceVersion newer than any list: kept.
    newer = next(r for r in operator.registry if r.name == "job-2")
    cluster.delete("drsjobs", NS, "job-2")
    newer.resource_version = str(10**9)

    assert await Relists(operator).sweep(NS) == 1
    assert sorted(r.name for r in operator.registry) == ["elsewhere", "job-0", "job-2"]
    assert await Relists(operator).sweep(None) == 1  # cluster-wide: "other" too
    assert sorted(r.name for r in operator.registry) == ["job-0", "job-2"]


async def test_a_listing_schedules_one_sweep_per_scope_and_errors_forget_nothing(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    add_steady_drsjobs(simulator, operator, cluster, 2)
    relists = Relists(operator, settle=0.05)
    calls: list[str | None] = []
    sweep = relists.sweep

    async def counted(scope: str | None) -> int:
        calls.append(scope)
        return await sweep(scope)

    relists.sweep = counted  # type: ignore[method-assign]
    for _ in range(5):  # five listed events of one listing
        relists.listed(NS)
    relists.listed("other")
    await asyncio.sleep(0.3)
    assert sorted(calls, key=str) == sorted([NS, "other"])

    cluster.delete("drsjobs", NS, "job-0")
    cluster.handler["get"] << 500  # the list fails: nothing is forgotten
    assert await sweep(NS) == 0
    assert len(operator.registry) == 2
    await relists.close()


async def test_the_periodic_sweep_covers_a_namespace_left_empty(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    """A listing that finds nothing sends no event: only the periodic sweep sees the loss."""
    add_steady_drsjobs(simulator, operator, cluster, 2)
    for name in ("job-0", "job-1"):
        cluster.delete("drsjobs", NS, name)
    relists = Relists(operator, settle=0.05)
    relists.start(interval=0.05)
    try:
        for _ in range(40):
            if not len(operator.registry):
                break
            await asyncio.sleep(0.05)
        assert len(operator.registry) == 0
    finally:
        await relists.close()


async def test_an_unexpected_error_in_the_periodic_sweep_is_logged_and_the_next_one_runs(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, one unexpected error ended the periodic resync silently."""
    add_steady_drsjobs(simulator, operator, cluster, 1)
    cluster.delete("drsjobs", NS, "job-0")
    relists = Relists(operator, settle=0.05)
    sweep_all, failures = relists.sweep_all, iter([RuntimeError("a bug")])

    async def flaky() -> int:
        for error in failures:
            raise error
        return await sweep_all()

    relists.sweep_all = flaky  # type: ignore[method-assign]
    relists.start(interval=0.05)
    try:
        for _ in range(40):
            if not len(operator.registry):
                break
            await asyncio.sleep(0.05)
        assert len(operator.registry) == 0, "the sweep after the failed one forgot job-0"
        assert any("relist failed unexpectedly" in r.getMessage() for r in caplog.records)
    finally:
        await relists.close()


async def test_a_mass_deletion_is_one_line_not_one_per_drsjob(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="drs_operator.handlers")
    add_steady_drsjobs(simulator, operator, cluster, 8)
    for index in range(6):
        cluster.delete("drsjobs", NS, f"job-{index}")
    assert await Relists(operator).sweep(NS) == 6
    lines = [r.getMessage() for r in caplog.records if "watch was down" in r.getMessage()]
    assert lines == [
        f"6 DrsJobs deleted while the watch was down; forgotten: {NS}/job-0, {NS}/job-1, "
        f"{NS}/job-2 and 3 more"
    ], lines
