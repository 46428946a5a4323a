"""The operator's parts, assembled: what ``drs-operator run`` starts and stops.

kopf is not imported here: the handlers module owns kopf and calls
:meth:`Operator.preflight` before starting kopf, :meth:`Operator.observe`
from its watch handler and :meth:`Operator.start` / :meth:`Operator.stop`
from its startup and cleanup handlers.

:meth:`Operator.preflight` checks the Kubernetes API answers and serves
DrsJobs, retrying for at most :data:`STARTUP_TIMEOUT` seconds, and raises
:class:`StartupError` (one line naming the server and the cause) otherwise,
so an unreachable cluster fails fast instead of through kopf's minute of
retries. :meth:`Operator.start` logs the one start-up line (version, API
server, namespaces, key settings) and :meth:`Operator.stop` the one shutdown
line.

With leader election on, :attr:`Operator.leadership` gates every DRS call
and every write (a standby watches and keeps its index, and its probes say
it is healthy). A standby never refreshes, so every DrsJob it knows is
due by the time it leads: its first pass refreshes them all. Stopping lets
in-flight work finish first, then releases the Lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from drs_operator import GROUP, VERSION, __version__
from drs_operator.domain.formats import format_duration
from drs_operator.engine.connections import Connections
from drs_operator.engine.health import Probes, Servers, health_app, metrics_app
from drs_operator.engine.kube import KubeApi, KubeError
from drs_operator.engine.leader import Leadership, default_identity
from drs_operator.engine.logs import fields
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.refresher import Refresher
from drs_operator.engine.registry import Registry
from drs_operator.engine.settings import Settings
from drs_operator.engine.writer import StatusWriter

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0
STARTUP_TIMEOUT: Final = 10.0  # seconds the pre-flight check retries an unreachable API server
ATTEMPT_TIMEOUT: Final = 4.0  # seconds per pre-flight request
RETRY_PAUSES: Final = (0.5, 1.0, 2.0, 4.0)  # then 4 s until STARTUP_TIMEOUT


class StartupError(Exception):
    """The operator cannot start; the message is one line naming the server and the cause."""


@dataclass(frozen=True)
class ClusterInfo:
    """What the pre-flight check learnt of the cluster."""

    server: str  # scheme://host:port, without any user info
    version: str | None  # the API server's gitVersion, when readable


def _server_of(url: str) -> str:
    """``url`` without user info, path or query (what a log line may show)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{shown}{port}" if parts.scheme else url


def _total(metric: Any, *, skip_outcomes: tuple[str, ...] = ()) -> int:
    """The sum of a labelled counter's ``_total`` samples (but those of ``skip_outcomes``)."""
    return int(
        sum(
            sample.value
            for family in metric.collect()
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("outcome") not in skip_outcomes
        )
    )


