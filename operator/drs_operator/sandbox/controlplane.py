"""A real Kubernetes control plane on loopback: etcd and kube-apiserver, as envtest starts them.

For the ``cluster`` test tier, ``make cluster`` and the demo. The binaries
(``etcd``, ``kube-apiserver``, ``kubectl`` and the test helpers ``kstatus`` and
``luahealth``) are built from Go modules by ``tools/controlplane/build.py``
into a versioned cache directory; :func:`find_binaries` locates them (and can
build them). :class:`ControlPlane` then, in a temporary directory:

- generates the service-account signing key (``openssl``) and an admin token
  (``--token-auth-file``, group ``system:masters``);
- starts etcd (``--unsafe-no-fsync``) and kube-apiserver on free loopback
  ports, with ``--authorization-mode=RBAC``, the service-account issuer and
  keys, an audit log (JSON lines: every request except the API server's own
  and the health probes, at level ``Metadata``), and its own self-signed
  serving certificate (written to ``certs/apiserver.crt``, which clients
  trust; its chain holds the CA that signed it);
- waits for ``/readyz``, installs the DrsJob CRD (the packaged copy) and
  waits until it is established, writes an admin kubeconfig;
- stops kube-apiserver first (SIGTERM, SIGKILL after
  :data:`APISERVER_STOP_TIMEOUT`: without etcd it ignores SIGTERM for minutes;
  ``--shutdown-watch-termination-grace-period=1s`` keeps an open watch from
  holding it up, 1 s instead of the 15 s measured without), then etcd, and
  removes the directory.

It can restart kube-apiserver on the same port (the watch connections drop,
its watch cache starts afresh) and compact etcd, which is how tests make a
watch expire (410 Gone). A small JSON client (:meth:`ControlPlane.request`)
and :meth:`ControlPlane.service_account_token` (the TokenRequest API) serve
tests and tools; :class:`AuditLog` reads the audit log incrementally.

Run as a program (``make cluster``)::

    python -m drs_operator.sandbox.controlplane [--keep] [--no-build]

starts a control plane, prints the kubeconfig and how to use it, and stops
everything and removes the directory on Ctrl-C (or SIGTERM).

Standard library only (plus PyYAML, a dependency of the package) and the
``openssl`` command; POSIX only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final

import yaml

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.domain.crd import load_crd

__all__ = [
    "BINARIES",
    "AuditLog",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "ControlPlaneUnavailable",
    "Response",
    "find_binaries",
    "main",
]

BINARIES: Final = ("etcd", "kube-apiserver", "kubectl", "kstatus", "luahealth")
BIN_ENV: Final = "DRS_CONTROLPLANE_BIN"  # a directory holding the binaries (skips build.py)
BUILD_SCRIPT: Final = Path("tools") / "controlplane" / "build.py"

READY_TIMEOUT: Final = 60.0  # etcd + kube-apiserver up and /readyz answering (~3 s measured)
APISERVER_STOP_TIMEOUT: Final = 15.0  # SIGTERM, then SIGKILL (it exits in ~1 s while etcd runs)
ETCD_STOP_TIMEOUT: Final = 10.0
REQUEST_TIMEOUT: Final = 30.0
ADMIN_USER: Final = "admin"
CLUSTER_NAME: Final = "drs-controlplane"
SERVICE_CIDR: Final = "10.0.0.0/24"

# Every request except the API server's own (its loopback client keeps leases and
# priority levels) and the readiness/liveness probes, at level Metadata: who did
# what to which object, with the answer's code and RBAC's decision.
AUDIT_POLICY: Final = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:apiserver"]},
        {"level": "None", "nonResourceURLs": ["/readyz*", "/livez*", "/healthz*"]},
        {"level": "Metadata"},
    ],
}


class ControlPlaneError(Exception):
    """The control plane could not be started, or a request to it failed."""


class ControlPlaneUnavailable(ControlPlaneError):
    """The binaries are not there and cannot be built; the message says why, in one line."""


# -- the binaries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    """The directory holding :data:`BINARIES`."""

    directory: Path

    def path(self, name: str) -> Path:
        if name not in BINARIES:
            raise KeyError(name)
        return self.directory / name

    @property
    def etcd(self) -> Path:
        return self.path("etcd")

    @property
    def kube_apiserver(self) -> Path:
        return self.path("kube-apiserver")

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def kstatus(self) -> Path:
        return self.path("kstatus")

    @property
    def luahealth(self) -> Path:
        return self.path("luahealth")

    def missing(self) -> list[str]:
        return [name for name in BINARIES if not os.access(self.directory / name, os.X_OK)]

    def versions(self) -> dict[str, Any]:
        """``versions.json`` written by build.py (empty when absent)."""
        try:
            loaded = json.loads((self.directory / "versions.json").read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}


def repository_root() -> Path | None:
    """The checkout this package runs from (an editable install), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / BUILD_SCRIPT).is_file():
            return parent
    return None


