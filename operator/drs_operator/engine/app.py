"""The operator's parts, assembled: what ``drs-operator run`` starts and stops.

kopf is not imported here: the handlers module owns kopf and calls
:meth:`Operator.observe` from its watch handler and :meth:`Operator.start` /
:meth:`Operator.stop` from its startup and cleanup handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from drs_operator.engine.connections import Connections
from drs_operator.engine.health import Probes, Servers, health_app, metrics_app
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.refresher import Refresher
from drs_operator.engine.registry import Registry
from drs_operator.engine.settings import Settings
from drs_operator.engine.writer import StatusWriter

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0


class Operator:
    def __init__(self, *, settings: Settings, kube: KubeApi | None = None) -> None:
        self.settings = settings
        self.kube = kube or KubeApi.from_environment()
        self.metrics = Metrics()
        self.registry = Registry(
            default_credentials=settings.watching.default_credentials,
            min_refresh_interval=settings.cadence.minimum,
        )
        self.connections = Connections(kube=self.kube, settings=settings, metrics=self.metrics)
        self.writer = StatusWriter(
            kube=self.kube,
            registry=self.registry,
            metrics=self.metrics,
            concurrency=settings.writing.write_concurrency,
            events=settings.writing.events,
        )
        self.refresher = Refresher(
            registry=self.registry,
            connections=self.connections,
            writer=self.writer,
            settings=settings,
            metrics=self.metrics,
        )
        self.metrics.watch_jobs(lambda: (record.summary for record in self.registry))
        self.probes = Probes(
            last_pass=lambda: self.refresher.last_pass,
            stall_after=settings.serving.stall_after,
        )
        self.servers = Servers()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
        self._task = asyncio.create_task(self.refresher.run(self._stop), name="refresher")
        self.probes.ready = True
        logger.info(
            "Refresher started (batch size %d, cadence %gs/%gs/%gs)",
            self.settings.batching.batch_size,
            self.settings.cadence.in_progress,
            self.settings.cadence.steady,
            self.settings.cadence.failed,
        )

    async def stop(self) -> None:
        """Stop refreshing, let in-flight batches and writes finish (bounded), close."""
        self.probes.ready = False
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, SHUTDOWN_GRACE)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        await self.refresher.drain(SHUTDOWN_GRACE)
        await self.writer.drain(SHUTDOWN_GRACE)
        await self.connections.aclose()
        await self.servers.stop()
        await self.kube.aclose()
        logger.info("Refresher stopped")
