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

kopf lists the watched namespaces (or the cluster) when a watch starts, and
again when a resumed watch is answered 410 Gone (its resourceVersion is too
old, e.g. after an API server restart); the objects listed arrive as events
of type None. A DrsJob deleted while the watch was down is simply not in
that list: no DELETED event ever comes for it. :class:`Relists` therefore
lists the DrsJobs' names itself once a listing is under way, and every
:data:`RESYNC_INTERVAL` seconds (a listing that finds nothing sends no
event), and makes the registry forget the jobs that are gone (which it
would otherwise refresh forever).

``--selector`` becomes kopf's server-side label selector for DrsJobs
(:func:`watch_only`), and the names :class:`Relists` lists are the
selected ones, so a shard lists, watches and keeps only its own DrsJobs
(one relabelled away while the watch was down is forgotten as deleted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import kopf

from drs_operator import GROUP, PLURAL, VERSION
from drs_operator.domain.formats import resource_version as version_number
from drs_operator.domain.patching import plain
from drs_operator.drs.text import one_line
from drs_operator.engine.app import Operator
from drs_operator.engine.kube import KubeError
from drs_operator.engine.kube import bearer_header as _bearer
from drs_operator.engine.kubeconfig import load as load_kubeconfig
from drs_operator.engine.settings import Settings

logger = logging.getLogger(__name__)

RELIST_SETTLE = 1.0  # seconds from the first listed event to our own list of names
RESYNC_INTERVAL = 600.0  # seconds between sweeps of every watched scope
FORGOTTEN_LOGGED_EACH = 3  # more forgotten at once: one summary line (each at DEBUG)


class Relists:
    """Forget the DrsJobs a (re-)listing does not show: deleted while the watch was down.

    ``listed(scope)`` is called for each event of type None (kopf is listing;
    ``scope`` is the object's namespace, or None when one watch covers the
    cluster). The first call of a listing schedules one :meth:`sweep` of that
    scope :data:`RELIST_SETTLE` seconds later; calls while it is pending add
    nothing. A sweep lists the DrsJobs' names and forgets every known job of
    the scope that is not listed and whose resourceVersion is not newer than
    the list's (a job created or changed after the list is kept); on an API
    error nothing is forgotten. The listing at start-up costs one such list.
    :meth:`periodically` sweeps every scope that holds known jobs, for the
    listings that find nothing at all (and so send no event).
    """

    def __init__(
        self, operator: Operator, *, clusterwide: bool = False, settle: float = RELIST_SETTLE
    ) -> None:
        self._operator = operator
        self._clusterwide = clusterwide
        self._settle = settle
        self._pending: dict[str | None, asyncio.Task[None]] = {}
        self._periodic: asyncio.Task[None] | None = None

    def listed(self, scope: str | None) -> None:
        if scope not in self._pending:
            self._pending[scope] = asyncio.create_task(self._later(scope), name="relist-sweep")

    async def _later(self, scope: str | None) -> None:
        try:
            await asyncio.sleep(self._settle)
            await self.sweep(scope)
        finally:
            self._pending.pop(scope, None)

    async def sweep(self, scope: str | None) -> int:
        """Forget the jobs of ``scope`` that the API server no longer has; how many."""
        try:
            present, version = await self._operator.kube.list_drsjob_keys(
                scope, selector=self._operator.settings.watching.selector
            )
        except KubeError as exc:
            where = f"namespace {scope}" if scope else "all namespaces"
            logger.warning("Could not list DrsJobs (%s) to find deleted ones: %s", where, exc)
            return 0
        if version is None:
            return 0
        gone = [
            record
            for record in self._operator.registry
            if (scope is None or record.namespace == scope)
            and record.key not in present
            and (known := version_number(record.resource_version)) is not None
            and known <= version
        ]
        for record in gone:
            logged = len(gone) <= FORGOTTEN_LOGGED_EACH
            logger.log(
                logging.INFO if logged else logging.DEBUG,
                "%s/%s: deleted while the watch was down; forgotten",
                *record.key,
            )
            self._operator.registry.forget(record.key)
        if len(gone) > FORGOTTEN_LOGGED_EACH:  # a mass deletion: one line, not one per job
            shown = ", ".join("/".join(r.key) for r in gone[:FORGOTTEN_LOGGED_EACH])
            logger.info(
                "%d DrsJobs deleted while the watch was down; forgotten: %s and %d more",
                len(gone), shown, len(gone) - FORGOTTEN_LOGGED_EACH,
            )  # fmt: skip
        return len(gone)

    def scope_of(self, namespace: str | None) -> str | None:
        return None if self._clusterwide else namespace

    async def sweep_all(self) -> int:
        """Sweep every scope that holds known jobs; how many were forgotten."""
        scopes = {self.scope_of(record.namespace) for record in self._operator.registry}
        return sum([await self.sweep(scope) for scope in sorted(scopes, key=str)])

    def start(self, interval: float = RESYNC_INTERVAL) -> None:
        self._periodic = asyncio.create_task(self._every(interval), name="relist-resync")

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep_all()
            except Exception:  # a bug must not end the resync for the process's lifetime
                logger.exception(
                    "The periodic DrsJob relist failed unexpectedly; next in %gs", interval
                )

    async def close(self) -> None:
        tasks = list(self._pending.values())
        if self._periodic is not None:
            tasks.append(self._periodic)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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


def watch_only(settings: kopf.OperatorSettings, selector: str) -> None:
    """Give the list and watch of DrsJobs a label selector (none: every DrsJob).

    The API server filters: a DrsJob relabelled out of the selection arrives
    as a deletion (the operator forgets it), one relabelled into it as new.
    """
    if selector:
        settings.watching.label_selectors[GROUP, VERSION, PLURAL] = selector
        logger.info("Watching only the DrsJobs selected by %r", selector)


def build_registry(operator: Operator) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    relists = Relists(operator, clusterwide=operator.settings.watching.clusterwide)

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
        relists.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await relists.close()
        await operator.stop()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, id="drsjob_event")
    async def drsjob_event(
        type: str | None, body: kopf.Body, namespace: str | None, **_: Any
    ) -> None:
        # async: kopf runs sync handlers in a thread, and the registry belongs to the loop.
        operator.observe(event_type=type, body=plain(body))
        if type is None:  # kopf is listing: at start-up, or after 410 Gone
            relists.listed(relists.scope_of(namespace))

    return registry


# What kopf's request tasks fail with when the API server cannot be reached.
_CONNECTION_ERRORS = (OSError, TimeoutError, aiohttp.ClientError)


def _quiet_orphans(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line, not a traceback, for a connection error no task retrieved; a traceback
    at ERROR for anything else (a bug must stay visible).

    When kopf gives up on an unreachable API server, a sibling request task fails
    unobserved with a connection error and asyncio would print a second traceback at
    exit; the cause is already logged and reported. Its traceback stays at DEBUG.
    """
    exc = context.get("exception")
    message = context.get("message", "asyncio error")
    if exc is not None and not isinstance(exc, _CONNECTION_ERRORS):
        logger.error("%s", message, exc_info=exc)
        return
    detail = f"{type(exc).__name__}: {one_line(str(exc), 300) or ''}" if exc else ""
    logger.warning("%s %s", message, detail)
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
    watch_only(kopf_settings, settings.watching.selector)
    namespaces = operator.namespaces
    await kopf.operator(
        registry=registry,
        settings=kopf_settings,
        standalone=True,
        clusterwide=namespaces is None,
        namespaces=list(namespaces or ()),
        stop_flag=stop_flag,
    )
