"""The end-to-end harness: a cluster, the DRS simulator, and the real operator process.

Fixtures
========
``cluster``
    A :class:`Cluster`, parametrized over backends, so the same tests run
    against each:

    ``emulator``
        the embedded emulator (every request on record);
    ``apiserver``
        the session's real control plane (etcd + kube-apiserver, the
        ``controlplane`` fixture of tests/controlplane.py), marked ``cluster``:
        it belongs to the cluster tier and is skipped with it;
    ``kubeconfig``
        instead of both, when ``DRS_E2E_KUBECONFIG`` names a kubeconfig: that
        real cluster (e.g. kind or k3d; ``crds/drsjobs.yaml`` is applied when
        the CRD is missing). ``DRS_E2E_AUDIT_LOG`` may name its API server's
        audit log (JSON lines, level Metadata or more) to count requests.

    On real clusters each test gets a unique namespace; its DrsJobs are
    deleted afterwards, then the namespace (without a namespace controller,
    as on the control plane, the namespace itself stays ``Terminating``).
    A test that needs the emulator asks for it with
    ``@pytest.mark.parametrize("cluster", ["emulator"], indirect=True)``; a
    test of the DRS side only (its Kubernetes traffic is status writes) is
    marked ``drs_side``: it runs on the emulator, not on the session's
    kube-apiserver, and on a real cluster when ``DRS_E2E_KUBECONFIG`` is set.
``simulator``
    A started ``drs_operator.sandbox.simulator.Simulator(seed=0)`` on loopback
    (``simulator.url``); stopped afterwards.
``operator_process``
    A factory: ``await operator_process(*extra_args, env=None)`` launches
    ``python -m drs_operator run -n <namespace>`` with short cadences
    (:data:`FAST_ARGS`; later flags win, so ``extra_args`` override them),
    ``KUBECONFIG`` set to the cluster's, free metrics/health ports, output in
    a log file. Every process still running at teardown is stopped.

Helper: ``await eventually(predicate, timeout=..., interval=0.1)`` polls a
sync or async predicate until it returns a truthy value (returned) and
fails with the last value or assertion error otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from drs_operator.sandbox.controlplane import AuditLog
from drs_operator.sandbox.emulator import EmulatedCluster

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "drsjobs.yaml"
GROUP, VERSION, PLURAL, KIND = "drs.operators.dev", "v1alpha1", "drsjobs", "DrsJob"
REAL_CLUSTER_ENV = "DRS_E2E_KUBECONFIG"
AUDIT_LOG_ENV = "DRS_E2E_AUDIT_LOG"
HARNESS_FIELD_MANAGER = "drs-e2e-harness"  # the harness's own writes, told apart on real clusters
HARNESS_USER_AGENT = "drs-e2e-harness"  # and its requests, in an audit log
STOP_TIMEOUT = 10.0

# Short cadences for tests; a test may override any of them (argparse: the last flag wins).
FAST_ARGS: tuple[str, ...] = (
    "--cadence-in-progress", "1s",
    "--cadence-steady", "2s",
    "--cadence-failed", "5s",
    "--cadence-error", "1s",
    "--jitter", "0",
    "--backoff-initial", "500ms",
    "--backoff-max", "2s",
    "--secret-cache-ttl", "1s",
    "--request-timeout", "5s",
    "--bind-address", "127.0.0.1",
    "--log-level", "debug",
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    kept, dropped = [], []
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
        # A test of the DRS side (marked drs_side) runs once on the emulator; the
        # session's kube-apiserver would only repeat its status writes, which the
        # other [apiserver] tests cover. A real cluster (DRS_E2E_KUBECONFIG) runs it.
        params = getattr(item, "callspec", None)
        if (
            item.get_closest_marker("drs_side")
            and params is not None
            and params.params.get("cluster") == "apiserver"
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- objects ------------------------------------------------------------------------------------


def condition(obj: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    """The DrsJob's condition of type ``kind`` ({} when absent, or no object yet)."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return {}


