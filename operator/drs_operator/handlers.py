"""kopf's side: the watch of DrsJobs feeding the operator, and the lifecycle.

The only module that imports kopf. The handlers are thin: convert, call the
domain code, return. kopf is configured to write nothing on DrsJobs: only an
event-watching handler is registered (no change handlers, so no diff-base
annotations; no deletion handlers or daemons, so no finalizers); progress
and diff-base storages are set to status-less no-ops as a second guard;
posting of log messages as Kubernetes events is off (the operator posts its
own events); peering and cluster scanning are off (no CRDs or namespaces to
list, so least-privilege RBAC suffices).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.engine.app import Operator
from drs_operator.engine.settings import Settings

logger = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    settings.scanning.disabled = True
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.process.ultimate_exiting_timeout = 30
    settings.queueing.worker_limit = None
    settings.queueing.idle_timeout = 1.0


def build_registry(operator: Operator) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A fresh registry has no default login handlers. An explicit kubeconfig
        # ($KUBECONFIG, or --kubeconfig) wins even inside a pod; otherwise the
        # kubernetes package's loaders (in-cluster service account, then
        # ~/.kube/config) — the same choice as drs_operator.engine.kube makes.
        if os.environ.get("KUBECONFIG"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings)
        await operator.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await operator.stop()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def drsjob_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        # async: kopf runs sync handlers in a thread, and the registry belongs to the loop.
        operator.observe(event_type=type, body=_plain(body))

    return registry


async def run(settings: Settings, *, stop_flag: asyncio.Event | None = None) -> None:
    """Run the operator until a signal (or ``stop_flag``)."""
    operator = Operator(settings=settings)
    registry = build_registry(operator)
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings)
    watching = settings.watching
    namespaces: list[str] = []
    if not watching.clusterwide:  # -n NS...; else the kubeconfig's (or pod's) namespace
        namespaces = list(watching.namespaces) or [operator.kube.default_namespace]
    await kopf.operator(
        registry=registry,
        settings=kopf_settings,
        standalone=True,
        clusterwide=watching.clusterwide,
        namespaces=namespaces,
        stop_flag=stop_flag,
    )
