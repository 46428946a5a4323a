"""GitOps health of real DrsJobs: kstatus as Flux computes it, and Argo CD's Lua check.

- ``kstatus`` (tools/controlplane/helpers: ``status.Compute`` of
  sigs.k8s.io/cli-utils, what Flux's kustomize-controller waits on without
  ``healthCheckExprs``) reads the scene's DrsJobs as the API server serves them
  (``kubectl get -o json``); each must get the status docs/gitops.md's
  "kstatus alone" table gives for its conditions.
- ``luahealth`` runs docs/argocd/health.lua under gopher-lua (Lua 5.1, the VM
  Argo CD uses) on Argo CD's test layout (docs/argocd/health_test.yaml and
  testdata/, the cases tests/test_health_lua.py runs under lupa) and must
  give each case's status and message; and on the scene's live objects, the
  Argo CD column of the health table.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from drs_operator.sandbox.controlplane import ControlPlane

from .conftest import NO_STATUS, SCENE_JOBS, Scene, kubectl

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
GITOPS_MD = ROOT / "docs" / "gitops.md"
ARGO = ROOT / "docs" / "argocd"

# Which row of the "kstatus alone" table each scene job falls in (by its conditions).
KSTATUS_ROW = {
    "healthy": "`Ready=True`",
    "completed": "`Ready=True`",
    "paused": "`Ready=True`",
    "suspended-later": "`Ready=True`",
    "in-progress": "`Reconciling=True`",
    "failed": "`Stalled=True`",
    "deleted": "`Stalled=True`",
    "missing": "`Stalled=True`",
    "released": "`Ready=False` with reason `TaskCompleted`",
    "suspended": "`Ready=Unknown`",
    "auth-failed": "`Ready=Unknown`",
    "no-credentials": "`Ready=Unknown`",
    "drifted": "`Ready=False` with reason `Drifted`",
    NO_STATUS: "no `status` yet",
}

# The Argo CD column of docs/gitops.md's health table, for the scene's jobs.
ARGO_HEALTH = {
    "healthy": "Healthy",
    "completed": "Healthy",
    "paused": "Healthy",
    "released": "Healthy",
    "in-progress": "Progressing",
    "failed": "Degraded",
    "deleted": "Degraded",
    "missing": "Degraded",
    "suspended": "Suspended",
    "suspended-later": "Suspended",
    "auth-failed": "Degraded",
    "no-credentials": "Degraded",
    "drifted": "Degraded",
    NO_STATUS: "Progressing",
}


def documented_kstatus() -> dict[str, str]:
    """The "kstatus alone" table of docs/gitops.md: first cell (up to its "(") -> kstatus."""
    text = GITOPS_MD.read_text()
    section = text.split("### Without `healthCheckExprs`: kstatus alone", 1)[1]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1] in ("Current", "InProgress", "Failed"):
            rows[cells[0].split(" (", 1)[0]] = cells[1]
        elif rows and not line.startswith("|"):
            break
    return rows


def live_objects(plane: ControlPlane, scene: Scene) -> str:
    listed = kubectl(plane, "get", "drsjobs", "-n", scene.namespace, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def run_helper(binary: Path, *args: str, stdin: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_scene_covers_every_row() -> None:
    assert set(KSTATUS_ROW) == set(ARGO_HEALTH) == {*SCENE_JOBS, NO_STATUS}
    assert set(KSTATUS_ROW.values()) == set(documented_kstatus())


def test_kstatus_gives_what_the_docs_say(controlplane: ControlPlane, scene: Scene) -> None:
    documented = documented_kstatus()
    results = run_helper(controlplane.binaries.kstatus, stdin=live_objects(controlplane, scene))
    got = {r["name"]: r["status"] for r in results}
    assert all("error" not in r for r in results), results
    expected = {name: documented[row] for name, row in KSTATUS_ROW.items()}
    print("\n[cluster] kstatus: " + ", ".join(f"{n}={got[n]}" for n in sorted(got)))
    assert got == expected


def test_argocd_health_lua_under_gopher_lua_on_argos_test_layout(
    controlplane: ControlPlane,
) -> None:
    cases = yaml.safe_load((ARGO / "health_test.yaml").read_text())["tests"]
    objects = [yaml.safe_load((ARGO / case["inputPath"]).read_text()) for case in cases]
    results = run_helper(
        controlplane.binaries.luahealth, str(ARGO / "health.lua"), stdin=json.dumps(objects)
    )
    assert len(results) == len(cases) >= 20
    for case, result in zip(cases, results, strict=True):
        want = case["healthStatus"]
        assert (result.get("status"), result.get("message")) == (
            want["status"],
            want["message"],
        ), (case["inputPath"], result)


def test_argocd_health_lua_on_live_drsjobs(controlplane: ControlPlane, scene: Scene) -> None:
    results = run_helper(
        controlplane.binaries.luahealth,
        str(ARGO / "health.lua"),
        stdin=live_objects(controlplane, scene),
    )
    got = {r["name"]: r.get("status") for r in results}
    assert got == ARGO_HEALTH, results
    for result in results:
        assert re.fullmatch(r"[^\n]+", result["message"]), result