# -- metrics ------------------------------------------------------------------------------------


def metric_value(text: str, name: str, labels: str = "", *, required: bool = True) -> float:
    """The sum of a metric's samples whose line starts with ``name{labels`` (or ``name ``);
    with ``required=False`` a metric with no sample is 0 (a counter never incremented)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head == name or (head.startswith(name + "{") and labels in head):
            total += float(value)
            found = True
    assert found or not required, f"no sample of {name}{{{labels}}}"
    return total


# -- polling -------------------------------------------------------------------------------------


async def eventually(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    message: str = "",
) -> Any:
    """Poll ``predicate`` (sync or async) until truthy; return its value.

    An ``AssertionError`` raised by the predicate counts as "not yet". On
    timeout, fail with ``message``, the last value and the last assertion.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    last_error: AssertionError | None = None
    while True:
        try:
            last = predicate()
            if inspect.isawaitable(last):
                last = await last
            last_error = None
            if last:
                return last
        except AssertionError as exc:
            last_error = exc
        if loop.time() >= deadline:
            name = getattr(predicate, "__name__", repr(predicate))
            detail = f"last assertion: {last_error}" if last_error else f"last value: {last!r}"
            raise AssertionError(
                f"{message or name} did not happen within {timeout:g}s; {detail}"
            ) from last_error
        await asyncio.sleep(interval)


# -- clusters ------------------------------------------------------------------------------------


class Cluster(Protocol):
    """What e2e tests use, whichever backend runs."""

    kubeconfig: Path
    namespace: str
    is_emulated: bool
    counts_requests: bool  # status_patch_count works (the emulator, or an audit log)

    async def create_drsjob(
        self, name: str, spec: Mapping[str, Any], *, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]: ...
    async def patch_drsjob_spec(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]: ...
    async def delete_drsjob(self, name: str) -> None: ...
    async def get_drsjob(self, name: str) -> dict[str, Any] | None: ...
    async def list_drsjobs(self) -> list[dict[str, Any]]: ...
    async def list_events(self, name: str | None = None) -> list[dict[str, Any]]: ...
    async def create_secret(self, name: str, string_data: Mapping[str, str]) -> None: ...
    async def delete_secret(self, name: str) -> None: ...
    def status_patch_count(self, name: str | None = None) -> int: ...
    async def non_status_writes(self) -> list[Any]: ...
    async def label_drsjob(self, name: str, labels: Mapping[str, str | None]) -> None: ...
    async def get_lease(self, name: str) -> dict[str, Any] | None: ...


