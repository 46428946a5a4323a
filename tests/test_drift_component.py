"""Drift through the operator's parts: the watch, the refresher, the writer, the events.

The real registry, refresher and writer against the DRS simulator and the
Kubernetes emulator (tests/component.py). A DrsJob declares ``spec.expect``;
the task then changes in the simulator; later the user edits ``spec.expect``.
"""

from __future__ import annotations

from typing import Any

from drs_operator.engine.app import Operator
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import NS, add_drsjob, cycle, feed, make_all_due
from tests.test_operator_component import condition, status

STEADY = "INCRE_TRANSFER_STARTED"


def events(cluster: EmulatedCluster, reason: str) -> list[dict[str, Any]]:
    return [e for e in cluster.list("events", NS) if e.get("reason") == reason]


def patches(cluster: EmulatedCluster) -> int:
    return cluster.status_patch_count(namespace=NS)


async def test_drift_appears_resolves_and_writes_only_on_change(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status=STEADY, source_endpoint={"db_port": 3306})
    add_drsjob(cluster, "orders", job_id, expect={"sourceEndpoint": {"port": 3306}})
    feed(operator, cluster)
    await cycle(operator)
    first = status(cluster, "orders")
    assert first["drift"]["state"] == "InSync"
    assert condition(first, "Ready")["status"] == "True"

    simulator.set_status(job_id, STEADY, source_endpoint={"db_port": 3307})
    make_all_due(operator)
    await cycle(operator)
    drifted = status(cluster, "orders")
    assert drifted["drift"]["state"] == "Modified"
    assert (condition(drifted, "Ready")["status"], condition(drifted, "Ready")["reason"]) == (
        "False",
        "Drifted",
    )
    assert len(events(cluster, "DriftDetected")) == 1

    written = patches(cluster)
    make_all_due(operator)
    await cycle(operator)  # the same answer again: nothing to write, no event
    assert patches(cluster) == written
    assert len(events(cluster, "DriftDetected")) == 1

    simulator.set_status(job_id, STEADY, source_endpoint={"db_port": 3306})
    make_all_due(operator)
    await cycle(operator)
    assert status(cluster, "orders")["drift"]["state"] == "InSync"
    assert condition(status(cluster, "orders"), "Ready")["status"] == "True"
    assert len(events(cluster, "DriftResolved")) == 1


async def test_a_changed_expect_is_judged_again_without_a_drs_call(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status=STEADY, source_endpoint={"db_port": 3306})
    add_drsjob(cluster, "orders", job_id, expect={"sourceEndpoint": {"port": 3306}})
    feed(operator, cluster)
    await cycle(operator)
    [record] = list(operator.registry)
    due = record.due
    calls = simulator.stats.batch_detail_calls

    cluster.patch_spec("drsjobs", NS, "orders", {"expect": {"sourceEndpoint": {"port": 3307}}})
    feed(operator, cluster)
    await cycle(operator)

    assert simulator.stats.batch_detail_calls == calls, "no DRS call for a new expect"
    assert record.due == due, "the job kept its place in the schedule"
    now = status(cluster, "orders")
    generation = (cluster.get("drsjobs", NS, "orders") or {})["metadata"]["generation"]
    assert now["drift"]["state"] == "Modified"
    assert now["observedGeneration"] == generation
    assert all(c["observedGeneration"] == generation for c in now["conditions"])
    assert len(events(cluster, "DriftDetected")) == 1


async def test_any_other_spec_change_is_refreshed_at_once(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status=STEADY)
    add_drsjob(cluster, "orders", job_id, expect={"jobName": "x"})
    feed(operator, cluster)
    await cycle(operator)
    calls = simulator.stats.batch_detail_calls
    cluster.patch_spec("drsjobs", NS, "orders", {"refreshInterval": "30s", "expect": None})
    feed(operator, cluster)
    await cycle(operator)
    assert simulator.stats.batch_detail_calls == calls + 1
    assert "drift" not in status(cluster, "orders")


async def test_drsjobs_are_counted_by_drift_state(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    moved = simulator.add_job(status=STEADY, source_endpoint={"db_port": 3307})
    kept = simulator.add_job(status=STEADY, source_endpoint={"db_port": 3306})
    add_drsjob(cluster, "moved", moved, expect={"sourceEndpoint": {"port": 3306}})
    add_drsjob(cluster, "kept", kept, expect={"sourceEndpoint": {"port": 3306}})
    add_drsjob(cluster, "plain", simulator.add_job(status=STEADY))
    feed(operator, cluster)
    await cycle(operator)
    sample = operator.metrics.registry.get_sample_value
    counts = {
        state: sample("drs_operator_drsjobs_drift", {"state": state})
        for state in ("InSync", "Modified", "Deleted", "NotChecked", "None")
    }
    assert counts == {"InSync": 1, "Modified": 1, "Deleted": 0, "NotChecked": 0, "None": 1}
