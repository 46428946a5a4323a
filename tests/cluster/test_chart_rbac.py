"""The Helm chart on a real kube-apiserver, and the operator running as its ServiceAccount.

For each mode (``watchNamespaces`` with two namespaces; ``clusterWide``) the
chart is rendered by Helm's engine (helm-python-sdk, as tests/test_chart.py
does) and every object is applied with kubectl (ServiceAccount, Role and
RoleBinding per watched namespace or ClusterRole and ClusterRoleBinding,
Deployment, metrics Service); the chart's CRD is checked by a server-side
dry-run apply. Then ``drs-operator run`` runs with the Deployment's
environment (its settings, its namespaces) and a kubeconfig holding a token
of the chart's ServiceAccount from the TokenRequest API, so RBAC judges every
request it makes.

The operator runs with the chart's leader election (its Lease in the release
namespace, granted by the chart's leader-election Role by name): it must
create, renew and release that Lease as the ServiceAccount to lead at all.

Checked: the DrsJobs of the watched namespaces get their statuses and events
(a healthy, a failed and a missing task each), those of an unwatched
namespace stay untouched (namespaced mode), the operator exits 0 — and in
the API server's audit log no request of that ServiceAccount was refused,
and every request it made is covered by one of the chart's rules (it needs
no permission beyond the chart's). The permissions it used are printed.

A negative control shows that a missing permission fails this check: with
``patch`` on ``drsjobs/status`` taken out of one namespace's Role, the audit
log holds the refused patches and that namespace's DrsJob gets no status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from drs_operator.sandbox.controlplane import ControlPlane
from drs_operator.sandbox.simulator import Simulator
from tests.e2e.conftest import OperatorProcess, eventually
from tests.test_chart import CHART_DIR, env_of, normalised_rules, only

from .conftest import (
    add_job,
    by_user,
    condition,
    create_secret,
    drsjobs_path,
    events_about,
    forbidden,
    get_drsjob,
    kubectl,
    new_namespace,
)

pytestmark = pytest.mark.cluster

RELEASE = "drs"
HEALTHY, FAILED = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_FAILED"
# What each job of a watched namespace must show: (taskStatus, Ready, Stalled reason).
EXPECTED = {
    "healthy": (HEALTHY, "True", ""),
    "failed": (FAILED, "False", "TaskFailed"),
    "missing": (None, None, "NotFound"),
}
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@dataclass
class Installed:
    release_namespace: str
    docs: list[dict[str, Any]]
    user: str  # the ServiceAccount's user name
    kubeconfig: Path
    env: dict[str, str]

    def granted(self) -> set[tuple[str, str, str]]:
        """(apiGroup, resource[/subresource], verb) of every rule the chart binds (a rule
        limited to resourceNames counts as the verb: the audit log's 403s catch a name the
        rule lacks)."""
        rules: set[tuple[str, str, str]] = set()
        for doc in self.docs:
            if doc["kind"] in ("Role", "ClusterRole"):
                rules |= {(rule[0], rule[1], rule[2]) for rule in normalised_rules(doc)}
        return rules


def install(
    plane: ControlPlane,
    chart: helm.Chart,
    values: dict[str, Any],
    tmp_path: Path,
    *,
    drop: tuple[str, str, str] | None = None,
) -> Installed:
    """Render the chart into a new release namespace, apply it, get the SA's kubeconfig."""
    release_ns = new_namespace(plane, "ops")
    docs = [_in_release(d, release_ns) for d in _render(chart, values, release_ns)]
    if drop is not None:  # the negative control: one rule verb fewer in the first Role
        role = next(d for d in docs if d["kind"] == "Role")
        group, resource, verb = drop
        for rule in role["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
        role["rules"] = [rule for rule in role["rules"] if rule["verbs"]]
    manifest = tmp_path / f"chart-{release_ns}.yaml"
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    applied = kubectl(plane, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    kinds = sorted(line.split("/")[0] for line in applied.stdout.splitlines())
    assert kinds == sorted(f"{d['kind'].lower()}.{_group(d)}".rstrip(".") for d in docs), (
        applied.stdout
    )
    crd = kubectl(
        plane, "apply", "--server-side", "--dry-run=server", "-f", str(CHART_DIR / "crds")
    )
    assert crd.returncode == 0, crd.stderr

    account = only(docs, "ServiceAccount")["metadata"]["name"]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account
    token = plane.service_account_token(release_ns, account)
    kubeconfig = plane.write_kubeconfig(
        tmp_path / f"{account}.kubeconfig", token=token, user=account, namespace=release_ns
    )
    whoami = kubectl(plane, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                     kubeconfig=kubeconfig)  # fmt: skip
    user = f"system:serviceaccount:{release_ns}:{account}"
    assert whoami.stdout == user, whoami
    return Installed(release_ns, docs, user, kubeconfig, env_of(docs))


def _render(chart: helm.Chart, values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    rendered = chart.render(values, name=RELEASE, namespace=namespace)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def _in_release(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Helm sets the release namespace on namespaced objects that name none."""
    cluster_scoped = doc["kind"] in ("ClusterRole", "ClusterRoleBinding")
    if not cluster_scoped:
        doc["metadata"].setdefault("namespace", namespace)
    return doc


def _group(doc: dict[str, Any]) -> str:
    api_version: str = doc["apiVersion"]
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def used_permissions(events: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource[/subresource], verb) of every resource request in the events."""
    used: set[tuple[str, str, str]] = set()
    for event in events:
        ref = event.get("objectRef")
        if not ref:
            continue  # discovery (/api, /apis, /version): granted to every authenticated user
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        used.add((ref.get("apiGroup", ""), resource, event["verb"]))
    return used


async def setup_jobs(plane: ControlPlane, sim: Simulator, namespaces: list[str]) -> None:
    for ns in namespaces:
        create_secret(plane, ns, sim)
        for name, (status, _ready, _stalled) in EXPECTED.items():
            add_job(plane, sim, ns, name, status)


async def converged(plane: ControlPlane, namespaces: list[str]) -> bool:
    for ns in namespaces:
        for name, (status, ready, stalled) in EXPECTED.items():
            obj = get_drsjob(plane, ns, name)
            assert obj.get("status", {}).get("taskStatus") == status, (ns, name, obj.get("status"))
            if ready is not None:
                assert condition(obj, "Ready").get("status") == ready, (ns, name)
            if stalled:
                assert condition(obj, "Stalled").get("reason") == stalled, (ns, name)
            assert condition(obj, "Synced").get("status") == (
                "False" if status is None else "True"
            ), (ns, name)
        reasons = {e["reason"] for e in events_about(plane, ns)}
        assert {"TaskObserved", "SyncFailed"} <= reasons, (ns, reasons)
    return True


async def run_as(installed: Installed, run_operator: Any) -> OperatorProcess:
    """drs-operator run as the chart's Deployment runs it: its environment, its identity."""
    env = dict(installed.env)
    env["POD_NAME"] = f"{RELEASE}-drs-operator-0"
    env["POD_NAMESPACE"] = installed.release_namespace
    return await run_operator(kubeconfig=installed.kubeconfig, env=env)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
async def test_the_operator_needs_exactly_the_charts_permissions(
    controlplane: ControlPlane,
    chart: helm.Chart,
    sim: Simulator,
    run_operator: Any,
    tmp_path: Path,
    mode: str,
) -> None:
    plane = controlplane
    team_a, team_b, other = (new_namespace(plane, p) for p in ("team-a", "team-b", "other"))
    values: dict[str, Any] = (
        {"watchNamespaces": [team_a, team_b]} if mode == "namespaced" else {"clusterWide": True}
    )
    watched = [team_a, team_b] if mode == "namespaced" else [team_a, team_b, other]
    try:
        installed = install(plane, chart, values, tmp_path)
        kinds = sorted(d["kind"] for d in installed.docs)
        # One Role per watched namespace, plus the leader-election Role in the release's.
        if mode == "namespaced":
            assert kinds.count("Role") == kinds.count("RoleBinding") == 3, kinds
            assert installed.env["DRS_OPERATOR_NAMESPACES"] == f"{team_a},{team_b}"
        else:
            assert {"ClusterRole", "ClusterRoleBinding"} <= set(kinds), kinds
            assert kinds.count("Role") == kinds.count("RoleBinding") == 1, kinds
        assert installed.env["DRS_OPERATOR_LEADER_ELECTION"] == "true"
        await setup_jobs(plane, sim, [team_a, team_b, other])
        assert plane.audit is not None
        mark = plane.audit.mark()
        proc = await run_as(installed, run_operator)
        await eventually(lambda: converged(plane, watched), timeout=TIMEOUT, interval=0.5)
        if mode == "namespaced":
            await asyncio.sleep(1.0)  # a cadence more: the unwatched namespace stays untouched
            for name in EXPECTED:
                assert "status" not in get_drsjob(plane, other, name), name
            assert events_about(plane, other) == []
        assert await proc.stop() == 0
        log = proc.log_text()

        requests = by_user(plane.audit.since(mark), installed.user)
        assert requests, "no request of the ServiceAccount in the audit log"
        assert forbidden(requests) == [], log[-3000:]
        used, granted = used_permissions(requests), installed.granted()
        print(f"\n[cluster] {mode}: used {sorted(used)}; granted, unused {sorted(granted - used)}")
        assert used <= granted, f"beyond the chart: {sorted(used - granted)}"
        assert ("drs.operators.dev", "drsjobs/status", "patch") in used
        assert ("", "events", "create") in used
        # It led: it created its Lease and renewed and released it, as the ServiceAccount.
        assert {("coordination.k8s.io", "leases", v) for v in ("create", "update")} <= used
        assert "Leading: acquired Lease" in log and "Released Lease" in log, log[-3000:]
        assert "Forbidden" not in log and "HTTP 403" not in log, log[-3000:]
    finally:
        for ns in (team_a, team_b, other):
            plane.delete_namespace(ns)


async def test_a_permission_the_chart_lacked_would_fail_the_check(
    controlplane: ControlPlane,
    chart: helm.Chart,
    sim: Simulator,
    run_operator: Any,
    tmp_path: Path,
) -> None:
    plane = controlplane
    team_a = new_namespace(plane, "team-a")
    try:
        installed = install(
            plane,
            chart,
            {"watchNamespaces": [team_a]},
            tmp_path,
            drop=("drs.operators.dev", "drsjobs/status", "patch"),
        )
        create_secret(plane, team_a, sim)
        add_job(plane, sim, team_a, "healthy", HEALTHY)
        assert plane.audit is not None
        mark = plane.audit.mark()
        proc = await run_as(installed, run_operator)

        async def refused() -> list[str]:
            return forbidden(by_user(plane.audit.since(mark), installed.user))  # type: ignore[union-attr]

        denied = await eventually(refused, timeout=TIMEOUT, interval=0.5)
        assert all(line.startswith("patch ") and "/status" in line for line in denied), denied
        assert "status" not in get_drsjob(plane, team_a, "healthy")
        assert proc.returncode is None  # it keeps running, and says why in its log
        assert "HTTP 403" in proc.log_text()
        assert drsjobs_path(team_a, "healthy", status=True) in denied[0]
    finally:
        plane.delete_namespace(team_a)
