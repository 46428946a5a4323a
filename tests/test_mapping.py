"""Tests for drs_operator.domain.mapping (job → status) and drs_operator.domain.conditions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_operator.domain import conditions as c
from drs_operator.domain.mapping import OWNED_KEYS, compute_status
from drs_operator.domain.observations import Failed, Missing, Observation, Observed
from drs_operator.domain.patching import status_patch
from drs_operator.domain.phases import ALL_STATUSES
from drs_operator.drs.models import JobDetail
from drs_operator.drs.parsing import parse_batch_detail

JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
T2 = T1 + timedelta(minutes=5)

# The reference page's example item (with a few secrets added, which must never show up).
REFERENCE_ITEM: dict[str, Any] = {
    "id": JOB_ID,
    "name": "DRS-4963-zltest",
    "status": "INCRE_TRANSFER_STARTED",
    "description": "Source database IP address or domain name: 192.168.6.178\n"
    "Destination instance name: rds-zhangle-mysql-target",
    "task_type": "FULL_INCR_TRANS",
    "source_endpoint": {
        "ip": "192.168.6.178",
        "db_type": "mysql",
        "db_port": 3306,
        "ssl_link": False,
        "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
        "db_user": "root",
        "db_password": "SENTINEL-password",
        "ssl_cert_key": "SENTINEL-key",
    },
    "target_endpoint": {
        "ip": "192.168.6.43",
        "region": "cn-xianhz-1",
        "db_type": "mysql",
        "db_port": "3306",
        "ssl_link": "false",
        "inst_id": "bdf5f129b0f546e7b7179d2c61524696in01",
        "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
        "inst_name": "rds-zhangle-mysql-target",
        "db_user": "root",
        "vpc_id": "65f0391c-0582-44a6-aa50-248f97ed82e1",
        "subnet_id": "3f94e724-e99f-4477-8828-9fef481cbdd6",
        "kerberos": {"key_tab_file": "SENTINEL-keytab"},
    },
    "inst_info": {
        "ip": "192.168.6.216",
        "ipv6": "2001:db8:a583:46:3e7:3884:e9fa:5662",
        "inst_type": "high",
        "engine_type": "mysql",
        "volume_size": 100,
        "public_ip": "10.154.218.127",
        "start_time": "0",
    },
    "actual_start_time": "1597977829563",
    "full_transfer_complete_time": "1597978229586",
    "update_time": "1597978233127",
    "job_direction": "up",
    "db_use_type": "sync",
    "schema_type": "Tungsten",
    "node_num": "3",
    "multi_write": False,
    "az_code": "az2xahz",
}


def _job(**overrides: Any) -> JobDetail:
    item = {**REFERENCE_ITEM, **overrides}
    item = {k: v for k, v in item.items() if v is not None}
    [job] = parse_batch_detail({"results": [item]}).results
    return job


def _conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {cond["type"]: (cond["status"], cond["reason"]) for cond in status["conditions"]}


# ---------------------------------------------------------------- field conversion


def test_reference_item_fields() -> None:
    status = compute_status(current=None, observation=Observed(_job()), generation=3, now=T0)
    conditions = status.pop("conditions")
    assert status == {
        "observedGeneration": 3,
        "taskStatus": "INCRE_TRANSFER_STARTED",
        "phase": "Running",
        "jobName": "DRS-4963-zltest",
        "description": REFERENCE_ITEM["description"],
        "taskType": "FULL_INCR_TRANS",
        "jobDirection": "up",
        "dbUseType": "sync",
        "schemaType": "Tungsten",
        "nodeNum": 3,
        "multiWrite": False,
        "actualStartTime": "2020-08-21T02:43:49.563Z",
        "fullTransferCompleteTime": "2020-08-21T02:50:29.586Z",
        "updateTime": "2020-08-21T02:50:33.127Z",
        "sourceEndpoint": {
            "dbType": "mysql",
            "ip": "192.168.6.178",
            "port": 3306,
            "address": "192.168.6.178:3306",
            "user": "root",
            "projectId": "054ba152d480d55b2f5dc0069e7ddef0",
            "sslLink": False,
        },
        "targetEndpoint": {
            "dbType": "mysql",
            "ip": "192.168.6.43",
            "port": 3306,
            "address": "192.168.6.43:3306",
            "user": "root",
            "instId": "bdf5f129b0f546e7b7179d2c61524696in01",
            "instName": "rds-zhangle-mysql-target",
            "region": "cn-xianhz-1",
            "projectId": "054ba152d480d55b2f5dc0069e7ddef0",
            "vpcId": "65f0391c-0582-44a6-aa50-248f97ed82e1",
            "subnetId": "3f94e724-e99f-4477-8828-9fef481cbdd6",
            "sslLink": False,
        },
        "instance": {
            "instType": "high",
            "engineType": "mysql",
            "volumeSize": 100,
            "ip": "192.168.6.216",
            "publicIp": "10.154.218.127",
            "ipv6": "2001:db8:a583:46:3e7:3884:e9fa:5662",
        },
    }
    assert [cond["type"] for cond in conditions] == ["Ready", "Synced", "Reconciling", "Stalled"]
    assert "SENTINEL" not in json.dumps(status) + json.dumps(conditions)


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        pytest.param(
            {"create_time": 1597977829000},
            "createTime",
            "2020-08-21T02:43:49.000Z",
            id="epoch ms int",
        ),
        pytest.param({"create_time": "0"}, "createTime", None, id="zero means absent"),
        pytest.param({"create_time": "garbage"}, "createTime", None, id="garbage absent"),
        pytest.param(
            {"instInfo": {"start_time": "1597977829563"}, "inst_info": None},
            "instance",
            {"startTime": "2020-08-21T02:43:49.563Z"},
            id="instInfo alias",
        ),
        pytest.param(
            {"source_endpoint": {"db_port": 70000}},
            "sourceEndpoint",
            None,
            id="port out of range dropped, empty endpoint omitted",
        ),
        pytest.param({"node_num": "abc"}, "nodeNum", None, id="bad node_num omitted"),
        pytest.param({"description": "   "}, "description", None, id="blank text omitted"),
        pytest.param(
            {"description": "d" * 5000}, "description", "d" * 2047 + "…", id="huge text clipped"
        ),
        pytest.param(
            {"dmq_endpoint": {"topic": "t", "db_type": "kafka"}},
            "dmqEndpoint",
            {"topic": "t", "dbType": "kafka"},
            id="dmq endpoint",
        ),
        pytest.param(
            {"failed_reason": "disk full", "error_code": "DRS.X", "error_msg": "oops"},
            "errorMessage",
            "oops",
            id="error_msg alias",
        ),
    ],
)
def test_field_conversion(overrides: dict[str, Any], key: str, expected: Any) -> None:
    status = compute_status(
        current=None, observation=Observed(_job(**overrides)), generation=1, now=T0
    )
    assert status.get(key) == expected


def test_no_nulls_in_a_fresh_status() -> None:
    job = JobDetail(id=JOB_ID)
    status = compute_status(current=None, observation=Observed(job), generation=None, now=T0)
    assert set(status) == {"phase", "conditions"}

    def walk(value: Any) -> None:
        assert value is not None
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(compute_status(current=None, observation=Observed(_job()), generation=1, now=T0))


# ---------------------------------------------------------------- conditions by group

T, F, U = "True", "False", "Unknown"


@pytest.mark.parametrize(
    ("task_status", "phase", "ready", "reconciling", "stalled"),
    [
        pytest.param(
            "CREATING",
            "Pending",
            (F, "TaskInProgress"),
            (T, "TaskInProgress"),
            (F, "TaskInProgress"),
            id="in progress: reconciling, not ready",
        ),
        pytest.param(
            "FULL_TRANSFER_STARTED",
            "Running",
            (F, "TaskInProgress"),
            (T, "TaskInProgress"),
            (F, "TaskInProgress"),
            id="full transfer running",
        ),
        pytest.param(
            "INCRE_TRANSFER_STARTED",
            "Running",
            (T, "TaskHealthy"),
            (F, "TaskHealthy"),
            (F, "TaskHealthy"),
            id="steady: ready",
        ),
        pytest.param(
            "FULL_TRANSFER_COMPLETE",
            "Completed",
            (T, "TaskHealthy"),
            (F, "TaskHealthy"),
            (F, "TaskHealthy"),
            id="full-only migration done",
        ),
        pytest.param(
            "PAUSING",
            "Paused",
            (T, "TaskPaused"),
            (F, "TaskPaused"),
            (F, "TaskPaused"),
            id="paused: steady, ready, reason TaskPaused",
        ),
        pytest.param(
            "INCRE_TRANSFER_FAILED",
            "Failed",
            (F, "TaskFailed"),
            (F, "TaskFailed"),
            (T, "TaskFailed"),
            id="failed: stalled",
        ),
        pytest.param(
            "RELEASE_RESOURCE_COMPLETE",
            "Completed",
            (F, "TaskCompleted"),
            (F, "TaskCompleted"),
            (F, "TaskCompleted"),
            id="stopped on purpose: not ready, not stalled",
        ),
        pytest.param(
            "DELETED",
            "Deleted",
            (F, "TaskDeleted"),
            (F, "TaskDeleted"),
            (T, "TaskDeleted"),
            id="deleted: stalled",
        ),
        pytest.param(
            "BRAND_NEW_STATUS",
            "Unknown",
            (U, "UnknownStatus"),
            (F, "UnknownStatus"),
            (F, "UnknownStatus"),
            id="unknown status kept verbatim",
        ),
    ],
)
def test_conditions_by_group(
    task_status: str,
    phase: str,
    ready: tuple[str, str],
    reconciling: tuple[str, str],
    stalled: tuple[str, str],
) -> None:
    status = compute_status(
        current=None, observation=Observed(_job(status=task_status)), generation=7, now=T0
    )
    assert status["taskStatus"] == task_status
    assert status["phase"] == phase
    assert _conds(status) == {
        "Ready": ready,
        "Synced": (T, "Refreshed"),
        "Reconciling": reconciling,
        "Stalled": stalled,
    }
    for cond in status["conditions"]:
        assert cond["observedGeneration"] == 7
        assert cond["lastTransitionTime"] == "2024-05-01T12:00:00Z"


def test_failed_message_names_the_cause() -> None:
    job = _job(
        status="FULL_TRANSFER_FAILED",
        failed_reason="disk\nfull",
        error_code="DRS.E1",
        error_message="x" * 2000,
    )
    status = compute_status(current=None, observation=Observed(job), generation=1, now=T0)
    stalled = c.get_condition(status["conditions"], "Stalled")
    assert stalled is not None
    assert stalled["message"].startswith(
        "Task failed with status FULL_TRANSFER_FAILED: disk full; x"
    )
    assert "code DRS.E1" in stalled["message"]
    assert len(stalled["message"]) <= 1024


def test_item_without_status_is_unknown() -> None:
    job = JobDetail(id=JOB_ID, error_code="DRS.M00289")
    status = compute_status(current=None, observation=Observed(job), generation=1, now=T0)
    assert status["phase"] == "Unknown"
    ready = c.get_condition(status["conditions"], "Ready")
    assert ready is not None and ready["status"] == "Unknown"
    assert "code DRS.M00289" in ready["message"]


def test_synced_true_message_is_constant() -> None:
    a = compute_status(current=None, observation=Observed(_job()), generation=1, now=T0)
    b = compute_status(current=None, observation=Observed(_job()), generation=1, now=T1)
    assert c.get_condition(a["conditions"], "Synced") == {
        **(c.get_condition(b["conditions"], "Synced") or {}),
        "lastTransitionTime": "2024-05-01T12:00:00Z",
    }


# ---------------------------------------------------------------- Missing


def test_missing_keeps_task_fields_and_stalls() -> None:
    healthy = compute_status(current=None, observation=Observed(_job()), generation=1, now=T0)
    missing = Missing(code="DRS.M00289", message="job does not exist", request_id="req-123")
    status = compute_status(current=healthy, observation=missing, generation=1, now=T1)
    for key in ("taskStatus", "jobName", "sourceEndpoint", "instance", "updateTime"):
        assert status[key] == healthy[key]
    assert status["phase"] == "Deleted"
    assert _conds(status) == {
        "Ready": (F, "NotFound"),
        "Synced": (F, "NotFound"),
        "Reconciling": (F, "NotFound"),
        "Stalled": (T, "NotFound"),
    }
    synced = c.get_condition(status["conditions"], "Synced")
    assert synced is not None
    assert "DRS.M00289" in synced["message"] and "req-123" in synced["message"]
    assert "job does not exist" in synced["message"]
    assert synced["lastTransitionTime"] == "2024-05-01T12:05:00Z"
    reconciling = c.get_condition(status["conditions"], "Reconciling")
    assert reconciling is not None
    assert reconciling["lastTransitionTime"] == "2024-05-01T12:00:00Z"  # was False already


def test_missing_without_history() -> None:
    status = compute_status(
        current=None, observation=Missing(None, None, None), generation=2, now=T0
    )
    assert status["phase"] == "Deleted"
    assert "taskStatus" not in status
    assert status["observedGeneration"] == 2


# ---------------------------------------------------------------- Failed


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        pytest.param(
            "Throttled", "Throttled by the gateway (code APIG.0308, request r1)", id="throttled"
        ),
        pytest.param(
            "CredentialsMissing", "Secret drs-credentials: key projectId missing", id="bad secret"
        ),
        pytest.param("Suspended", "Refreshing is suspended (spec.suspend)", id="suspended"),
        pytest.param("InvalidSpec", "spec.jobId: required", id="bad spec"),
    ],
)
def test_failed_keeps_everything_but_synced(reason: str, message: str) -> None:
    healthy = compute_status(current=None, observation=Observed(_job()), generation=1, now=T0)
    status = compute_status(
        current=healthy, observation=Failed(reason, message), generation=2, now=T1
    )
    assert {k: v for k, v in status.items() if k not in ("conditions", "observedGeneration")} == {
        k: v for k, v in healthy.items() if k not in ("conditions", "observedGeneration")
    }
    assert status["observedGeneration"] == 2
    before = {cond["type"]: cond for cond in healthy["conditions"]}
    after = {cond["type"]: cond for cond in status["conditions"]}
    for kind in ("Ready", "Reconciling", "Stalled"):
        assert after[kind] == before[kind]
    assert after["Synced"] == {
        "type": "Synced",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-05-01T12:05:00Z",
        "observedGeneration": 2,
    }


def test_failed_without_history_awaits_first_refresh() -> None:
    status = compute_status(
        current=None, observation=Failed("AuthFailed", "token refused"), generation=1, now=T0
    )
    assert _conds(status) == {"Ready": (U, "AwaitingFirstRefresh"), "Synced": (F, "AuthFailed")}
    assert status["observedGeneration"] == 1
    assert "phase" not in status


def test_failed_keeps_foreign_keys() -> None:
    current = {"kopf": {"progress": {}}, "taskStatus": "CREATING"}
    status = compute_status(
        current=current, observation=Failed("ApiError", "x"), generation=1, now=T0
    )
    assert status["kopf"] == {"progress": {}}
    assert status["taskStatus"] == "CREATING"
    observed = compute_status(current=current, observation=Observed(_job()), generation=1, now=T0)
    assert observed["kopf"] == {"progress": {}}


# ---------------------------------------- lastTransitionTime and idempotence


def test_transition_time_changes_only_with_status() -> None:
    first = compute_status(
        current=None, observation=Observed(_job(status="CREATING")), generation=1, now=T0
    )
    # Same group, other status: Ready stays False (message changes), time kept.
    second = compute_status(
        current=first,
        observation=Observed(_job(status="FULL_TRANSFER_STARTED")),
        generation=1,
        now=T1,
    )
    ready = c.get_condition(second["conditions"], "Ready")
    assert ready is not None
    assert ready["message"] == "Task is FULL_TRANSFER_STARTED"
    assert ready["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    # Ready flips: time moves.
    third = compute_status(current=second, observation=Observed(_job()), generation=1, now=T2)
    ready = c.get_condition(third["conditions"], "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2024-05-01T12:10:00Z"
    synced = c.get_condition(third["conditions"], "Synced")
    assert synced is not None and synced["lastTransitionTime"] == "2024-05-01T12:00:00Z"


OBSERVATIONS: list[Observation] = [
    Observed(_job()),
    Observed(_job(status="INCRE_TRANSFER_FAILED", failed_reason="boom")),
    Observed(_job(status="WHATEVER")),
    Missing("DRS.M05004", "deleted", "req-9"),
    Failed("Throttled", "slow down (request r2)"),
    Failed("Suspended", "suspended"),
]


@pytest.mark.parametrize("first", OBSERVATIONS)
@pytest.mark.parametrize("second", OBSERVATIONS)
def test_idempotent_after_any_history(first: Observation, second: Observation) -> None:
    before = compute_status(current=None, observation=first, generation=1, now=T0)
    once = compute_status(current=before, observation=second, generation=1, now=T1)
    twice = compute_status(current=once, observation=second, generation=1, now=T2)
    assert twice == once
    assert status_patch(once, twice) is None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(ALL_STATUSES)) | st.text(max_size=12), min_size=1, max_size=6),
    st.integers(min_value=1, max_value=10),
)
def test_idempotence_property(statuses: list[str], generation: int) -> None:
    current: dict[str, Any] | None = None
    now = T0
    for task_status in statuses:
        now += timedelta(seconds=30)
        current = compute_status(
            current=current,
            observation=Observed(_job(status=task_status)),
            generation=generation,
            now=now,
        )
        again = compute_status(
            current=current,
            observation=Observed(_job(status=task_status)),
            generation=generation,
            now=now + timedelta(seconds=10),
        )
        assert again == current
        assert set(current) <= OWNED_KEYS
        json.dumps(current)  # JSON-ready


# ---------------------------------------------------------------- status_patch


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        pytest.param({"a": 1}, {"a": 1}, None, id="equal: nothing to write"),
        pytest.param(None, {"a": 1}, {"a": 1}, id="no current"),
        pytest.param({"a": 1, "b": 2}, {"a": 1}, {"b": None}, id="removed key becomes null"),
        pytest.param({"a": 1, "b": None}, {"a": 1}, None, id="null in current is absent"),
        pytest.param(
            {"e": {"ip": "1", "port": 1}},
            {"e": {"ip": "2", "port": 1}},
            {"e": {"ip": "2"}},
            id="nested objects are diffed",
        ),
        pytest.param(
            {"e": {"ip": "1", "port": 1}},
            {"e": {"ip": "1"}},
            {"e": {"port": None}},
            id="nested removal",
        ),
        pytest.param({"l": [1, 2]}, {"l": [1, 3]}, {"l": [1, 3]}, id="lists replaced whole"),
        pytest.param({"l": [{"a": 1}]}, {"l": [{"a": 1}]}, None, id="equal lists"),
        pytest.param({"n": 1}, {"n": True}, {"n": True}, id="True is not 1"),
        pytest.param({"n": 1.0}, {"n": 1}, {"n": 1}, id="1.0 is not 1"),
        pytest.param({"e": "x"}, {"e": {"a": 1}}, {"e": {"a": 1}}, id="scalar to object"),
    ],
)
def test_status_patch(
    current: dict[str, Any] | None, new: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    assert status_patch(current, new) == expected


def _apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 reference algorithm."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _apply_merge_patch(result.get(key), value)
    return result


@pytest.mark.parametrize("first", OBSERVATIONS)
@pytest.mark.parametrize("second", OBSERVATIONS)
def test_patch_applied_gives_the_new_status(first: Observation, second: Observation) -> None:
    current = compute_status(current=None, observation=first, generation=1, now=T0)
    new = compute_status(current=current, observation=second, generation=2, now=T1)
    patch = status_patch(current, new)
    assert patch is not None  # the generation changed at least
    assert _apply_merge_patch(current, patch) == new


# ---------------------------------------------------------------- conditions helpers


def test_set_condition_keeps_order_and_others() -> None:
    existing: list[Any] = [
        {"type": "Custom", "status": "True", "reason": "X", "message": ""},
        {"type": "Stalled", "status": "False", "reason": "Y", "message": ""},
        "junk",
        {"type": "Stalled", "status": "True", "reason": "dup", "message": ""},
    ]
    result = c.set_condition(
        existing,
        type="Ready",
        status="True",
        reason="TaskHealthy",
        message="ok",
        observed_generation=None,
        now=T0,
    )
    assert [cond["type"] for cond in result] == ["Ready", "Stalled", "Custom"]
    assert "observedGeneration" not in result[0]
    assert existing[0] == {"type": "Custom", "status": "True", "reason": "X", "message": ""}


@pytest.mark.parametrize(
    ("old_status", "new_status", "expected_time"),
    [
        pytest.param("True", "True", "2024-01-01T00:00:00Z", id="same status keeps time"),
        pytest.param("True", "False", "2024-05-01T12:00:00Z", id="status change moves time"),
    ],
)
def test_set_condition_transition_time(
    old_status: str, new_status: str, expected_time: str
) -> None:
    old = [
        {
            "type": "Synced",
            "status": old_status,
            "reason": "A",
            "message": "a",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        }
    ]
    [cond] = c.set_condition(
        old,
        type="Synced",
        status=new_status,
        reason="B",
        message="b",
        observed_generation=4,
        now=T0,
    )
    assert cond == {
        "type": "Synced",
        "status": new_status,
        "reason": "B",
        "message": "b",
        "lastTransitionTime": expected_time,
        "observedGeneration": 4,
    }


def test_format_time_is_utc_seconds() -> None:
    assert (
        c.format_time(datetime(2024, 5, 1, 14, 0, 0, 999999, tzinfo=UTC).astimezone())
        == "2024-05-01T14:00:00Z"
    )
    assert c.format_time(datetime(2024, 5, 1, 14, 0, 0)) == "2024-05-01T14:00:00Z"


@pytest.mark.parametrize(
    ("endpoint", "address"),
    [
        pytest.param({"ip": "10.0.0.1", "db_port": 3306}, "10.0.0.1:3306", id="ip-and-port"),
        pytest.param({"ip": "10.0.0.1"}, "10.0.0.1", id="no-port-ip-only"),
        pytest.param({"ip": "2001:db8::1", "db_port": 5432}, "[2001:db8::1]:5432", id="ipv6"),
        pytest.param({"db_port": 3306}, None, id="no-ip-no-address"),
    ],
)
def test_endpoint_address_for_the_printer_columns(
    endpoint: dict[str, object], address: str | None
) -> None:
    from drs_operator.domain.mapping import Observed, compute_status
    from drs_operator.drs.parsing import parse_batch_detail

    item = {"id": "9a470239-2308-4bb5-a6bc-1040402fjb21", "status": "INCRE_TRANSFER_STARTED"}
    job = parse_batch_detail({"results": [{**item, "source_endpoint": endpoint}]}).results[0]
    status = compute_status(current=None, observation=Observed(job), generation=1, now=T0)
    assert status.get("sourceEndpoint", {}).get("address") == address


@pytest.mark.parametrize(
    ("first", "second", "writes"),
    [
        pytest.param(
            Failed("ApiError", "service error (code DRS.M00500, HTTP 500, request r-1)"),
            Failed("ApiError", "service error (code DRS.M00500, HTTP 500, request r-2)"),
            False,
            id="same-failure-new-request-id-is-not-news",
        ),
        pytest.param(
            Failed("ApiError", "service error (code DRS.M00500, HTTP 500, request r-1)"),
            Failed("ApiError", "service error (code APIG.0202, HTTP 503, request r-2)"),
            True,
            id="another-code-is-news",
        ),
        pytest.param(
            Failed("ApiError", "service error (request r-1)"),
            Failed("Throttled", "slow down (request r-2)"),
            True,
            id="another-reason-is-news",
        ),
        pytest.param(
            Missing("DRS.M00289", "no such job", "r-1"),
            Missing("DRS.M00289", "no such job", "r-2"),
            False,
            id="still-missing-is-not-news",
        ),
    ],
)
def test_a_standing_failure_is_not_rewritten_for_a_new_request_id(
    first: Failed | Missing, second: Failed | Missing, writes: bool
) -> None:
    from drs_operator.domain.mapping import compute_status
    from drs_operator.domain.patching import status_patch

    once = compute_status(current=None, observation=first, generation=1, now=T0)
    twice = compute_status(current=once, observation=second, generation=1, now=T0)
    assert (status_patch(once, twice) is not None) is writes
