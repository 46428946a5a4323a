"""Every status the mapping produces is accepted by the CRD's schema, unpruned.

The API server prunes status fields its schema does not know: the writer
would then see a difference on every refresh and patch forever. So the
mapping's output must validate against the CRD with unknown fields refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_operator.domain.crd import load_crd
from drs_operator.domain.drift import parse_expect
from drs_operator.domain.mapping import compute_status
from drs_operator.domain.observations import Failed, Missing, Observed
from drs_operator.domain.phases import ALL_STATUSES
from drs_operator.domain.printing import columns_from_crd, evaluate
from drs_operator.drs.parsing import parse_batch_detail
from tests.test_crd import validate

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CRD = load_crd()


def full_item(status: str) -> dict[str, Any]:
    endpoint = {
        "ip": "192.168.6.178", "db_type": "mysql", "db_port": 3306, "ssl_link": False,
        "project_id": "054ba152d480d55b2f5dc0069e7ddef0", "db_user": "root",
        "db_password": "s3cret", "inst_id": "bdf5f129b0f546e7b7179d2c61524696in01",
        "inst_name": "rds", "region": "cn-xianhz-1", "vpc_id": "v", "subnet_id": "s",
        "security_group_id": "g", "az_code": "az1", "db_name": "db", "topic": "t",
        "ssl_cert_key": "k", "kerberos": {"krb5_conf": "x"},
    }  # fmt: skip
    return {
        "id": "9a470239-2308-4bb5-a6bc-1040402fjb21", "name": "DRS-4963", "status": status,
        "description": "d", "create_time": "1597977829563", "task_type": "FULL_INCR_TRANS",
        "source_endpoint": endpoint, "target_endpoint": endpoint, "dmq_endpoint": endpoint,
        "source_sharding": endpoint, "net_type": "vpc", "failed_reason": "boom",
        "inst_info": {"ip": "192.168.6.216", "ipv6": "2001:db8::1", "inst_type": "high",
                      "engine_type": "mysql", "volume_size": 100, "public_ip": "10.1.1.1",
                      "status": "ACTIVE", "start_time": "0"},
        "actual_start_time": "1597977829563", "full_transfer_complete_time": "1597978229586",
        "update_time": "1597978233127", "job_direction": "up", "db_use_type": "sync",
        "schema_type": "Tungsten", "node_num": "2", "multi_write": False,
        "parent_id": "p", "master_job_id": "m", "error_code": "DRS.M1", "error_message": "e",
    }  # fmt: skip


def as_object(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": "x", "namespace": "n", "creationTimestamp": "2026-11-28T11:00:00Z"},
        "spec": {"jobId": "9a470239-2308-4bb5-a6bc-1040402fjb21"},
        "status": status,
    }


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([*sorted(ALL_STATUSES), "SOMETHING_NEW"]))
def test_observed_status_validates_against_the_crd(status: str) -> None:
    job = parse_batch_detail({"results": [full_item(status)]}).results[0]
    new = compute_status(current=None, observation=Observed(job), generation=3, now=NOW)
    assert validate(as_object(new)) == []


def test_missing_and_failed_statuses_validate() -> None:
    job = parse_batch_detail({"results": [full_item("INCRE_TRANSFER_STARTED")]}).results[0]
    good = compute_status(current=None, observation=Observed(job), generation=1, now=NOW)
    for observation in (
        Missing("DRS.M05004", "deleted", "req-1"),
        Failed("Throttled", "slow down (code APIG.0308, HTTP 429, request r)"),
    ):
        assert validate(as_object(compute_status(current=good, observation=observation,
                                                 generation=1, now=NOW))) == []  # fmt: skip
        assert validate(as_object(compute_status(current=None, observation=observation,
                                                 generation=1, now=NOW))) == []  # fmt: skip


def test_printer_columns_show_source_and_target_addresses() -> None:
    job = parse_batch_detail({"results": [full_item("INCRE_TRANSFER_STARTED")]}).results[0]
    obj = as_object(compute_status(current=None, observation=Observed(job), generation=1, now=NOW))
    cells = {c.name: evaluate(c.json_path, obj) for c in columns_from_crd(CRD)}
    assert cells["Source"] == "192.168.6.178:3306"
    assert cells["Target"] == "192.168.6.178:3306"
    assert cells["Status"] == "INCRE_TRANSFER_STARTED"
    assert (cells["Ready"], cells["Synced"], cells["Reason"]) == ("True", "True", "Refreshed")


@pytest.mark.parametrize(
    "expect",
    [
        {"phases": ["Paused"], "nodeNum": 1, "multiWrite": True, "jobName": "x" * 256,
         "taskStatuses": [f"S{i}" for i in range(40)],
         "sourceEndpoint": {"port": 1, "ip": "::1", "dbType": "x" * 256},
         "targetEndpoint": {k: "y" * 256 for k in ("dbType", "ip", "instId", "region",
                                                    "projectId", "user", "dbName")}},
        {"jobName": "DRS-4963"},
    ],
    ids=["drifted, every kind, longest values", "in sync"],
)  # fmt: skip
def test_drift_statuses_and_their_specs_validate(expect: dict[str, Any]) -> None:
    job = parse_batch_detail({"results": [full_item("INCRE_TRANSFER_STARTED")]}).results[0]
    for observation in (Observed(job), Missing("DRS.M05004", "deleted", "r")):
        status = compute_status(current=None, observation=observation, generation=1, now=NOW,
                                expect=parse_expect(expect))  # fmt: skip
        obj = as_object(status)
        obj["spec"]["expect"] = expect
        assert "drift" in status and validate(obj) == []
        cells = {c.name: evaluate(c.json_path, obj) for c in columns_from_crd(CRD)}
        assert cells["Drift"] == status["drift"]["state"]
