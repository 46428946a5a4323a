""":class:`EmulatedCluster`: the emulator served over HTTP on loopback, and its helpers.

It owns a :class:`Store`, a :class:`RequestLog` and the kmock handler
(:attr:`EmulatedCluster.handler`, for fault injection), starts and stops the
aiohttp server, writes a kubeconfig, and offers in-process helpers (create,
get, list, patch, replace, delete: like API requests but not recorded) and
request accounting over the log.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import EllipsisType
from typing import Any

from drs_operator.sandbox.emulator.handler import BOOKMARK_INTERVAL, handler_class
from drs_operator.sandbox.emulator.request_log import DEFAULT_LOG_LIMIT, RecordedRequest, RequestLog
from drs_operator.sandbox.emulator.resources import RESOURCES, Obj, ResourceSpec, resolve
from drs_operator.sandbox.emulator.store import DEFAULT_HISTORY_LIMIT, Store

__all__ = ["EmulatedCluster"]


class EmulatedCluster:
    """A Kubernetes API emulator served over HTTP on loopback.

    Usage::

        cluster = EmulatedCluster()
        url = await cluster.start()
        cluster.write_kubeconfig(tmp / "kubeconfig", namespace="default")
        cluster.create({"apiVersion": "drs.operators.dev/v1alpha1", "kind": "DrsJob", ...})
        ...
        await cluster.stop()

    The in-process helpers (``create``, ``get``, ``list``, ``patch``, ...) act
    like API requests (stamping, watch events) but are not recorded in the
    request log: the log shows only what clients (the operator) sent.
    """

    def __init__(
        self,
        *,
        log_limit: int = DEFAULT_LOG_LIMIT,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        bookmark_interval: float = BOOKMARK_INTERVAL,
    ) -> None:
        self.store = Store(history_limit=history_limit)
        self.log = RequestLog(limit=log_limit)
        self._bookmark_interval = bookmark_interval
        self._handler: Any = None
        self._runner: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self.url = ""

    @property
    def handler(self) -> Any:
        """The kmock handler, for fault injection: ``cluster.handler['patch'] << 500``.

        Reactions take priority over the emulator's own behaviour; a write
        answered by a reaction is not applied. Slicing reactions
        (``handler['get'][:2]``) only see the last ``KMOCK_LOG_LIMIT`` requests.
        """
        if self._handler is None:
            self._handler = handler_class()(
                store=self.store, log=self.log, bookmark_interval=self._bookmark_interval
            )
        return self._handler

    @property
    def port(self) -> int:
        if not self.url:
            raise RuntimeError("the emulated cluster is not started")
        return int(self.url.rsplit(":", 1)[1])

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); return the base URL."""
        import aiohttp.web

        if self._exit is not None:
            raise RuntimeError("the emulated cluster is already started")
        handler = self.handler
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(handler)  # kmock's live-stream feeder task
        try:
            runner = aiohttp.web.ServerRunner(
                aiohttp.web.Server(handler, access_log=None),
                handle_signals=False,
                shutdown_timeout=1.0,
            )
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = aiohttp.web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await stack.aclose()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        self._exit = stack
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """End all watch streams and stop serving. Idempotent.

        The watch history is forgotten, as a restarted kube-apiserver's watch
        cache starts afresh: after :meth:`start` again, a watch resumed from a
        resourceVersion of before is answered 410 and its client lists again.
        """
        if self._exit is None:
            return
        self.store.close_watches()
        self.store.expire_history()
        await asyncio.sleep(0)  # let the watch streams see the end
        exit_stack, self._exit = self._exit, None
        await exit_stack.aclose()
        self.url = ""

    async def __aenter__(self) -> EmulatedCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig for this cluster (plain HTTP, no credentials)."""
        if not self.url:
            raise RuntimeError("start the emulated cluster before writing a kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        return path

    # -- in-process object helpers (deep copies in and out) -----------------------------------

    def create(
        self, obj: Mapping[str, Any], *, resource: str | None = None, validate: bool = False
    ) -> Obj:
        """Create an object; the resource is taken from ``apiVersion``/``kind`` if not given.

        ``validate``: pruned, defaulted and checked as a create through the API would
        be (benchmarks: the stored object is what a real cluster would hold); by
        default stored as given (tests hand the operator objects no server accepts).
        """
        spec = resolve(resource) if resource else self._spec_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return copy.deepcopy(self.store.create(spec, namespace, obj, validate=validate))

    def get(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        found = self.store.find(resolve(resource), namespace, name)
        return copy.deepcopy(found) if found is not None else None

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return copy.deepcopy(self.store.objects(resolve(resource), namespace))

    def patch(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any] | builtins.list[Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """A merge patch (mapping) or JSON patch (list); ``subresource="status"`` for status."""
        spec = resolve(resource)
        return copy.deepcopy(
            self.store.patch(spec, namespace, name, patch, subresource=subresource)
        )

    def patch_spec(
        self, resource: str, namespace: str | None, name: str, spec: Mapping[str, Any]
    ) -> Obj:
        """Merge-patch ``spec`` (``None`` values delete keys)."""
        return self.patch(resource, namespace, name, {"spec": dict(spec)})

    def patch_status(
        self, resource: str, namespace: str | None, name: str, status: Mapping[str, Any]
    ) -> Obj:
        return self.patch(resource, namespace, name, {"status": dict(status)}, subresource="status")

    def replace(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        spec = resolve(resource)
        return copy.deepcopy(
            self.store.replace(spec, namespace, name, obj, subresource=subresource)
        )

    def delete(self, resource: str, namespace: str | None, name: str) -> bool:
        """Delete (or mark for deletion when finalizers remain); False if it was absent."""
        spec = resolve(resource)
        if self.store.find(spec, namespace, name) is None:
            return False
        self.store.delete(spec, namespace, name)
        return True

    # -- request accounting -------------------------------------------------------------------

    def requests(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
        writes_only: bool = False,
        user_agent: str | None = None,
    ) -> builtins.list[RecordedRequest]:
        """Recorded requests (the last ``log_limit``), oldest first, filtered.

        ``resource`` is the plural (``"drsjobs"``); ``subresource=None`` means
        "not a subresource request", ``...`` (the default) means any;
        ``user_agent`` keeps the requests whose User-Agent starts with it.
        """
        return self.log.select(
            method=method,
            resource=resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
            writes_only=writes_only,
            user_agent=user_agent,
        )

    def count(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
    ) -> int:
        """How many requests matched since start (exact, not limited by the log bound)."""
        return self.log.count(
            method=method,
            resource=resource,
            namespace=namespace,
            name=name,
            subresource=subresource,
        )

    def status_patch_count(self, *, namespace: str | None = None, name: str | None = None) -> int:
        """PATCH and PUT requests to ``drsjobs/<name>/status``."""
        return sum(
            self.count(
                method=m, resource="drsjobs", namespace=namespace, name=name, subresource="status"
            )
            for m in ("PATCH", "PUT")
        )

    def non_status_writes(
        self, *, resources: Iterable[str] = ("drsjobs", "secrets")
    ) -> builtins.list[RecordedRequest]:
        """Writes to the given resources other than to their ``/status`` (in the log window)."""
        wanted = set(resources)
        return [
            e
            for e in self.log.select(writes_only=True)
            if e.resource in wanted and e.subresource != "status"
        ]

    def _spec_of(self, obj: Mapping[str, Any]) -> ResourceSpec:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        for spec in RESOURCES:
            if spec.api_version == api_version and spec.kind == kind:
                return spec
        raise KeyError(f"no served resource for apiVersion={api_version!r} kind={kind!r}")
