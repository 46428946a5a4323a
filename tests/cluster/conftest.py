"""Shared by the cluster tier (every module here is marked ``cluster``).

Fixtures
========
``namespace``
    A fresh namespace on the session's control plane (``controlplane``, from
    tests/controlplane.py); its DrsJobs are deleted afterwards, then the
    namespace (which stays ``Terminating``: there is no namespace controller).
``sim``
    A started DRS simulator on loopback that accepts :data:`TOKEN`.
``run_operator``
    A factory: ``await run_operator(*args, kubeconfig=..., env=..., scope=...)``
    starts ``python -m drs_operator run`` with the e2e harness's fast cadences
    (later flags win) against ``kubeconfig`` (default: the admin's), with
    free metrics/health ports; every process still running at teardown is stopped.

``scene``
    Session scope: a namespace with DrsJobs in every state the operator
    distinguishes (:data:`SCENE_JOBS`), written by an operator that then stopped.

Helpers: :func:`kubectl` runs the kubectl built with kube-apiserver (same
version); :func:`add_job` creates a simulated task and its DrsJob;
:func:`forbidden` picks the refused requests out of audit events.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drs_operator import GROUP, KIND, PLURAL, VERSION
from drs_operator.sandbox.controlplane import ControlPlane
from drs_operator.sandbox.simulator import Simulator
from tests.e2e.conftest import OperatorProcess, condition, eventually, launch_operator

API = f"/apis/{GROUP}/{VERSION}"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REGION = "xx-test-1"
TOKEN = "cluster-tier-token"
CREDENTIALS = "drs-credentials"  # the operator's default Secret name


def drsjobs_path(namespace: str | None, name: str = "", *, status: bool = False) -> str:
    path = f"{API}/namespaces/{namespace}/{PLURAL}" if namespace else f"{API}/{PLURAL}"
    if name:
        path += f"/{name}"
    return path + ("/status" if status else "")


def drsjob(name: str, spec: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta, "spec": dict(spec)}


def kubectl(
    plane: ControlPlane, *args: str, kubeconfig: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The built kubectl against ``kubeconfig`` (default: the admin's); any exit code."""
    return subprocess.run(
        [str(plane.binaries.kubectl), f"--kubeconfig={kubeconfig or plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def new_namespace(plane: ControlPlane, prefix: str = "t") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    plane.create_namespace(name)
    return name


def create_secret(plane: ControlPlane, namespace: str, sim: Simulator, **extra: str) -> None:
    data = {"endpoint": sim.url, "projectId": PROJECT, "region": REGION, "token": TOKEN, **extra}
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS, "namespace": namespace},
        "stringData": data,
    }
    plane.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body).expect(201)


def add_job(
    plane: ControlPlane,
    sim: Simulator,
    namespace: str,
    name: str,
    status: str | None,
    **spec: Any,
) -> str:
    """A DrsJob for a new simulated task in ``status`` (None: a task that does not exist)."""
    if status is None:
        job_id = f"{uuid.uuid4().hex[:8]}-0000-4000-8000-{uuid.uuid4().hex[:8]}jb21"
    else:
        job_id = sim.add_job(status=status, project_id=PROJECT)
    body = drsjob(name, {"jobId": job_id, **spec}, namespace)
    plane.request("POST", drsjobs_path(namespace), body).expect(201)
    return job_id


