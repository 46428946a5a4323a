"""The operator's log as the person on call reads it, from the real process at INFO level.

One start-up line (version, API server, namespace, settings), one line per change
(a task that fails, a task that does not exist, refused credentials) with namespace,
name and job ID as fields, nothing for the refreshes in between (kopf's per-event
``Handler '...' succeeded.`` lines included), one shutdown line; in text and in JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from drs_operator import __version__
from drs_operator.sandbox.simulator import Simulator

from .conftest import Cluster, OperatorFactory, eventually

pytestmark = pytest.mark.e2e

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOKEN = "tok-log-lines-5b1e8c"
MISSING = "deadbeef-0000-4000-8000-00000000jb21"


async def _synced_reason(cluster: Cluster, name: str) -> str | None:
    obj = await cluster.get_drsjob(name) or {}
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == "Synced":
            return str(item.get("reason"))
    return None


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_one_line_per_change_and_nothing_per_refresh(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory, fmt: str
) -> None:
    simulator.add_token(TOKEN, project_id=PROJECT)
    base = {"endpoint": simulator.url, "projectId": PROJECT}
    await cluster.create_secret("drs-credentials", {**base, "token": TOKEN})
    await cluster.create_secret("refused", {**base, "token": "tok-the-service-refuses"})
    failing = simulator.add_job(project_id=PROJECT, status="FULL_TRANSFER_STARTED")
    steady = simulator.add_job(project_id=PROJECT, status="INCRE_TRANSFER_STARTED")
    await cluster.create_drsjob("billing", {"jobId": failing})
    await cluster.create_drsjob("steady", {"jobId": steady})
    await cluster.create_drsjob("ghost", {"jobId": MISSING})
    await cluster.create_drsjob("refused", {"jobId": steady, "credentialsRef": {"name": "refused"}})
    proc = await operator_process("--log-level", "info", "--log-format", fmt)

    async def reported() -> bool:
        reasons = {n: await _synced_reason(cluster, n) for n in ("ghost", "refused", "billing")}
        assert reasons == {"ghost": "NotFound", "refused": "AuthFailed", "billing": "Refreshed"}
        return True

    await eventually(reported, timeout=20)
    simulator.set_status(
        failing, "FULL_TRANSFER_FAILED", error_code="DRS.M05009", failed_reason="table dropped"
    )

    async def failed() -> bool:
        obj = await cluster.get_drsjob("billing") or {}
        return (obj.get("status") or {}).get("phase") == "Failed"

    await eventually(failed, timeout=20)
    await asyncio.sleep(5)  # several refreshes of every job (cadences 1-5 s): nothing to log
    assert await proc.stop() == 0
    lines = [line for line in proc.log_text().splitlines() if line.strip()]

    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
    else:
        records = [{"message": line} for line in lines]
    messages = [r["message"] for r in records]
    assert not [m for m in messages if "Handler" in m and "succeeded" in m], messages

    started = [r for r in records if "started: Kubernetes API" in r["message"]]
    assert len(started) == 1, messages
    assert f"drs-operator {__version__} started" in started[0]["message"]
    assert cluster.namespace in started[0]["message"]
    assert "batch size 10" in started[0]["message"]
    stopped = [m for m in messages if "drs-operator stopped after" in m]
    assert len(stopped) == 1, messages

    def about(name: str) -> list[dict[str, Any]]:
        if fmt == "json":
            return [r for r in records if r.get("name") == name]
        return [r for r in records if f"{cluster.namespace}/{name}: " in r["message"]]

    expected = {
        "billing": [("TaskObserved", None), ("TaskStatusChanged", None)],
        "steady": [("TaskObserved", None)],
        "ghost": [("SyncFailed", "NotFound")],
        "refused": [("SyncFailed", "AuthFailed")],
    }
    for name, changes in expected.items():
        found = about(name)
        assert len(found) == len(changes), (name, [r["message"] for r in found])
        for record, (event, reason) in zip(found, changes, strict=True):
            if fmt == "json":
                assert record["namespace"] == cluster.namespace and record["event"] == event
                assert record["jobId"] in (failing, steady, MISSING)
                assert reason is None or record["reason"] == reason
            else:
                assert f"event={event}" in record["message"] and "jobId=" in record["message"]
                assert reason is None or f"reason={reason}" in record["message"]
    last = about("billing")[-1]
    assert "FULL_TRANSFER_FAILED: table dropped" in last["message"]
    if fmt == "json":
        assert last["level"] == "warning" and last["errorCode"] == "DRS.M05009"
    # Nothing else: the start-up line, the changes, the DRS connection, the shutdown line.
    others = [
        m for m in messages
        if not any(m in [r["message"] for r in about(n)] for n in expected)
        and "started: Kubernetes API" not in m and "stopped after" not in m
        and "New DRS connection" not in m
    ]  # fmt: skip
    assert others == [], others
