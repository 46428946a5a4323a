"""What the operator logs for the person on call: one line per meaningful change, as fields.

The formatters (text and JSON) are checked on records, the quieting of kopf on the
logger levels :func:`drs_operator.engine.logs.configure` sets, and the status writer's
lines on a real run of the operator's parts (component fixtures: the DRS simulator and
the Kubernetes API emulator): a task that fails, a task that does not exist, refused
credentials, a missing Secret, and status patches refused with 403 (logged once, and
once more when writing works again).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from drs_operator.engine import logs
from drs_operator.engine.app import Operator
from drs_operator.engine.writer import LOGGED_PER_FAILURE
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import NS, PROJECT, add_drsjob, b64, cycle, feed

WRITER = "drs_operator.engine.writer"
STEADY = "INCRE_TRANSFER_STARTED"
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"


def _record(
    message: str, *args: object, level: int = logging.INFO, **extra: object
) -> logging.LogRecord:
    record = logging.LogRecord(WRITER, level, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


# -- formats --------------------------------------------------------------------------------------


def test_text_lines_lead_with_namespace_and_name_and_end_with_fields() -> None:
    extra = logs.job_fields("team-a", "orders", JOB, event="SyncFailed", reason="Auth Failed")
    line = logs.TextFormatter().format(_record("Synced changed to %s", "False", **extra))
    assert line.endswith(
        f"INFO    {WRITER}: team-a/orders: Synced changed to False "
        f'jobId={JOB} event=SyncFailed reason="Auth Failed"'
    )


def test_json_lines_have_the_fields_as_keys() -> None:
    extra = logs.job_fields("team-a", "orders", JOB, event="TaskStatusChanged", message="x")
    payload = json.loads(logs.JsonFormatter().format(_record("Task failed", **extra)))
    assert payload["message"] == "Task failed"
    assert (payload["namespace"], payload["name"], payload["jobId"]) == ("team-a", "orders", JOB)
    assert payload["event"] == "TaskStatusChanged"
    assert payload["field.message"] == "x"  # a field never overwrites the line's own keys
    assert payload["level"] == "info" and payload["logger"] == WRITER


def test_json_only_fields_stay_out_of_the_text_line() -> None:
    record = _record("drs-operator started", **logs.fields(json_only=True, batchSize=10))
    assert "batchSize" not in logs.TextFormatter().format(record)
    assert json.loads(logs.JsonFormatter().format(record))["batchSize"] == 10


def test_kopf_object_lines_carry_the_object() -> None:
    ref = {"namespace": "team-a", "name": "orders", "uid": "u"}
    record = _record("Handler failed", level=logging.ERROR, k8s_ref=ref)
    assert ": team-a/orders: Handler failed" in logs.TextFormatter().format(record)
    payload = json.loads(logs.JsonFormatter().format(record))
    assert (payload["namespace"], payload["name"]) == ("team-a", "orders")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name in (*logs.QUIET, logs.KOPF):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("level", "kopf_info"), [("info", False), ("warning", False), ("debug", True)]
)
def test_kopf_per_event_lines_only_at_debug(
    restore_logging: None, level: str, kopf_info: bool
) -> None:
    logs.configure(level=level, fmt="text")
    kopf_objects = logging.getLogger("kopf.objects")  # "Handler '...' succeeded." per event
    assert kopf_objects.isEnabledFor(logging.INFO) is kopf_info
    assert kopf_objects.isEnabledFor(logging.WARNING)
    assert kopf_objects.isEnabledFor(logging.ERROR)


# -- the writer's lines, on a real run ------------------------------------------------------------


def _lines(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records
        if r.name == WRITER and logs.record_fields(r).get("name") == name
    ]  # fmt: skip


async def test_transitions_are_one_line_each_with_the_job_as_fields(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=WRITER)
    failing = simulator.add_job(project_id=PROJECT, status="FULL_TRANSFER_STARTED")
    missing = "deadbeef-0000-4000-8000-00000000jb21"
    add_drsjob(cluster, "billing", failing)
    add_drsjob(cluster, "ghost", missing)
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "refused", "namespace": NS},
            "data": {
                "token": b64("a-token-the-simulator-does-not-know"),
                "projectId": b64(PROJECT),
                "endpoint": b64(simulator.url),
            },
        }
    )
    refused_job = simulator.add_job(project_id=PROJECT)
    add_drsjob(cluster, "refused", refused_job, credentialsRef={"name": "refused"})
    add_drsjob(cluster, "no-secret", refused_job, credentialsRef={"name": "absent"})
    feed(operator, cluster)
    await cycle(operator)

    simulator.set_status(
        failing,
        "FULL_TRANSFER_FAILED",
        error_code="DRS.M05009",
        failed_reason="Table billing.invoices was dropped in the source database.",
    )
    for record in operator.registry:
        operator.registry.schedule(record, record.pace, 0)
    await cycle(operator)
    await cycle(operator)  # nothing new: no line

    text, as_json = logs.TextFormatter(), logs.JsonFormatter()
    billing = _lines(caplog, "billing")
    assert [logs.record_fields(r)["event"] for r in billing] == [
        "TaskObserved",
        "TaskStatusChanged",
    ]
    failed = billing[-1]
    assert failed.levelno == logging.WARNING
    assert text.format(failed).split(": ", 1)[1] == (
        f"{NS}/billing: Task status changed from FULL_TRANSFER_STARTED to FULL_TRANSFER_FAILED: "
        f"Table billing.invoices was dropped in the source database. jobId={failing} "
        "event=TaskStatusChanged taskStatus=FULL_TRANSFER_FAILED phase=Failed errorCode=DRS.M05009"
    )
    payload = json.loads(as_json.format(failed))
    assert {k: payload[k] for k in ("namespace", "name", "jobId", "phase", "errorCode")} == {
        "namespace": NS, "name": "billing", "jobId": failing, "phase": "Failed",
        "errorCode": "DRS.M05009",
    }  # fmt: skip

    expected_reasons = {
        "ghost": "NotFound",
        "refused": "AuthFailed",
        "no-secret": "CredentialsMissing",
    }
    for name, reason in expected_reasons.items():
        lines = _lines(caplog, name)
        assert len(lines) == 1, (name, [r.getMessage() for r in lines])
        fields = logs.record_fields(lines[0])
        assert (fields["reason"], fields["event"], fields["namespace"]) == (
            reason,
            "SyncFailed",
            NS,
        )
        assert lines[0].levelno == logging.WARNING
        assert json.loads(as_json.format(lines[0]))["reason"] == reason
    assert missing in text.format(_lines(caplog, "ghost")[0])


async def test_refused_status_patches_are_logged_once_and_the_recovery_once(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=WRITER)
    job = simulator.add_job(project_id=PROJECT, status="FULL_TRANSFER_STARTED")
    add_drsjob(cluster, "orders", job)
    feed(operator, cluster)
    reaction = cluster.handler["patch"][re.compile(r".*/status")] << 403
    for status in ("FULL_TRANSFER_COMPLETE", "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"):
        simulator.set_status(job, status)
        for record in operator.registry:
            operator.registry.schedule(record, record.pace, 0)
        await cycle(operator)
    refused = [r for r in _lines(caplog, "orders") if "not written" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in refused]
    assert "permission denied (HTTP 403)" in refused[0].getMessage()
    assert logs.record_fields(refused[0])["httpStatus"] == 403

    cluster.handler._payloads.remove(reaction)
    for record in operator.registry:
        operator.registry.schedule(record, record.pace, 0)
    await cycle(operator)
    again = [r for r in _lines(caplog, "orders") if r.getMessage() == "Status written again"]
    assert len(again) == 1


def test_each_kind_of_transition_gets_its_own_fields() -> None:
    from drs_operator.domain.events import EventSpec
    from drs_operator.engine.writer import describe_transition

    new = {
        "taskStatus": "INCRE_TRANSFER_STARTED",
        "phase": "Running",
        "conditions": [{"type": "Synced", "status": "True", "reason": "Refreshed"}],
    }
    recovered = EventSpec("Normal", "SyncRecovered", "Synced changed from False to True")
    assert describe_transition(recovered, new)[1] == {
        "event": "SyncRecovered",
        "reason": "Refreshed",
    }
    drifted = {**new, "drift": {"state": "Modified"}}
    detected = EventSpec("Warning", "DriftDetected", "Drift changed from InSync to Modified: x")
    assert describe_transition(detected, drifted) == (
        detected.message,
        {"event": "DriftDetected", "driftState": "Modified"},
    )
    later = EventSpec("Normal", "SomethingNew", "a kind of event added later")
    assert describe_transition(later, new) == (later.message, {"event": "SomethingNew"})


async def test_a_write_failure_of_many_drsjobs_is_a_few_lines_not_one_per_drsjob(
    simulator: Simulator,
    cluster: EmulatedCluster,
    operator: Operator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A missing RBAC rule refuses every status patch: before, one WARNING per DrsJob
    (10,000 lines at 10,000 DrsJobs) and one INFO per DrsJob when it was fixed."""
    caplog.set_level(logging.INFO, logger=WRITER)
    names = [f"job-{i}" for i in range(8)]
    for name in names:
        add_drsjob(cluster, name, simulator.add_job(project_id=PROJECT, status=STEADY))
    feed(operator, cluster)
    reaction = cluster.handler["patch"][re.compile(r".*/status")] << 403
    await cycle(operator)
    refused = [r.getMessage() for r in caplog.records if "not written" in r.getMessage()]
    assert len(refused) == LOGGED_PER_FAILURE + 1, refused
    assert sum("for more DrsJobs" in m for m in refused) == 1

    cluster.handler._payloads.remove(reaction)
    for record in operator.registry:
        operator.registry.schedule(record, record.pace, 0)
    await cycle(operator)
    again = [r.getMessage() for r in caplog.records if "written again" in r.getMessage()]
    assert len(again) == 1 and again[0].startswith(
        f"Status written again for all {len(names)} DrsJobs that had failed (permission denied"
    ), again