def find_binaries(*, build: bool = False, quiet: bool = False) -> Binaries:
    """The binaries' directory: ``$DRS_CONTROLPLANE_BIN``, else build.py's cache directory.

    With ``build``, missing binaries are built (``tools/controlplane/build.py``:
    10-25 minutes cold, progress on stderr unless ``quiet``). Raises
    :class:`ControlPlaneUnavailable` with a one-line reason when they are
    missing and are not (or cannot be) built.
    """
    override = os.environ.get(BIN_ENV)
    if override:
        found = Binaries(Path(override).expanduser())
        if found.missing():
            raise ControlPlaneUnavailable(
                f"{BIN_ENV}={override} lacks {', '.join(found.missing())}"
            )
        return found
    root = repository_root()
    if root is None:
        raise ControlPlaneUnavailable(
            f"no {BUILD_SCRIPT} (not a checkout of drs-operator) and {BIN_ENV} is not set"
        )
    script = root / BUILD_SCRIPT
    printed = subprocess.run(
        [sys.executable, str(script), "--print-dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    if printed.returncode != 0 or not printed.stdout.strip():
        raise ControlPlaneUnavailable(f"{script} --print-dir failed: {printed.stderr.strip()}")
    found = Binaries(Path(printed.stdout.strip()))
    if not found.missing():
        return found
    if shutil.which("go") is None:
        raise ControlPlaneUnavailable(
            "go not found on PATH: Go 1.26+ builds kube-apiserver and etcd"
            f" ({', '.join(found.missing())} missing in {found.directory})"
        )
    if not build:
        raise ControlPlaneUnavailable(
            f"{', '.join(found.missing())} not built in {found.directory}: run {script}"
        )
    built = subprocess.run(
        [sys.executable, str(script), *(["--quiet"] if quiet else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if quiet else None,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        tail = (built.stderr or "").strip().splitlines()[-1:] or ["see its output"]
        raise ControlPlaneUnavailable(f"{script} failed (exit {built.returncode}): {tail[0]}")
    if found.missing():
        raise ControlPlaneUnavailable(f"{script} did not build {', '.join(found.missing())}")
    return found


# -- helpers -------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Response:
    """An API answer: the HTTP status and the decoded JSON body (``{}`` when not JSON)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def expect(self, *statuses: int) -> dict[str, Any]:
        """The body, when the status is one of ``statuses`` (default: any 2xx)."""
        if (statuses and self.status in statuses) or (not statuses and self.ok):
            return self.body
        message = self.body.get("message") or json.dumps(self.body)[:300]
        raise ControlPlaneError(f"HTTP {self.status}: {message}")


class AuditLog:
    """The API server's audit log (JSON lines), read incrementally.

    :meth:`events` returns every event written so far (parsed once, kept in
    order). With the log backend in its default blocking mode an event is
    written before the answer reaches the client, so a request is in the log
    once its caller has the answer.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._events: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            try:
                with self.path.open("rb") as fh:
                    fh.seek(self._offset)
                    chunk = fh.read()
            except FileNotFoundError:
                return list(self._events)
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if line.strip():
                    self._events.append(json.loads(line))
            return list(self._events)

    def mark(self) -> int:
        """A position: :meth:`since` returns the events after it."""
        return len(self.events())

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.events()[mark:]


@dataclass
class _Process:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            # A session of its own: a Ctrl-C in the terminal reaches us, not
            # the servers, so that they stop in the right order.
            self.popen = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        popen, self.popen = self.popen, None
        if popen is None:
            return
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the control plane ---------------------------------------------------------------------------


class ControlPlane:
    """etcd + kube-apiserver on loopback, in a temporary directory of their own.

    Usage::

        with ControlPlane(find_binaries()) as plane:
            plane.kubeconfig           # admin kubeconfig (system:masters)
            plane.request("GET", "/api/v1/namespaces").expect()
            token = plane.service_account_token("ops", "drs-operator")
            plane.write_kubeconfig(path, token=token, namespace="team-a")

    ``start`` raises :class:`ControlPlaneError` (with the last log lines) when
    a server exits or ``/readyz`` does not answer within ``ready_timeout``.
    Not thread-safe except :meth:`request` and :class:`AuditLog`.
    """

    def __init__(
        self,
        binaries: Binaries,
        *,
        workdir: Path | None = None,
        keep: bool = False,
        install_crd: bool = True,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.binaries = binaries
        self._given_workdir = workdir
        self.keep = keep
        self._install_crd = install_crd
        self.ready_timeout = ready_timeout
        self.workdir = Path()
        self.admin_token = ""
        self.etcd_port = 0
        self.apiserver_port = 0
        self._etcd: _Process | None = None
        self._apiserver: _Process | None = None
        self._ssl: ssl.SSLContext | None = None
        self.audit: AuditLog | None = None
        self.started_in = 0.0  # seconds from starting etcd to /readyz

    # -- properties ---------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def ca_file(self) -> Path:
        """The serving certificate kube-apiserver made for itself, with its CA: trust it."""
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (written by :meth:`start`)."""
        return self.workdir / "kubeconfig"

    @property
    def apiserver_log(self) -> Path:
        return self.workdir / "kube-apiserver.log"

    @property
    def etcd_log(self) -> Path:
        return self.workdir / "etcd.log"

    @property
    def apiserver_pid(self) -> int | None:
        popen = self._apiserver.popen if self._apiserver else None
        return popen.pid if popen else None

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start etcd and kube-apiserver, wait for /readyz, install the CRD, write a kubeconfig."""
        if self._etcd is not None:
            raise ControlPlaneError("already started")
        missing = self.binaries.missing()
        if missing:
            raise ControlPlaneUnavailable(
                f"{', '.join(missing)} missing in {self.binaries.directory}"
            )
        if self._given_workdir is not None:
            self._given_workdir.mkdir(parents=True, exist_ok=True)
            self.workdir = self._given_workdir
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="drs-controlplane-"))
        try:
            etcd, apiserver = self._prepare()
            began = time.monotonic()
            etcd.start()
            apiserver.start()
            self._wait_ready()
            self.started_in = time.monotonic() - began
            self.write_kubeconfig(self.kubeconfig)
            if self._install_crd:
                self.install_crd()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd; remove the directory (unless ``keep``). Idempotent."""
        if self._apiserver is not None:
            self._apiserver.stop(APISERVER_STOP_TIMEOUT)
        if self._etcd is not None:
            self._etcd.stop(ETCD_STOP_TIMEOUT)
        self._apiserver = self._etcd = None
        if self.workdir != Path() and not self.keep and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd keeps the data): clients see connections refused."""
        if self._apiserver is None:
            raise ControlPlaneError("not started")
        self._apiserver.stop(APISERVER_STOP_TIMEOUT)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port, with the same data; wait for /readyz."""
        if self._apiserver is None:
            raise ControlPlaneError("not started")
        if self._apiserver.running:
            raise ControlPlaneError("kube-apiserver is running")
        self._apiserver.start()
        self._wait_ready()
        if self._install_crd:  # its storage answers 429 for a moment after /readyz
            crd = load_crd()
            deadline = time.monotonic() + self.ready_timeout
            while not self._served(crd):
                if time.monotonic() > deadline:
                    raise ControlPlaneError("DrsJobs not served after the restart")
                time.sleep(0.1)

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver: every watch drops, the watch cache starts afresh."""
        self.stop_apiserver()
        self.start_apiserver()

    # -- setup --------------------------------------------------------------------------

    def _prepare(self) -> tuple[_Process, _Process]:
        """Keys, token file, audit policy, ports; the two servers, not started."""
        work = self.workdir
        (work / "certs").mkdir(exist_ok=True)
        key = work / "sa.key"
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ControlPlaneUnavailable("openssl not found on PATH (it makes the SA signing key)")
        subprocess.run(
            [openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
            check=True,
            capture_output=True,
        )
        key.chmod(0o600)
        self.admin_token = secrets.token_hex(24)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        policy = work / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
        audit_path = work / "audit.log"
        self.audit = AuditLog(audit_path)

        self.etcd_port = free_port()
        peer_port = free_port()
        self.apiserver_port = free_port()
        etcd = self._etcd = _Process(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.etcd_log,
        )
        apiserver = self._apiserver = _Process(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={work / 'certs'}",
                f"--secure-port={self.apiserver_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{self.apiserver_port}/",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                f"--token-auth-file={tokens}",
                f"--audit-policy-file={policy}",
                f"--audit-log-path={audit_path}",
                "--audit-log-format=json",
                "--audit-log-maxbackup=0",
                "--audit-log-maxsize=0",
                "--shutdown-watch-termination-grace-period=1s",
            ],
            self.apiserver_log,
        )
        return etcd, apiserver

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while True:
            for process in (self._etcd, self._apiserver):
                if process is None or not process.running:
                    name = process.name if process else "a server"
                    raise ControlPlaneError(f"{name} exited; its log ends:\n{self._tails()}")
            try:
                response = self.request("GET", "/readyz", timeout=2.0)
                if response.status == 200:
                    return
                last = f"/readyz answered {response.status}"
            except (OSError, ssl.SSLError, ControlPlaneError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"not ready within {self.ready_timeout:g}s ({last}); the logs end:\n"
                    + self._tails()
                )
            time.sleep(0.1)

    def _tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.tail()}" for p in (self._etcd, self._apiserver) if p is not None
        )

    def install_crd(self, crd: Mapping[str, Any] | None = None, *, timeout: float = 30.0) -> None:
        """Create the CRD (default: the packaged DrsJob CRD) and wait until it is established."""
        body = dict(crd) if crd is not None else load_crd()
        name = body["metadata"]["name"]
        self.request(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body
        ).expect(201)
        deadline = time.monotonic() + timeout
        while True:
            got = self.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            ).expect()
            listed = (got.get("status") or {}).get("conditions") or []
            conditions = {c["type"]: c["status"] for c in listed}
            # The resource is served once its discovery is up, a moment after Established.
            if conditions.get("Established") == "True" and self._served(body):
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD {name} not established: {conditions}")
            time.sleep(0.1)

    def _served(self, crd: Mapping[str, Any]) -> bool:
        spec = crd["spec"]
        version = next(v["name"] for v in spec["versions"] if v.get("served"))
        path = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}"
        return self.request("GET", path + "?limit=1").status == 200

    # -- clients ------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if not self.ca_file.exists():
                raise ControlPlaneError("kube-apiserver has not written its certificate yet")
            self._ssl = ssl.create_default_context(cafile=str(self.ca_file))
        return self._ssl

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> Response:
        """One API request as the admin (or with ``token``); any HTTP status is returned."""
        url = self.server + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or self.admin_token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context()) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {"message": raw.decode(errors="replace")[:300]}
        return Response(status, decoded if isinstance(decoded, dict) else {"items": decoded})

    def create_namespace(self, name: str) -> None:
        self.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        ).expect(201)

    def delete_namespace(self, name: str) -> None:
        """Empty the namespace of DrsJobs, then delete it.

        There is no namespace controller (no kube-controller-manager): the
        namespace stays ``Terminating`` with whatever else it holds, but no
        DrsJob of it is left for an operator watching all namespaces.
        """
        self.request("DELETE", f"/apis/{GROUP}/{VERSION}/namespaces/{name}/{PLURAL}")
        self.request("DELETE", f"/api/v1/namespaces/{name}")

    def service_account_token(
        self, namespace: str, name: str, *, seconds: int = 3600, audiences: Sequence[str] = ()
    ) -> str:
        """A token of ServiceAccount ``namespace/name`` from the TokenRequest API."""
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        answer = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        ).expect(201)
        return str(answer["status"]["token"])

    def write_kubeconfig(
        self,
        path: Path,
        *,
        token: str | None = None,
        user: str = ADMIN_USER,
        namespace: str = "default",
    ) -> Path:
        """A kubeconfig for this control plane (CA embedded), as the admin or with ``token``."""
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CLUSTER_NAME,
                    "cluster": {"server": self.server, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": user, "user": {"token": token or self.admin_token}}],
            "contexts": [
                {
                    "name": CLUSTER_NAME,
                    "context": {"cluster": CLUSTER_NAME, "user": user, "namespace": namespace},
                }
            ],
            "current-context": CLUSTER_NAME,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- etcd ---------------------------------------------------------------------------

    def _etcd_call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.etcd_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
            decoded: dict[str, Any] = json.loads(answer.read())
            return decoded

    def etcd_revision(self) -> int:
        """etcd's current revision (every write bumps it; resourceVersions are revisions)."""
        answer = self._etcd_call(
            "/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "count_only": True}
        )
        return int(answer["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to the current revision; return that revision.

        A watch that resumes from an older resourceVersion than this is answered
        410 Gone (once kube-apiserver's watch cache no longer holds it either).
        """
        revision = self.etcd_revision()
        self._etcd_call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision


# -- make cluster --------------------------------------------------------------------------------


def _usage(plane: ControlPlane) -> str:
    versions = plane.binaries.versions()
    kubectl = plane.binaries.kubectl
    drs = Path(sys.executable).with_name("drs-operator")
    operator = str(drs) if drs.exists() else "drs-operator"
    return f"""\
Control plane ready in {plane.started_in:.1f}s: kube-apiserver {versions.get("kubernetes", "?")} \
at {plane.server}, etcd {versions.get("etcd", "?")}
Work directory {plane.workdir} (logs, audit log, etcd data); the CRD \
{PLURAL}.{GROUP} is installed.

  export KUBECONFIG={plane.kubeconfig}
  alias kubectl={kubectl}    # built with it; any kubectl works
  kubectl get drsjobs -A -o wide
  kubectl auth whoami        # admin, group system:masters
  {operator} run -n default
  {operator} get -A -o wide

Ctrl-C stops kube-apiserver and etcd and {"keeps" if plane.keep else "removes"} {plane.workdir}.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``make cluster``: a control plane until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m drs_operator.sandbox.controlplane",
        description="Start etcd + kube-apiserver on loopback with the DrsJob CRD, until Ctrl-C.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory on exit")
    parser.add_argument(
        "--no-build", action="store_true", help="fail instead of building missing binaries"
    )
    args = parser.parse_args(argv)
    try:
        binaries = find_binaries(build=not args.no_build)
    except ControlPlaneUnavailable as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    plane = ControlPlane(binaries, keep=args.keep)
    try:
        plane.start()
    except ControlPlaneError as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 1
    try:
        print(_usage(plane), flush=True)
        while not stop.wait(0.5):
            for process in (plane._etcd, plane._apiserver):
                if process is not None and not process.running:
                    print(
                        f"controlplane: {process.name} exited:\n{process.tail()}", file=sys.stderr
                    )
                    return 1
    finally:
        print("Stopping kube-apiserver and etcd ...", file=sys.stderr, flush=True)
        plane.stop()
        where = f"kept {plane.workdir}" if plane.keep else f"removed {plane.workdir}"
        print(f"Stopped; {where}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
