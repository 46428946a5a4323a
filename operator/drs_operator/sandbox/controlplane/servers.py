"""The two servers: their command lines (as envtest runs them, plus an audit log) and processes.

Flags that matter (tools/controlplane/README.md says more):
``--unsafe-no-fsync`` for etcd (tests need no durability);
``--advertise-address=127.0.0.1`` and ``--endpoint-reconciler-type=none`` so
kube-apiserver needs no routable address; RBAC authorization; the
service-account issuer and keys (TokenRequest works); a static admin token;
the audit log (JSON lines, :data:`AUDIT_POLICY`);
``--shutdown-watch-termination-grace-period=1s`` so an open watch does not
hold a stop up for 15 s.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

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


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def etcd_args(binary: Path, *, data_dir: Path, client_url: str, peer_port: int) -> list[str]:
    """etcd on loopback, no fsync, warnings only."""
    return [
        str(binary),
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(
    binary: Path,
    *,
    etcd_url: str,
    cert_dir: Path,
    port: int,
    key: Path,
    tokens: Path,
    policy: Path,
    audit_path: Path,
) -> list[str]:
    """kube-apiserver on loopback with RBAC, service accounts, a token file and an audit log."""
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--cert-dir={cert_dir}",
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--disable-admission-plugins=ServiceAccount",
        "--authorization-mode=RBAC",
        f"--service-account-issuer=https://127.0.0.1:{port}/",
        f"--service-account-key-file={key}",
        f"--service-account-signing-key-file={key}",
        f"--token-auth-file={tokens}",
        f"--audit-policy-file={policy}",
        f"--audit-log-path={audit_path}",
        "--audit-log-format=json",
        "--audit-log-maxbackup=0",
        "--audit-log-maxsize=0",
        "--shutdown-watch-termination-grace-period=1s",
    ]


@dataclass
class Server:
    """One server process (etcd or kube-apiserver), its log in a file."""

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
