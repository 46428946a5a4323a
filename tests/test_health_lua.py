"""GitOps health of DrsJobs: the Argo CD Lua check and the Flux CEL expressions.

docs/argocd/health.lua runs under lupa the way Argo CD runs it (a global ``obj``
table, the chunk returns ``hs`` with ``status`` and ``message``), on Lua 5.1
(Argo CD's gopher-lua speaks 5.1) and 5.4. The same table of cases is stored in
Argo CD's own test layout (docs/argocd/health_test.yaml + testdata/) and drives
the Flux ``healthCheckExprs`` of docs/gitops.md through cel-python, evaluated in
Flux's order (observedGeneration, inProgress, failed, current, else in progress).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import celpy.adapter
import pytest
import yaml
from lupa import lua51, lua54

ROOT = Path(__file__).resolve().parent.parent
ARGO_DIR = ROOT / "docs" / "argocd"
HEALTH_LUA = ARGO_DIR / "health.lua"
GITOPS_MD = ROOT / "docs" / "gitops.md"


def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 1,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }


def drsjob(
    *,
    conditions: list[dict[str, Any]] | None = None,
    generation: int = 1,
    observed: int | None = 1,
    suspend: bool | None = None,
    with_status: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"jobId": "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3bjb21"}
    if suspend is not None:
        spec["suspend"] = suspend
    obj: dict[str, Any] = {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": "orders-sync", "namespace": "data", "generation": generation},
        "spec": spec,
    }
    if with_status:
        status: dict[str, Any] = {}
        if observed is not None:
            status["observedGeneration"] = observed
        if conditions is not None:
            status["conditions"] = conditions
        obj["status"] = status
    return obj


READY = cond("Ready", "True", "TaskHealthy", "INCRE_TRANSFER_STARTED")
SYNCED = cond("Synced", "True", "Refreshed", "refreshed")
NOT_RECONCILING = cond("Reconciling", "False", "TaskHealthy")
NOT_STALLED = cond("Stalled", "False", "TaskHealthy")


@dataclass(frozen=True)
class Case:
    name: str  # also the testdata file name
    obj: dict[str, Any]
    status: str  # Argo CD health status
    message: str
    reason: str  # why this is the right answer


CASES: list[Case] = [
    Case("no-status", drsjob(with_status=False), "Progressing",
         "Waiting for the operator", "the operator has not written anything yet"),
    Case("old-generation", drsjob(generation=2, observed=1,
                                  conditions=[READY, SYNCED, NOT_RECONCILING, NOT_STALLED]),
         "Progressing", "Waiting for the operator to observe generation 2",
         "a spec change the operator has not seen: the old Ready says nothing about it"),
    Case("no-observed-generation", drsjob(observed=None, conditions=[READY]), "Progressing",
         "Waiting for the operator to observe generation 1",
         "a status without observedGeneration is not the operator's"),
    Case("suspended", drsjob(suspend=True, conditions=[
            READY, cond("Synced", "False", "Suspended", "refreshes are suspended")]),
         "Suspended", "Refreshes are suspended (spec.suspend)", "spec.suspend wins over Ready"),
    Case("suspended-and-stalled", drsjob(suspend=True, conditions=[
            cond("Stalled", "True", "TaskFailed", "FULL_TRANSFER_FAILED")]),
         "Suspended", "Refreshes are suspended (spec.suspend)",
         "a suspended job is not watched, so its last failure is not current"),
    Case("task-failed", drsjob(conditions=[
            cond("Ready", "False", "TaskFailed", "INCRE_TRANSFER_FAILED"), SYNCED,
            NOT_RECONCILING, cond("Stalled", "True", "TaskFailed", "INCRE_TRANSFER_FAILED: x")]),
         "Degraded", "TaskFailed: INCRE_TRANSFER_FAILED: x", "Stalled=True is Degraded"),
    Case("task-deleted", drsjob(conditions=[
            cond("Stalled", "True", "TaskDeleted", "")]),
         "Degraded", "TaskDeleted", "a deleted task, reason only"),
    Case("task-not-found", drsjob(conditions=[
            cond("Synced", "False", "NotFound", "DRS.M00289 job not found (request abc)"),
            cond("Stalled", "True", "NotFound", "the task does not exist")]),
         "Degraded", "NotFound: the task does not exist", "Stalled's message is used first"),
    Case("credentials-missing", drsjob(conditions=[
            cond("Synced", "False", "CredentialsMissing", "Secret data/drs-credentials not found"),
            cond("Ready", "Unknown", "AwaitingFirstRefresh", "")]),
         "Degraded", "CredentialsMissing: Secret data/drs-credentials not found",
         "a person must create the Secret"),
    Case("credentials-invalid", drsjob(conditions=[
            cond("Synced", "False", "CredentialsInvalid", "the Secret has no region")]),
         "Degraded", "CredentialsInvalid: the Secret has no region", "a person must fix it"),
    Case("invalid-spec", drsjob(conditions=[
            cond("Synced", "False", "InvalidSpec", "refreshInterval: not a duration")]),
         "Degraded", "InvalidSpec: refreshInterval: not a duration", "fix the spec"),
    Case("auth-failed-over-ready", drsjob(conditions=[
            READY, cond("Synced", "False", "AuthFailed", "APIG.0301 (request r1)")]),
         "Degraded", "AuthFailed: APIG.0301 (request r1)",
         "a stale Ready must not hide that the operator can no longer see the task"),
    Case("permission-denied", drsjob(conditions=[
            cond("Synced", "False", "PermissionDenied", "DRS.M00102")]),
         "Degraded", "PermissionDenied: DRS.M00102", "IAM policy must change"),
    Case("throttled-keeps-ready", drsjob(conditions=[
            READY, cond("Synced", "False", "Throttled", "APIG.0308"), NOT_RECONCILING]),
         "Healthy", "TaskHealthy: INCRE_TRANSFER_STARTED",
         "throttling is transient: the last good state stands"),
    Case("api-error-in-progress", drsjob(conditions=[
            cond("Synced", "False", "ApiError", "500"),
            cond("Reconciling", "True", "TaskInProgress", "FULL_TRANSFER_STARTED")]),
         "Progressing", "TaskInProgress: FULL_TRANSFER_STARTED", "transient error, not fatal"),
    Case("in-progress", drsjob(conditions=[
            cond("Ready", "False", "TaskInProgress", "FULL_TRANSFER_STARTED"), SYNCED,
            cond("Reconciling", "True", "TaskInProgress", "FULL_TRANSFER_STARTED"),
            NOT_STALLED]),
         "Progressing", "TaskInProgress: FULL_TRANSFER_STARTED", "Reconciling=True"),
    Case("healthy", drsjob(conditions=[READY, SYNCED, NOT_RECONCILING, NOT_STALLED]),
         "Healthy", "TaskHealthy: INCRE_TRANSFER_STARTED", "Ready=True"),
    Case("paused", drsjob(conditions=[
            cond("Ready", "True", "TaskPaused", "PAUSING"), SYNCED, NOT_STALLED]),
         "Healthy", "TaskPaused: PAUSING", "a paused task is a steady state"),
    Case("completed", drsjob(conditions=[
            cond("Ready", "False", "TaskCompleted", "RELEASE_RESOURCE_COMPLETE"), SYNCED,
            NOT_RECONCILING, NOT_STALLED]),
         "Healthy", "TaskCompleted: RELEASE_RESOURCE_COMPLETE",
         "a finished migration is done, not broken"),
    Case("unknown-status", drsjob(conditions=[
            cond("Ready", "False", "UnknownStatus", "NEW_VENDOR_STATE"), SYNCED]),
         "Progressing", "UnknownStatus: NEW_VENDOR_STATE", "not known to be good or bad"),
    Case("awaiting-first-refresh", drsjob(conditions=[
            cond("Ready", "Unknown", "AwaitingFirstRefresh", "")]),
         "Progressing", "AwaitingFirstRefresh", "seen but not refreshed yet"),
    Case("drifted", drsjob(conditions=[
            cond("Ready", "False", "Drifted", "Differs from spec.expect: sourceEndpoint.port: "
                 "3306 -> 3307"), SYNCED, NOT_RECONCILING, NOT_STALLED,
            cond("Drifted", "True", "Modified", "Differs from spec.expect: sourceEndpoint.port: "
                 "3306 -> 3307")]),
         "Degraded", "Modified: Differs from spec.expect: sourceEndpoint.port: 3306 -> 3307",
         "the task is not what Git declares: a person must reconcile the two"),
    Case("drifted-in-progress", drsjob(conditions=[
            cond("Ready", "False", "TaskInProgress", "FULL_TRANSFER_STARTED"), SYNCED,
            cond("Reconciling", "True", "TaskInProgress", "FULL_TRANSFER_STARTED"),
            cond("Drifted", "True", "Modified", "Differs from spec.expect: jobName: a -> b")]),
         "Degraded", "Modified: Differs from spec.expect: jobName: a -> b",
         "drift is reported even while the task is busy"),
    Case("in-sync", drsjob(conditions=[
            READY, SYNCED, NOT_RECONCILING, NOT_STALLED,
            cond("Drifted", "False", "InSync", "The task is what spec.expect declares")]),
         "Healthy", "TaskHealthy: INCRE_TRANSFER_STARTED", "declared and in sync: healthy"),
    Case("no-conditions", drsjob(conditions=None), "Progressing",
         "Waiting for the first refresh", "status without conditions"),
    Case("empty-conditions", drsjob(conditions=[]), "Progressing",
         "Waiting for the first refresh", "an empty list is the same"),
]  # fmt: skip

SCRIPT = HEALTH_LUA.read_text()


def run_lua(runtime_module: Any, obj: dict[str, Any]) -> dict[str, Any]:
    runtime = runtime_module.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    hs = runtime.execute(SCRIPT)
    assert hs is not None, "the script returns hs"
    result = dict(hs.items())
    assert set(result) <= {"status", "message"}
    return result


@pytest.mark.parametrize("runtime", [lua51, lua54], ids=["lua5.1", "lua5.4"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_argocd_health(runtime: Any, case: Case) -> None:
    assert run_lua(runtime, case.obj) == {"status": case.status, "message": case.message}, (
        case.reason
    )


def test_every_health_status_is_covered() -> None:
    assert {c.status for c in CASES} == {"Healthy", "Progressing", "Degraded", "Suspended"}


# ------------------------------------------------------- Argo CD's test layout


def test_argocd_testdata_matches_the_table() -> None:
    """docs/argocd/health_test.yaml + testdata/ hold exactly these cases (Argo CD's layout)."""
    tests = yaml.safe_load((ARGO_DIR / "health_test.yaml").read_text())["tests"]
    by_path = {t["inputPath"]: t["healthStatus"] for t in tests}
    assert len(by_path) == len(tests) == len(CASES)
    for case in CASES:
        path = f"testdata/{case.name}.yaml"
        assert by_path[path] == {"status": case.status, "message": case.message}, path
        assert yaml.safe_load((ARGO_DIR / path).read_text()) == case.obj, path


def test_gitops_doc_embeds_the_lua_verbatim() -> None:
    doc = GITOPS_MD.read_text()
    key = "  resource.customizations.health.drs.operators.dev_DrsJob: |\n"
    assert key in doc
    assert key + textwrap.indent(SCRIPT, "    ", lambda line: line.strip() != "") in doc
    configmaps = [
        parsed
        for block in re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)
        if isinstance(parsed := yaml.safe_load(block), dict) and parsed.get("kind") == "ConfigMap"
    ]
    assert len(configmaps) == 1
    assert configmaps[0]["metadata"]["name"] == "argocd-cm"
    assert (
        configmaps[0]["data"]["resource.customizations.health.drs.operators.dev_DrsJob"] == SCRIPT
    )


