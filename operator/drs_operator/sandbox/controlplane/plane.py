"""etcd + kube-apiserver on loopback in a temporary directory (:class:`ControlPlane`).

See the package's docstring for what is started and how it is stopped.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import yaml

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.domain.crd import load_crd
from drs_operator.sandbox.controlplane.audit import AuditLog
from drs_operator.sandbox.controlplane.binaries import (
    Binaries,
    ControlPlaneError,
    ControlPlaneUnavailable,
)
from drs_operator.sandbox.controlplane.servers import (
    AUDIT_POLICY,
    Server,
    apiserver_args,
    etcd_args,
    free_port,
)

READY_TIMEOUT: Final = 60.0  # etcd + kube-apiserver up and /readyz answering (~3 s measured)
APISERVER_STOP_TIMEOUT: Final = 15.0  # SIGTERM, then SIGKILL (it exits in ~1 s while etcd runs)
ETCD_STOP_TIMEOUT: Final = 10.0
REQUEST_TIMEOUT: Final = 30.0
ADMIN_USER: Final = "admin"
CLUSTER_NAME: Final = "drs-controlplane"

# -- helpers -------------------------------------------------------------------------------------


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
        self._etcd: Server | None = None
        self._apiserver: Server | None = None
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

    def _prepare(self) -> tuple[Server, Server]:
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
        etcd = self._etcd = Server(
            "etcd",
            etcd_args(self.binaries.etcd, data_dir=work / "etcd", client_url=self.etcd_url,
                      peer_port=peer_port),
            self.etcd_log,
        )  # fmt: skip
        apiserver = self._apiserver = Server(
            "kube-apiserver",
            apiserver_args(
                self.binaries.kube_apiserver, etcd_url=self.etcd_url, cert_dir=work / "certs",
                port=self.apiserver_port, key=key, tokens=tokens, policy=policy,
                audit_path=audit_path,
            ),
            self.apiserver_log,
        )  # fmt: skip
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
        """A kubeconfig for this control plane, as the admin or with ``token``.

        Inside the work directory (which holds the CA) the CA is named by path;
        elsewhere it is embedded, so a kubeconfig kept after the control plane
        (the demo's) still reads. By path is better where it works: the
        ``kubernetes`` client copies embedded CA data into a temporary file,
        which a killed process (a ``kill -9`` test) leaves behind.
        """
        if path.resolve().is_relative_to(self.workdir.resolve()):
            trust = {"certificate-authority": str(self.ca_file.resolve())}
        else:
            trust = {
                "certificate-authority-data": base64.b64encode(self.ca_file.read_bytes()).decode()
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": self.server, **trust}}],
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
        path.chmod(0o600)  # touch sets the mode only of a new file: the admin token is in it
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
