"""Real kubectl (built with kube-apiserver, same version) on DrsJobs the operator wrote.

- ``kubectl get drsjobs`` and ``-o wide`` (one namespace and ``-A``) print
  exactly what ``drs-operator get`` prints: the API server's Table from the
  CRD's printer columns on one side, drs_operator.domain.printing on the other.
- ``kubectl wait --for=condition=Ready`` returns once the operator makes a
  healthy task Ready, ``--for=condition=Stalled`` once it marks a failed one
  Stalled (both started before the operator), and ``Ready`` on the failed one
  times out.
- ``kubectl describe drsjob X`` shows X's task status, conditions and the
  operator's events about X, and no event about another DrsJob.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import pytest

from drs_operator.sandbox.controlplane import ControlPlane
from drs_operator.sandbox.simulator import Simulator

from .conftest import Scene, add_job, create_secret, events_about, get_drsjob, kubectl

pytestmark = pytest.mark.cluster


def drs_operator_get(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drs_operator", "get", "--kubeconfig", str(plane.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [(), ("-o", "wide"), ("-A",), ("-A", "-o", "wide")],
    ids=["table", "wide", "all-namespaces", "all-namespaces-wide"],
)
def test_kubectl_get_prints_what_drs_operator_get_prints(
    controlplane: ControlPlane, scene: Scene, args: tuple[str, ...]
) -> None:
    scope = args if "-A" in args else ("-n", scene.namespace, *args)
    for _attempt in range(3):  # the AGE column may tick between the two commands
        theirs = kubectl(controlplane, "get", "drsjobs", *scope)
        ours = drs_operator_get(controlplane, *scope)
        assert theirs.returncode == 0, theirs.stderr
        assert ours.returncode == 0, ours.stderr
        if theirs.stdout == ours.stdout:
            break
    print(f"\n$ kubectl get drsjobs {' '.join(scope)}\n{theirs.stdout}")
    assert ours.stdout == theirs.stdout
    header = theirs.stdout.splitlines()[0].split()
    expected = ["NAME", "STATUS", "READY", "SYNCED", "SOURCE", "TARGET", "AGE"]
    if "wide" in args:
        expected += ["JOB", "ID", "TYPE", "REASON", "DRIFT"]
    if "-A" in args:
        expected.insert(0, "NAMESPACE")
    assert header == expected
    assert len(theirs.stdout.splitlines()) >= len(scene.names) + 1


async def test_kubectl_wait_for_ready_and_for_stalled(
    controlplane: ControlPlane,
    namespace: str,
    sim: Simulator,
    run_operator: Any,
) -> None:
    plane = controlplane
    create_secret(plane, namespace, sim)
    add_job(plane, sim, namespace, "healthy", "INCRE_TRANSFER_STARTED")
    add_job(plane, sim, namespace, "failed", "FULL_TRANSFER_FAILED")

    async def wait(name: str, cond: str, timeout: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            str(plane.binaries.kubectl), f"--kubeconfig={plane.kubeconfig}",
            "-n", namespace, "wait", f"--for=condition={cond}", f"drsjob/{name}",
            f"--timeout={timeout}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    ready = await wait("healthy", "Ready", "40s")
    stalled = await wait("failed", "Stalled", "40s")
    not_ready = await wait("failed", "Ready", "8s")
    await asyncio.sleep(1.0)
    assert ready.returncode is None and stalled.returncode is None, "waited for nothing"
    await run_operator("-n", namespace)

    out, err = await asyncio.wait_for(ready.communicate(), 45)
    assert ready.returncode == 0, err
    assert out.decode().strip() == "drsjob.drs.operators.dev/healthy condition met"
    out, err = await asyncio.wait_for(stalled.communicate(), 45)
    assert stalled.returncode == 0, err
    assert out.decode().strip() == "drsjob.drs.operators.dev/failed condition met"
    out, err = await asyncio.wait_for(not_ready.communicate(), 45)
    assert not_ready.returncode != 0
    assert "timed out waiting for the condition on drsjobs/failed" in err.decode()


@pytest.mark.parametrize("name", ["failed", "healthy"])
def test_kubectl_describe_shows_the_objects_own_events(
    controlplane: ControlPlane, scene: Scene, name: str
) -> None:
    described = kubectl(controlplane, "describe", "drsjob", name, "-n", scene.namespace)
    assert described.returncode == 0, described.stderr
    text = described.stdout
    own = events_about(controlplane, scene.namespace, name)
    others = [
        e
        for e in events_about(controlplane, scene.namespace)
        if e["involvedObject"]["name"] != name
    ]
    assert own and others
    events_section = text.split("\nEvents:", 1)[1]
    for event in own:
        assert event["reason"] in events_section and event["message"] in events_section, event
    foreign = {e["message"] for e in others} - {e["message"] for e in own}
    assert foreign, "the other DrsJobs' events must differ from this one's"
    for message in foreign:
        assert message not in events_section, f"another DrsJob's event in describe {name}"
    assert re.search(rf"^Name:\s+{name}$", text, re.M), text
    status = get_drsjob(controlplane, scene.namespace, name)["status"]
    assert re.search(rf"^  Task Status:\s+{status['taskStatus']}$", text, re.M), text
    for cond in status["conditions"]:  # each condition's type and reason is shown
        assert re.search(rf"Reason:\s+{cond['reason']}\n.*\n\s+Type:\s+{cond['type']}\n", text)