class Operator:
    def __init__(self, *, settings: Settings, kube: KubeApi | None = None) -> None:
        self.settings = settings
        self.identity = default_identity()
        self.kube = kube or KubeApi.from_environment(identity=self.identity)
        self.metrics = Metrics()
        self.registry = Registry(
            default_credentials=settings.watching.default_credentials,
            min_refresh_interval=settings.cadence.minimum,
        )
        self.connections = Connections(kube=self.kube, settings=settings, metrics=self.metrics)
        self.leadership = Leadership(
            settings.election,
            kube=self.kube,
            identity=self.identity,
            metrics=self.metrics,
            on_gained=self.registry.wakeup.set,  # start refreshing now, not at the next tick
        )
        self.writer = StatusWriter(
            kube=self.kube,
            registry=self.registry,
            metrics=self.metrics,
            concurrency=settings.writing.write_concurrency,
            events=settings.writing.events,
            gate=self.leadership.is_leader,
        )
        self.refresher = Refresher(
            registry=self.registry,
            connections=self.connections,
            writer=self.writer,
            settings=settings,
            metrics=self.metrics,
            gate=self.leadership.is_leader,
        )
        # DrsJobs by phase and condition: the leader's count (a standby reports 0, so
        # sums over replicas count each DrsJob once).
        self.metrics.watch_jobs(
            lambda: (
                (record.summary for record in self.registry) if self.leadership.is_leader() else ()
            )
        )
        self.probes = Probes(
            last_pass=lambda: self.refresher.last_pass,
            stall_after=settings.serving.stall_after,
        )
        self.servers = Servers()
        self.cluster = ClusterInfo(server=_server_of(self.kube.server), version=None)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started_at: float | None = None

    @property
    def namespaces(self) -> tuple[str, ...] | None:
        """The namespaces to watch; None: all (``-A``).

        Neither ``-n`` nor ``-A``: the namespace of the kubeconfig's current
        context (in a pod: the pod's own namespace), else ``default``.
        """
        watching = self.settings.watching
        if watching.clusterwide:
            return None
        return tuple(watching.namespaces) or (self.kube.default_namespace,)

    def describe_namespaces(self) -> str:
        namespaces = self.namespaces
        if namespaces is None:
            return "all namespaces"
        if not self.settings.watching.namespaces:
            return f"namespace {namespaces[0]} (the current context's: neither -n nor -A given)"
        label = "namespace" if len(namespaces) == 1 else "namespaces"
        return f"{label} {', '.join(namespaces)}"

    async def preflight(
        self,
        *,
        timeout: float = STARTUP_TIMEOUT,
        clock: Any = time.monotonic,
        sleep: Any = asyncio.sleep,
    ) -> ClusterInfo:
        """Check the API server answers and serves DrsJobs; raise :class:`StartupError` if not.

        An unreachable server (no answer, 5xx) is retried for ``timeout``
        seconds; a refusal of the credentials or a missing CRD fails at once.
        """
        server = self.cluster.server
        deadline = clock() + timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = max(0.1, deadline - clock())
            try:
                version = await self._read_version(min(ATTEMPT_TIMEOUT, remaining))
                served = await self.kube.drsjobs_served(timeout=min(ATTEMPT_TIMEOUT, remaining))
            except KubeError as exc:
                if exc.status == 401:
                    raise StartupError(
                        f"the Kubernetes API at {server} refused the operator's credentials "
                        "(HTTP 401 Unauthorized)"
                    ) from None
                if exc.status == 403:
                    raise StartupError(
                        f"the Kubernetes API at {server} forbids the operator to read its API "
                        f"discovery (HTTP 403): check the operator's RBAC ({exc})"
                    ) from None
                pause = RETRY_PAUSES[min(attempt, len(RETRY_PAUSES)) - 1]
                if clock() + pause >= deadline:
                    cause = exc.cause or f"HTTP {exc.status} {exc.reason or ''}".rstrip()
                    raise StartupError(
                        f"cannot reach the Kubernetes API at {server}: {cause}"
                        f" ({attempt} attempts in {clock() - deadline + timeout:.0f}s)"
                    ) from None
                logger.debug("Kubernetes API at %s not ready yet: %s", server, exc)
                await sleep(pause)
                continue
            if not served:
                raise StartupError(
                    f"the Kubernetes API at {server} does not serve drsjobs.{GROUP}/{VERSION}:"
                    " is the CRD installed? (kubectl apply -f crds/drsjobs.yaml)"
                )
            self.cluster = ClusterInfo(server=server, version=version)
            return self.cluster

    async def _read_version(self, timeout: float) -> str | None:
        try:
            answer = await self.kube.server_version(timeout=timeout)
        except KubeError as exc:
            if exc.status is None or exc.status >= 500:
                raise
            return None  # e.g. a 403 on /version: not needed to run
        version = answer.get("gitVersion")
        return str(version) if version else None

    def observe(self, *, event_type: str | None, body: Mapping[str, Any]) -> None:
        self.registry.observe(event_type=event_type, body=body)

    async def start(self) -> None:
        serving = self.settings.serving
        await self.servers.start(
            "metrics",
            metrics_app(self.metrics.registry),
            host=serving.bind_address,
            port=serving.metrics_port,
        )
        await self.servers.start(
            "health", health_app(self.probes), host=serving.bind_address, port=serving.health_port
        )
        await self.leadership.start()
        self._task = asyncio.create_task(self.refresher.run(self._stop), name="refresher")
        self.probes.ready = True
        self._started_at = time.monotonic()
        self._log_start()

    def _log_start(self) -> None:
        s = self.settings
        cadence, batching, serving = s.cadence, s.batching, s.serving
        kubernetes = f" ({self.cluster.version})" if self.cluster.version else ""
        ports = ", ".join(
            f"{name} :{port}" if port else f"{name} off"
            for name, port in (("metrics", serving.metrics_port), ("health", serving.health_port))
        )
        logger.info(
            "drs-operator %s started: Kubernetes API %s%s, %s; batch size %d, "
            "%d calls in flight, %g calls/s per connection, cadence %gs/%gs/%gs "
            "(in progress/steady/failed), %s",
            __version__,
            self.cluster.server,
            kubernetes,
            self.describe_namespaces(),
            batching.batch_size,
            batching.max_concurrency,
            batching.rate_limit,
            cadence.in_progress,
            cadence.steady,
            cadence.failed,
            ports,
            extra=fields(
                version=__version__,
                server=self.cluster.server,
                kubernetesVersion=self.cluster.version,
                namespaces=list(self.namespaces) if self.namespaces is not None else "*",
                batchSize=batching.batch_size,
                maxConcurrency=batching.max_concurrency,
                rateLimit=batching.rate_limit,
                cadence={
                    "inProgress": cadence.in_progress,
                    "steady": cadence.steady,
                    "failed": cadence.failed,
                    "error": cadence.error,
                },
                metricsPort=serving.metrics_port,
                healthPort=serving.health_port,
                json_only=True,
            ),
        )

    async def stop(self) -> None:
        """Stop refreshing, let in-flight batches and writes finish (within
        :data:`SHUTDOWN_GRACE` in all), release the Lease (leader election), close.

        One deadline for the three waits, so that with the release (at most a renew
        deadline plus a retry period) a SIGTERM ends well within the chart's 30 s grace
        period; past it, the pod would be killed before its Lease is released and the
        standby would wait out the whole lease."""
        self.probes.ready = False
        self._stop.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, left())
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        await self.refresher.drain(left())
        await self.writer.drain(left())
        await self.leadership.stop(release=True)
        await self.connections.aclose()
        await self.servers.stop()
        await self.kube.aclose()
        ran = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        calls = _total(self.metrics.calls)
        writes = _total(self.metrics.status_writes, skip_outcomes=("unchanged", "not_leader"))
        logger.info(
            "drs-operator stopped after %s: %d DrsJobs known, %d batch-detail calls, "
            "%d status patches sent",
            format_duration(int(ran)),
            len(self.registry),
            calls,
            writes,
            extra=fields(
                json_only=True,
                uptimeSeconds=round(ran, 1),
                drsJobs=len(self.registry),
                batchDetailCalls=calls,
                statusPatches=writes,
            ),
        )
