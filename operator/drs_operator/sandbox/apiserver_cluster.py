"""The demo's Kubernetes API on a real kube-apiserver: :class:`ApiServerCluster`.

The demo talks to its cluster through a few calls (``start``, ``write_kubeconfig``,
``create``, ``list``, ``status_patch_count``, ``stop``), which the embedded
emulator (:class:`drs_operator.sandbox.emulator.EmulatedCluster`) answers in
process. This class answers the same calls from the control plane of
:mod:`drs_operator.sandbox.controlplane` (etcd and kube-apiserver built from Go
modules): then kubectl works against the demo's kubeconfig (Tables, schema
validation, ``kubectl wait``, ``kubectl describe``). Status patches are
counted from the API server's audit log. Requests are synchronous and short
(loopback); the start, about three seconds, runs in a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.sandbox.controlplane import Binaries, ControlPlane

__all__ = ["ApiServerCluster"]

_CORE = {"secrets": "/api/v1", "events": "/api/v1"}


class ApiServerCluster:
    def __init__(self, binaries: Binaries) -> None:
        self.plane = ControlPlane(binaries)
        self.url = ""
        self._namespaces: set[str] = set()

    @property
    def kubectl(self) -> Path:
        return self.plane.binaries.kubectl

    @property
    def version(self) -> str:
        return str(self.plane.binaries.versions().get("kubernetes") or "")

    async def start(self) -> str:
        await asyncio.to_thread(self.plane.start)
        self.url = self.plane.server
        return self.url

    async def stop(self) -> None:
        await asyncio.to_thread(self.plane.stop)

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        return self.plane.write_kubeconfig(path, namespace=namespace)

    def _ensure_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            answer = self.plane.request(
                "POST",
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )
            answer.expect(201, 409)
            self._namespaces.add(namespace)

    @staticmethod
    def _path(resource: str, namespace: str) -> str:
        if resource in _CORE:
            return f"{_CORE[resource]}/namespaces/{namespace}/{resource}"
        if resource == PLURAL:
            return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        raise ValueError(f"not a resource of the demo: {resource}")

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        namespace = obj["metadata"]["namespace"]
        self._ensure_namespace(namespace)
        resource = {"Secret": "secrets", "Event": "events"}.get(obj["kind"], PLURAL)
        return self.plane.request("POST", self._path(resource, namespace), obj).expect(201)

    def list(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        answer = self.plane.request("GET", self._path(resource, namespace)).expect(200)
        return [item for item in answer.get("items") or [] if isinstance(item, dict)]

    def status_patch_count(self, *, namespace: str) -> int:
        audit = self.plane.audit
        if audit is None:
            return 0
        return sum(
            1
            for event in audit.events()
            if event.get("stage") == "ResponseComplete"
            and event.get("verb") == "patch"
            and (event.get("objectRef") or {}).get("resource") == PLURAL
            and (event.get("objectRef") or {}).get("subresource") == "status"
            and (event.get("objectRef") or {}).get("namespace") == namespace
        )
