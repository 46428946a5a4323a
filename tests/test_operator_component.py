"""The operator's parts together, without kopf: registry → refresher → writer.

A real DRS simulator and the Kubernetes API emulator are served over HTTP on
loopback; the registry is fed the way kopf's watch feeds it (one event per
object). These tests pin the refresher's behaviour precisely (calls per
cycle, writes, isolation of bad IDs); the end-to-end tier runs the same
through the operator process.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from drs_operator.engine import app
from drs_operator.engine.app import Operator
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator
from tests.component import (
    NS,
    TOKEN,
    add_drsjob,
    add_steady_drsjobs,
    cycle,
    feed,
    make_all_due,
)


def status(cluster: EmulatedCluster, name: str) -> dict[str, Any]:
    obj = cluster.get("drsjobs", NS, name)
    assert obj is not None
    return dict(obj.get("status") or {})


def condition(st: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in st.get("conditions", []) if c["type"] == kind)


async def test_statuses_appear_in_ceil_n_over_batch_size_calls(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    add_steady_drsjobs(simulator, operator, cluster, 23)

    await cycle(operator)

    assert simulator.stats.batch_detail_calls == math.ceil(23 / 10)
    assert max(simulator.stats.ids_per_call) == 10
    for i in range(23):
        st = status(cluster, f"job-{i}")
        assert st["taskStatus"] == "INCRE_TRANSFER_STARTED"
        assert condition(st, "Ready")["status"] == "True"
        assert condition(st, "Synced")["status"] == "True"
    assert cluster.status_patch_count(namespace=NS) == 23
    assert cluster.non_status_writes() == [] or all(
        "/events" in r.path for r in cluster.non_status_writes()
    )


async def test_a_quiet_refresh_writes_nothing(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    add_steady_drsjobs(simulator, operator, cluster, 5)
    await cycle(operator)
    writes = cluster.status_patch_count(namespace=NS)

    make_all_due(operator)
    await cycle(operator)

    assert simulator.stats.batch_detail_calls == 2
    assert cluster.status_patch_count(namespace=NS) == writes


async def test_jobs_due_within_the_lead_are_refreshed_in_the_same_pass(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    add_steady_drsjobs(simulator, operator, cluster, 25)
    await cycle(operator)
    calls = simulator.stats.batch_detail_calls
    assert operator.settings.cadence.lead == 1.0
    records = sorted(operator.registry, key=lambda record: record.key)
    for i, record in enumerate(records):  # 10 due now, 10 in 0.6 s, 5 in 5 s
        operator.registry.schedule(record, record.pace, 0.0 if i < 10 else 0.6 if i < 20 else 5)

    await cycle(operator)

    assert simulator.stats.batch_detail_calls - calls == 2, "now and within the lead: one pass"
    assert simulator.stats.ids_per_call[-2:] == [10, 10]
    refreshed = {record.key for record in records if record.due > time.monotonic() + 30}
    assert refreshed == {record.key for record in records[:20]}, "the five due in 5 s wait"


async def test_a_cloud_side_change_is_written_once_with_an_event(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status="FULL_TRANSFER_STARTED")
    add_drsjob(cluster, "moving", job_id)
    feed(operator, cluster)
    await cycle(operator)
    assert status(cluster, "moving")["phase"] == "Running"
    simulator.set_status(job_id, "INCRE_TRANSFER_FAILED")
    make_all_due(operator)
    before = cluster.status_patch_count(namespace=NS)

    await cycle(operator)

    st = status(cluster, "moving")
    assert st["taskStatus"] == "INCRE_TRANSFER_FAILED" and st["phase"] == "Failed"
    assert condition(st, "Stalled")["status"] == "True"
    assert cluster.status_patch_count(namespace=NS) == before + 1
    messages = [e.get("message", "") for e in cluster.list("events", NS)]
    assert any("FULL_TRANSFER_STARTED" in m and "INCRE_TRANSFER_FAILED" in m for m in messages)


async def test_a_missing_task_does_not_hide_its_batch_mates(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    ids = [simulator.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(7)]
    ghost = "0000aaaa-1111-2222-3333-44445555jb21"
    for i, job_id in enumerate([*ids[:3], ghost, *ids[3:]]):
        add_drsjob(cluster, f"job-{i}", job_id)
    feed(operator, cluster)

    await cycle(operator)

    ghost_status = status(cluster, "job-3")
    assert condition(ghost_status, "Synced")["reason"] == "NotFound"
    assert condition(ghost_status, "Stalled")["status"] == "True"
    for i in (0, 1, 2, 4, 5, 6, 7):
        assert status(cluster, f"job-{i}")["taskStatus"] == "INCRE_TRANSFER_STARTED"

    # The missing ID is remembered: the next cycle costs no bisection.
    calls = simulator.stats.batch_detail_calls
    make_all_due(operator)
    await cycle(operator)
    assert simulator.stats.batch_detail_calls - calls == 2  # the healthy batch + the ghost alone


async def test_two_drsjobs_naming_one_task_cost_one_id(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "first", job_id)
    add_drsjob(cluster, "second", job_id)
    feed(operator, cluster)

    await cycle(operator)

    assert simulator.stats.ids_per_call == [1]
    assert status(cluster, "first")["taskStatus"] == status(cluster, "second")["taskStatus"]


@pytest.mark.parametrize(
    ("spec", "secret", "reason"),
    [
        pytest.param({"suspend": True}, True, "Suspended", id="suspended"),
        pytest.param({"credentialsRef": {"name": "nope"}}, True, "CredentialsMissing",
                     id="secret-missing"),
        pytest.param({"refreshInterval": "1d"}, True, "InvalidSpec", id="bad-spec"),
    ],
)  # fmt: skip
async def test_jobs_that_need_no_call_get_a_specific_reason_and_no_call(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    spec: dict[str, Any],
    secret: bool,
    reason: str,
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "odd", job_id, **spec)
    feed(operator, cluster)

    await cycle(operator)

    synced = condition(status(cluster, "odd"), "Synced")
    assert (synced["status"], synced["reason"]) == ("False", reason)
    assert simulator.stats.batch_detail_calls == 0


async def test_failed_refresh_keeps_last_good_status(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "steady", job_id)
    feed(operator, cluster)
    await cycle(operator)
    good = status(cluster, "steady")

    simulator.faults.server_error_ratio = 1.0
    make_all_due(operator)
    await cycle(operator)

    st = status(cluster, "steady")
    synced = condition(st, "Synced")
    assert synced["status"] == "False" and synced["reason"] == "ApiError"
    assert "request" in synced["message"]  # the API's request ID is named
    for key in ("taskStatus", "phase", "sourceEndpoint", "targetEndpoint"):
        assert st[key] == good[key]
    assert condition(st, "Ready") == condition(good, "Ready")


async def test_no_secret_reaches_the_cluster(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    for i in range(3):
        add_drsjob(cluster, f"job-{i}", simulator.add_job(status="INCRE_TRANSFER_FAILED"))
    feed(operator, cluster)
    await cycle(operator)

    for request in cluster.requests():
        text = str(request.body)
        assert SECRET_MARKER not in text
        assert TOKEN not in text


async def test_one_empty_answer_does_not_mark_a_healthy_task_gone(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "healthy", job_id)
    feed(operator, cluster)
    await cycle(operator)
    # The next answer is empty, the ones after it are not (a flaky server): the fault
    # is cleared as the simulator records its first answer, before the client reads it.
    simulator.faults.empty_results_ratio = 1.0
    make_all_due(operator)
    calls = simulator.stats.batch_detail_calls
    record = simulator.stats.record

    def clear_after_first(entry: Any, *, batch_detail: bool) -> None:
        record(entry, batch_detail=batch_detail)
        if batch_detail:
            simulator.faults.empty_results_ratio = 0.0

    simulator.stats.record = clear_after_first  # type: ignore[method-assign]
    await cycle(operator)

    assert status(cluster, "healthy")["taskStatus"] == "INCRE_TRANSFER_STARTED"
    synced = condition(status(cluster, "healthy"), "Synced")
    assert synced["status"] == "True", synced
    assert simulator.stats.batch_detail_calls - calls == 2  # the empty answer, then one re-ask


async def test_a_task_that_stays_away_is_missing_after_one_re_ask(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "flaky", job_id)
    feed(operator, cluster)
    await cycle(operator)
    simulator.faults.empty_results_ratio = 1.0
    make_all_due(operator)
    calls = simulator.stats.batch_detail_calls

    await cycle(operator)

    assert condition(status(cluster, "flaky"), "Synced")["reason"] == "NotFound"
    assert simulator.stats.batch_detail_calls - calls == 2


async def test_a_status_changed_by_someone_else_is_restored_on_the_next_refresh(
    simulator: Simulator, cluster: EmulatedCluster, operator: Operator
) -> None:
    # The writer skips the mapping when the same answer meets the same object;
    # "the same object" includes its resourceVersion, so a foreign edit is seen.
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    add_drsjob(cluster, "edited", job_id)
    feed(operator, cluster)
    await cycle(operator)
    cluster.patch_status("drsjobs", NS, "edited", {"taskStatus": "TAMPERED"})
    feed(operator, cluster)  # the watch event of that edit
    make_all_due(operator)

    await cycle(operator)

    assert status(cluster, "edited")["taskStatus"] == "INCRE_TRANSFER_STARTED"


async def test_a_proxy_the_transport_cannot_use_is_reported_on_the_job(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", "socks5://user:proxy-password@proxy:1080")
    add_drsjob(cluster, "proxied", simulator.add_job(status="INCRE_TRANSFER_STARTED"))
    feed(operator, cluster)

    await cycle(operator)

    synced = condition(status(cluster, "proxied"), "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "Unreachable")
    assert "unsupported proxy scheme 'socks5'" in synced["message"]
    assert "proxy-password" not in synced["message"]
    assert simulator.stats.batch_detail_calls == 0
    assert [record.in_flight for record in operator.registry] == [False]


async def test_shutdown_waits_for_batches_and_writes_within_one_grace_in_all(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each wait had its own SHUTDOWN_GRACE (with the Lease release, up to 42 s against the
    chart's 30 s grace period): now the batches and the writes share one."""
    monkeypatch.setattr(app, "SHUTDOWN_GRACE", 0.4)
    waits: list[float] = []

    async def slow(timeout: float) -> bool:  # in-flight work that never finishes early
        waits.append(timeout)
        await asyncio.sleep(timeout)
        return False

    monkeypatch.setattr(operator.refresher, "drain", slow)
    monkeypatch.setattr(operator.writer, "drain", slow)
    await operator.stop()
    assert len(waits) == 2 and sum(waits) <= 0.4 + 0.05, waits
