"""kopf's side: the watch of DrsJobs feeding the operator, and the lifecycle.

The only module that imports kopf. The handlers are thin: convert, call the
engine, return. kopf writes nothing on DrsJobs: only an event-watching
handler is registered (no change handlers, so kopf never stores progress or
a diff-base annotation; no deletion handlers or daemons, so no finalizers);
posting of log messages as Kubernetes events is off (the operator posts its
own events); peering and cluster scanning are off (no CRDs or namespaces to
list, so least-privilege RBAC suffices). kopf logs in with the same cluster
and identity as the operator's own client
(:func:`drs_operator.engine.kubeconfig.load`). kopf's INFO lines (one per
watch event) are kept out of the log by :mod:`drs_operator.engine.logs`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.domain.patching import plain
from drs_operator.engine.app import Operator
from drs_operator.engine.kube import bearer_header as _bearer
from drs_operator.engine.kubeconfig import load as load_kubeconfig
from drs_operator.engine.settings import Settings

logger = logging.getLogger(__name__)


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
    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
        # A fresh registry has no default login handlers: kopf connects as the
        # operator's own client does, whatever the source (file, exec plugin, pod).
        config = load_kubeconfig().configuration
        header = _bearer(config)
        scheme, _space, token = (header or "").rpartition(" ")
        return kopf.ConnectionInfo(
            server=config.host,
            ca_path=config.ssl_ca_cert,
            insecure=not config.verify_ssl,
            username=config.username or None,
            password=config.password or None,
            scheme=scheme or None,
            token=token or None,
            certificate_path=config.cert_file,
            private_key_path=config.key_file,
            trust_env=settings.networking.trust_env,
        )

    @kopf.on.startup(registry=registry)
    async def startup(**_: Any) -> None:
        await operator.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await operator.stop()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, id="drsjob_event")
    async def drsjob_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        # async: kopf runs sync handlers in a thread, and the registry belongs to the loop.
        operator.observe(event_type=type, body=plain(body))

    return registry


def _quiet_orphans(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line, not a traceback, for an exception no task retrieved.

    When kopf gives up on an unreachable API server, a sibling request task
    fails unobserved and asyncio would print a second traceback at exit; the
    cause is already logged and reported. The traceback stays at DEBUG.
    """
    exc = context.get("exception")
    detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}" if exc else ""
    logger.warning("%s %s", context.get("message", "asyncio error"), detail)
    if exc is not None:
        logger.debug("the traceback", exc_info=exc)


async def run(settings: Settings, *, stop_flag: asyncio.Event | None = None) -> None:
    """Check the cluster, then run the operator until a signal (or ``stop_flag``).

    Raises :class:`drs_operator.engine.kubeconfig.KubeconfigError` (no usable
    kubeconfig) or :class:`drs_operator.engine.app.StartupError` (the API
    server is unreachable, refuses the credentials or does not serve DrsJobs)
    before kopf starts.
    """
    asyncio.get_running_loop().set_exception_handler(_quiet_orphans)
    operator = Operator(settings=settings)
    try:
        await operator.preflight()
    except BaseException:
        await operator.kube.aclose()
        raise
    registry = build_registry(operator)
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings)
    namespaces = operator.namespaces
    await kopf.operator(
        registry=registry,
        settings=kopf_settings,
        standalone=True,
        clusterwide=namespaces is None,
        namespaces=list(namespaces or ()),
        stop_flag=stop_flag,
    )