# ----------------------------------------------------------- Flux CEL exprs

ARGO_TO_FLUX = {
    "Healthy": "Current",
    "Suspended": "Current",  # Flux has no Suspended; a suspended job must not block a rollout
    "Degraded": "Failed",
    "Progressing": "InProgress",
}


# Where Flux cannot follow the Lua: it compares generations only when
# status.observedGeneration is present, then reads the conditions.
FLUX_DIFFERS = {"no-observed-generation": "Current"}


def flux_health_check() -> dict[str, Any]:
    doc = GITOPS_MD.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)
    for block in blocks:
        parsed = yaml.safe_load(block)
        if isinstance(parsed, dict) and parsed.get("kind") == "Kustomization":
            (check,) = parsed["spec"]["healthCheckExprs"]
            assert isinstance(check, dict)
            return check
    raise AssertionError("no Flux Kustomization block in docs/gitops.md")


def flux_status(check: dict[str, Any], obj: dict[str, Any]) -> str:
    """Flux's StatusEvaluator (fluxcd/pkg runtime/cel), step by step."""
    status = obj.get("status", {})
    if "observedGeneration" in status and status["observedGeneration"] != obj["metadata"].get(
        "generation"
    ):
        return "InProgress"
    if "status" not in obj:
        # Go CEL fails on an unbound top-level variable; Flux retries until the timeout.
        return "InProgress"
    env = celpy.Environment()
    activation = {key: celpy.adapter.json_to_cel(value) for key, value in obj.items()}
    for field, result in (("inProgress", "InProgress"), ("failed", "Failed"),
                          ("current", "Current")):  # fmt: skip
        expr = check.get(field)
        if expr and bool(env.program(env.compile(expr)).evaluate(activation)):
            return result
    return "InProgress"


def test_flux_block_shape() -> None:
    check = flux_health_check()
    assert check["apiVersion"] == "drs.operators.dev/v1alpha1"
    assert check["kind"] == "DrsJob"
    assert set(check) == {"apiVersion", "kind", "current", "inProgress", "failed"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_flux_expressions_agree_with_argocd(case: Case) -> None:
    expected = FLUX_DIFFERS.get(case.name, ARGO_TO_FLUX[case.status])
    assert flux_status(flux_health_check(), case.obj) == expected, case.reason