def _drsjob(namespace: str, name: str, spec: Mapping[str, Any], labels: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": meta, "spec": dict(spec)}


def _event_is_about(event: Mapping[str, Any], name: str | None) -> bool:
    if name is None:
        return True
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return bool(involved.get("name") == name)


@dataclass
class EmulatedBackend:
    """The embedded emulator; every request the operator sends is on record."""

    emulator: EmulatedCluster
    kubeconfig: Path
    namespace: str
    is_emulated: bool = True
    counts_requests: bool = True

    async def create_drsjob(
        self, name: str, spec: Mapping[str, Any], *, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return self.emulator.create(_drsjob(self.namespace, name, spec, labels))

    async def patch_drsjob_spec(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self.emulator.patch_spec(PLURAL, self.namespace, name, patch)

    async def delete_drsjob(self, name: str) -> None:
        self.emulator.delete(PLURAL, self.namespace, name)

    async def get_drsjob(self, name: str) -> dict[str, Any] | None:
        return self.emulator.get(PLURAL, self.namespace, name)

    async def list_drsjobs(self) -> list[dict[str, Any]]:
        return self.emulator.list(PLURAL, self.namespace)

    async def list_events(self, name: str | None = None) -> list[dict[str, Any]]:
        events = self.emulator.list("events", self.namespace) + self.emulator.list(
            "events.k8s.io/v1/events", self.namespace
        )
        return [e for e in events if _event_is_about(e, name)]

    async def create_secret(self, name: str, string_data: Mapping[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace},
            "type": "Opaque",
            "stringData": dict(string_data),
        }
        if self.emulator.get("secrets", self.namespace, name) is None:
            self.emulator.create(body)
        else:  # rotation: the whole data is replaced, as `kubectl apply` of a new Secret does
            data = {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}
            self.emulator.replace("secrets", self.namespace, name, {**body, "data": data})

    async def delete_secret(self, name: str) -> None:
        self.emulator.delete("secrets", self.namespace, name)

    def status_patch_count(self, name: str | None = None) -> int:
        return self.emulator.status_patch_count(namespace=self.namespace, name=name)

    async def non_status_writes(self) -> list[Any]:
        """Requests that wrote DrsJobs or Secrets other than via ``/status``."""
        return self.emulator.non_status_writes()

    async def label_drsjob(self, name: str, labels: Mapping[str, str | None]) -> None:
        """Merge-patch ``metadata.labels`` (``None`` removes a label)."""
        self.emulator.patch(PLURAL, self.namespace, name, {"metadata": {"labels": dict(labels)}})

    async def get_lease(self, name: str) -> dict[str, Any] | None:
        return self.emulator.get("leases", self.namespace, name)


@dataclass
class RealBackend:
    """A real cluster through ``kubernetes.client`` (blocking calls run in threads).

    A real API server keeps no request log a client can read, and answers a
    no-op patch with no new resourceVersion and no watch event: requests are
    counted only from the API server's audit log (``audit``: the control
    plane's, or ``DRS_E2E_AUDIT_LOG``); without one, ``status_patch_count``
    skips the test and ``non_status_writes`` reads ``managedFields`` (entries
    of any manager but the harness outside the ``status`` subresource).
    """

    api: Any  # kubernetes.client.ApiClient
    kubeconfig: Path
    namespace: str
    audit: AuditLog | None = None
    is_emulated: bool = False

    @property
    def counts_requests(self) -> bool:
        return self.audit is not None

    def requests(self) -> list[dict[str, Any]]:
        """Audit events of requests in this namespace other than the harness's own."""
        assert self.audit is not None, "no audit log"
        return [
            e
            for e in self.audit.events()
            if (e.get("objectRef") or {}).get("namespace") == self.namespace
            and e.get("userAgent") != HARNESS_USER_AGENT
        ]

    def _custom(self) -> Any:
        import kubernetes

        return kubernetes.client.CustomObjectsApi(self.api)

    def _core(self) -> Any:
        import kubernetes

        return kubernetes.client.CoreV1Api(self.api)

    async def create_drsjob(
        self, name: str, spec: Mapping[str, Any], *, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body = _drsjob(self.namespace, name, spec, labels)
        result: dict[str, Any] = await asyncio.to_thread(
            self._custom().create_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, body,
            field_manager=HARNESS_FIELD_MANAGER,
        )  # fmt: skip
        return result

    async def patch_drsjob_spec(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.to_thread(
            self._custom().patch_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, name, {"spec": dict(patch)},
            field_manager=HARNESS_FIELD_MANAGER,
        )  # fmt: skip
        return result

    async def delete_drsjob(self, name: str) -> None:
        await self._ignore_404(
            self._custom().delete_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, name,
        )  # fmt: skip

    async def get_drsjob(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._ignore_404(
            self._custom().get_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, name,
        )  # fmt: skip
        return found

    async def list_drsjobs(self) -> list[dict[str, Any]]:
        listed = await asyncio.to_thread(
            self._custom().list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL
        )
        return list(listed["items"])

    async def list_events(self, name: str | None = None) -> list[dict[str, Any]]:
        listed = await asyncio.to_thread(self._core().list_namespaced_event, self.namespace)
        events = [self.api.sanitize_for_serialization(e) for e in listed.items]
        return [e for e in events if _event_is_about(e, name)]

    async def create_secret(self, name: str, string_data: Mapping[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.namespace},
            "type": "Opaque",
            "stringData": dict(string_data),
        }
        existing = await self._ignore_404(self._core().read_namespaced_secret, name, self.namespace)
        if existing is None:
            await asyncio.to_thread(
                self._core().create_namespaced_secret, self.namespace, body,
                field_manager=HARNESS_FIELD_MANAGER,
            )  # fmt: skip
        else:
            await asyncio.to_thread(
                self._core().replace_namespaced_secret, name, self.namespace, body,
                field_manager=HARNESS_FIELD_MANAGER,
            )  # fmt: skip

    async def delete_secret(self, name: str) -> None:
        await self._ignore_404(self._core().delete_namespaced_secret, name, self.namespace)

    def status_patch_count(self, name: str | None = None) -> int:
        """PATCH and PUT requests to ``drsjobs/<name>/status`` (from the audit log)."""
        if self.audit is None:
            pytest.skip("status patches cannot be counted on a real cluster without an audit log")
        return sum(
            1
            for e in self.requests()
            if e.get("verb") in ("patch", "update")
            and e["objectRef"].get("resource") == PLURAL
            and e["objectRef"].get("subresource") == "status"
            and (name is None or e["objectRef"].get("name") == name)
        )

    async def non_status_writes(self) -> list[Any]:
        if self.audit is not None:
            return [
                e
                for e in self.requests()
                if e.get("verb") in ("create", "update", "patch", "delete", "deletecollection")
                and e["objectRef"].get("resource") in (PLURAL, "secrets")
                and e["objectRef"].get("subresource") != "status"
            ]
        writes: list[Any] = []
        for job in await self.list_drsjobs():
            for entry in job["metadata"].get("managedFields") or []:
                if entry.get("manager") == HARNESS_FIELD_MANAGER:
                    continue
                if entry.get("subresource") == "status":
                    continue
                writes.append({"object": job["metadata"]["name"], **entry})
        return writes

    async def label_drsjob(self, name: str, labels: Mapping[str, str | None]) -> None:
        """Merge-patch ``metadata.labels`` (``None`` removes a label)."""
        await asyncio.to_thread(
            self._custom().patch_namespaced_custom_object,
            GROUP, VERSION, self.namespace, PLURAL, name,
            {"metadata": {"labels": dict(labels)}},
            field_manager=HARNESS_FIELD_MANAGER,
        )  # fmt: skip

    async def get_lease(self, name: str) -> dict[str, Any] | None:
        import kubernetes

        found: dict[str, Any] | None = await self._ignore_404(
            kubernetes.client.CoordinationV1Api(self.api).read_namespaced_lease,
            name, self.namespace,
        )  # fmt: skip
        return found

    async def _ignore_404(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import kubernetes

        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self.api.sanitize_for_serialization(result) if result is not None else None


async def _ensure_crd(api: Any) -> None:
    import kubernetes
    import yaml

    ext = kubernetes.client.ApiextensionsV1Api(api)
    name = f"{PLURAL}.{GROUP}"
    try:
        await asyncio.to_thread(ext.read_custom_resource_definition, name)
        return
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
    body = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    await asyncio.to_thread(ext.create_custom_resource_definition, body)

    async def established() -> bool:
        crd = await asyncio.to_thread(ext.read_custom_resource_definition, name)
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    await eventually(established, timeout=30, interval=0.5, message="the CRD established")


def _backends() -> list[Any]:
    if os.environ.get(REAL_CLUSTER_ENV):
        return ["kubeconfig"]
    return ["emulator", pytest.param("apiserver", marks=pytest.mark.cluster)]


@pytest.fixture(params=_backends())
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    if request.param == "emulator":
        emulator = EmulatedCluster()
        await emulator.start()
        namespace = "e2e"
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=namespace)
        try:
            yield EmulatedBackend(emulator=emulator, kubeconfig=kubeconfig, namespace=namespace)
        finally:
            await emulator.stop()
        return

    import kubernetes

    audit: AuditLog | None = None
    if request.param == "apiserver":
        plane = request.getfixturevalue("controlplane")  # tests/controlplane.py
        config_file, audit = plane.kubeconfig, plane.audit
    else:
        config_file = Path(os.environ[REAL_CLUSTER_ENV])
        audit_path = os.environ.get(AUDIT_LOG_ENV)
        audit = AuditLog(Path(audit_path)) if audit_path else None
    api = kubernetes.config.new_client_from_config(config_file=str(config_file))
    api.user_agent = HARNESS_USER_AGENT
    await _ensure_crd(api)
    namespace = f"drs-e2e-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(api)
    await asyncio.to_thread(core.create_namespace, {"metadata": {"name": namespace}})
    try:
        yield RealBackend(api=api, kubeconfig=config_file, namespace=namespace, audit=audit)
    finally:
        custom = kubernetes.client.CustomObjectsApi(api)
        with contextlib.suppress(kubernetes.client.ApiException):
            await asyncio.to_thread(
                custom.delete_collection_namespaced_custom_object,
                GROUP, VERSION, namespace, PLURAL,
            )  # fmt: skip
        with contextlib.suppress(kubernetes.client.ApiException):
            await asyncio.to_thread(core.delete_namespace, namespace)
        api.close()


# -- the DRS simulator ---------------------------------------------------------------------------


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    from drs_operator.sandbox.simulator import Simulator

    sim = Simulator(seed=0)
    await sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        await sim.stop()


# -- the operator process ------------------------------------------------------------------------


def free_port() -> int:
    """A port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class OperatorProcess:
    """A running ``drs-operator run`` subprocess."""

    process: asyncio.subprocess.Process
    args: list[str]
    log_path: Path
    metrics_port: int
    health_port: int
    _log_file: Any = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; return its exit code."""
        code = await asyncio.wait_for(self.process.wait(), timeout=timeout)
        self._close_log()
        return code

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; return the exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self._close_log()
        assert self.process.returncode is not None
        return self.process.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


OperatorFactory = Callable[..., Awaitable[OperatorProcess]]


def operator_env(kubeconfig: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the operator process: ours, minus what would redirect it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRS_OPERATOR_")
        and k not in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
    }
    env["KUBECONFIG"] = str(kubeconfig)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


async def launch_operator(
    *,
    kubeconfig: Path,
    workdir: Path,
    log_name: str,
    scope: Sequence[str],
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> OperatorProcess:
    """``python -m drs_operator run`` with :data:`FAST_ARGS` (later flags win), free
    metrics and health ports, its output in ``workdir/log_name``."""
    metrics_port, health_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "drs_operator", "run", *scope,
        "--metrics-port", str(metrics_port),
        "--health-port", str(health_port),
        *FAST_ARGS,
        *args,
    ]  # fmt: skip
    log_path = workdir / log_name
    log_file = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
        env=operator_env(kubeconfig, env),
        cwd=str(workdir),
    )
    return OperatorProcess(
        process=process,
        args=argv,
        log_path=log_path,
        metrics_port=metrics_port,
        health_port=health_port,
        _log_file=log_file,
    )


@pytest.fixture
async def operator_process(cluster: Cluster, tmp_path: Path) -> AsyncIterator[OperatorFactory]:
    started: list[OperatorProcess] = []

    async def start(
        *extra_args: str,
        env: Mapping[str, str] | None = None,
        scope: Sequence[str] | None = None,
    ) -> OperatorProcess:
        """Start ``drs-operator run``; ``scope`` defaults to ``-n <namespace>`` (``("-A",)``)."""
        proc = await launch_operator(
            kubeconfig=cluster.kubeconfig,
            workdir=tmp_path,
            log_name=f"operator-{len(started)}.log",
            scope=scope if scope is not None else ("-n", cluster.namespace),
            args=extra_args,
            env=env,
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.stop()
