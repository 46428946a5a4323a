"""A real Kubernetes control plane on loopback: etcd and kube-apiserver, as envtest starts them.

For the ``cluster`` test tier, ``make cluster`` and the demo. The binaries
(``etcd``, ``kube-apiserver``, ``kubectl`` and the test helpers ``kstatus`` and
``luahealth``) are built from Go modules by ``tools/controlplane/build.py``
into a versioned cache directory; :func:`find_binaries` locates them (and can
build them; :mod:`.binaries`). :class:`ControlPlane` then, in a temporary directory:

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

from drs_operator.sandbox.controlplane.audit import AuditLog
from drs_operator.sandbox.controlplane.binaries import (
    BINARIES,
    Binaries,
    ControlPlaneError,
    ControlPlaneUnavailable,
    find_binaries,
)
from drs_operator.sandbox.controlplane.plane import ControlPlane, Response
from drs_operator.sandbox.controlplane.servers import free_port

__all__ = [
    "BINARIES",
    "AuditLog",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "ControlPlaneUnavailable",
    "Response",
    "find_binaries",
    "free_port",
]