def get_drsjob(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return plane.request("GET", drsjobs_path(namespace, name)).expect()


def events_about(
    plane: ControlPlane, namespace: str, name: str | None = None
) -> list[dict[str, Any]]:
    listed = plane.request("GET", f"/api/v1/namespaces/{namespace}/events").expect()
    return [
        e
        for e in listed.get("items", [])
        if name is None or e.get("involvedObject", {}).get("name") == name
    ]


def forbidden(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Audit events RBAC refused (or answered 403), as ``verb resource URI`` lines."""
    return [
        f"{e.get('verb')} {e.get('requestURI')}"
        for e in events
        if (e.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid"
        or (e.get("responseStatus") or {}).get("code") == 403
    ]


def by_user(events: Iterable[Mapping[str, Any]], username: str) -> list[dict[str, Any]]:
    return [dict(e) for e in events if (e.get("user") or {}).get("username") == username]


@pytest.fixture
def namespace(controlplane: ControlPlane) -> Iterator[str]:
    name = new_namespace(controlplane)
    try:
        yield name
    finally:
        controlplane.delete_namespace(name)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(seed=0)
    simulator.add_token(TOKEN, project_id=PROJECT)
    await simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def start_operator(
    plane: ControlPlane,
    workdir: Path,
    *args: str,
    kubeconfig: Path | None = None,
    env: Mapping[str, str] | None = None,
    scope: Iterable[str] = (),
) -> OperatorProcess:
    """``python -m drs_operator run`` with FAST_ARGS (later flags win), its log in ``workdir``."""
    return await launch_operator(
        kubeconfig=kubeconfig or plane.kubeconfig,
        workdir=workdir,
        log_name=f"operator-{uuid.uuid4().hex[:6]}.log",
        scope=tuple(scope),
        args=args,
        env=env,
    )


@pytest.fixture
async def run_operator(controlplane: ControlPlane, tmp_path: Path) -> AsyncIterator[Any]:
    started: list[OperatorProcess] = []

    async def start(
        *args: str,
        kubeconfig: Path | None = None,
        env: Mapping[str, str] | None = None,
        scope: Iterable[str] = (),
    ) -> OperatorProcess:
        proc = await start_operator(
            controlplane, tmp_path, *args, kubeconfig=kubeconfig, env=env, scope=scope
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.stop()


# -- a scene: DrsJobs in every state, left by an operator that has stopped ------------------------

#: name -> (the task's DRS status; None: no such task; "DELETED": deleted at DRS), extra spec.
SCENE_JOBS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "healthy": ("INCRE_TRANSFER_STARTED", {}),
    "in-progress": ("FULL_TRANSFER_STARTED", {}),
    "completed": ("FULL_TRANSFER_COMPLETE", {}),
    "released": ("RELEASE_RESOURCE_COMPLETE", {}),
    "paused": ("PAUSING", {}),
    "failed": ("FULL_TRANSFER_FAILED", {}),
    "deleted": ("DELETED", {}),
    "missing": (None, {}),
    "suspended": ("INCRE_TRANSFER_STARTED", {"suspend": True}),
    "suspended-later": ("INCRE_TRANSFER_STARTED", {}),  # suspended once it is Ready
    "auth-failed": ("INCRE_TRANSFER_STARTED", {"credentialsRef": {"name": "refused"}}),
    "no-credentials": ("INCRE_TRANSFER_STARTED", {"credentialsRef": {"name": "absent"}}),
    # spec.expect declares a port the task does not have: Drifted, Ready False Drifted.
    "drifted": ("INCRE_TRANSFER_STARTED", {"expect": {"sourceEndpoint": {"port": 1}}}),
}
NO_STATUS = "no-status"  # created after the operator stopped


@dataclass(frozen=True)
class Scene:
    namespace: str
    names: list[str]  # every DrsJob, NO_STATUS included
    operator_log: str


async def _build_scene(plane: ControlPlane, workdir: Path, namespace: str) -> Scene:
    sim = Simulator(seed=3)
    sim.add_token(TOKEN, project_id=PROJECT)
    await sim.start(host="127.0.0.1", port=0)
    proc: OperatorProcess | None = None
    try:
        create_secret(plane, namespace, sim)
        refused = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "refused", "namespace": namespace},
            "stringData": {"endpoint": sim.url, "projectId": PROJECT, "region": REGION,
                           "token": "a-token-the-service-refuses"},
        }  # fmt: skip
        plane.request("POST", f"/api/v1/namespaces/{namespace}/secrets", refused).expect(201)
        for name, (status, spec) in SCENE_JOBS.items():
            job_id = add_job(plane, sim, namespace, name, status, **spec)
            if status == "DELETED":
                sim.delete_job(job_id)
        proc = await start_operator(plane, workdir, "-n", namespace)

        def synced(names: Iterable[str]) -> Any:
            async def check() -> bool:
                for name in names:
                    assert condition(get_drsjob(plane, namespace, name), "Synced"), name
                return True

            return check

        await eventually(synced(SCENE_JOBS), timeout=30, interval=0.3)
        patch = {"spec": {"suspend": True}}
        plane.request(
            "PATCH",
            drsjobs_path(namespace, "suspended-later"),
            patch,
            content_type="application/merge-patch+json",
        ).expect()

        async def suspended() -> bool:
            obj = get_drsjob(plane, namespace, "suspended-later")
            return condition(obj, "Synced").get("reason") == "Suspended"

        await eventually(suspended, timeout=15, interval=0.3)
        assert await proc.stop() == 0
        plane.request(
            "POST",
            drsjobs_path(namespace),
            drsjob(NO_STATUS, {"jobId": "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3bjb21"}, namespace),
        ).expect(201)
        return Scene(namespace, [*SCENE_JOBS, NO_STATUS], proc.log_text())
    finally:
        if proc is not None:
            await proc.stop()
        await sim.stop()


@pytest.fixture(scope="session")
def scene(controlplane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """DrsJobs in every state the operator distinguishes, in a namespace of their own.

    Built once per session (about 8 s): the operator runs until every job has
    its status (and ``suspended-later`` is suspended), then stops, so nothing
    changes while the tests look. ``no-status`` is created after it stopped.
    """
    namespace = new_namespace(controlplane, "scene")
    try:
        yield asyncio.run(_build_scene(controlplane, tmp_path_factory.mktemp("scene"), namespace))
    finally:
        controlplane.delete_namespace(namespace)
