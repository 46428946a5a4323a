"""Drift end to end: a task changes in the cloud, its DrsJob shows it, then recovers.

The operator process with the harness's fast cadences (steady 2 s) against a
cluster (the emulator, or a real one with DRS_E2E_KUBECONFIG) and the DRS
simulator: a DrsJob declares its task's source port in ``spec.expect``; the
task moves to another port, then back.
"""

from __future__ import annotations

from typing import Any

import pytest

from drs_operator.sandbox.simulator import Simulator

from .conftest import Cluster, OperatorFactory, eventually
from .test_operator_e2e import CREDENTIALS, STEADY, condition, secret_data, status_of

pytestmark = pytest.mark.e2e

SLACK = 3.0  # what one cadence of the operator may take beyond the cadence itself


async def test_a_drifted_task_shows_within_one_cadence_and_resolves(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory
) -> None:
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED", source_endpoint={"db_port": 3306})
    await cluster.create_drsjob(
        "orders", {"jobId": job_id, "expect": {"sourceEndpoint": {"port": 3306}}}
    )
    proc = await operator_process()

    async def state(wanted: str) -> dict[str, Any]:
        st = await status_of(cluster, "orders")
        assert (st.get("drift") or {}).get("state") == wanted, st.get("drift")
        return st

    await eventually(lambda: state("InSync"), timeout=20)
    simulator.set_status(job_id, "INCRE_TRANSFER_STARTED", source_endpoint={"db_port": 3307})
    drifted = await eventually(lambda: state("Modified"), timeout=STEADY + SLACK)
    ready = condition(drifted, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Drifted")
    assert condition(drifted, "Drifted")["reason"] == "Modified"
    assert drifted["drift"]["differences"] == [
        {"field": "sourceEndpoint.port", "expected": "3306", "observed": "3307"}
    ]

    simulator.set_status(job_id, "INCRE_TRANSFER_STARTED", source_endpoint={"db_port": 3306})
    resolved = await eventually(lambda: state("InSync"), timeout=STEADY + SLACK)
    assert condition(resolved, "Ready")["status"] == "True"

    async def events() -> list[Any]:  # an Event is posted after the status it reports
        reasons = [e.get("reason") for e in await cluster.list_events("orders")]
        assert reasons.count("DriftDetected") == 1 and reasons.count("DriftResolved") == 1, reasons
        return reasons

    await eventually(events, timeout=5)
    assert "orders: Drift changed from InSync to Modified" in proc.log_text()
