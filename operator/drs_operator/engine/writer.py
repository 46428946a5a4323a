"""The status writer: one observation in, at most one status patch out.

It computes the new status with the pure mapping, compares it with what the
object has, and merge-patches ``/status`` only when they differ. The answer
of the API server becomes the job's known status. Then, for each transition
(taskStatus, Synced), it logs one line (WARNING for a Warning event, else
INFO) and posts one Event. Writes run with bounded concurrency; a
DrsJob deleted meanwhile is never written to (its record is marked deleted,
and a 404 is taken as "gone").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drs_operator import GROUP, KIND, VERSION
from drs_operator.domain.events import EVENT_WARNING, EventSpec, transition_events
from drs_operator.domain.mapping import compute_status
from drs_operator.domain.observations import Observation, Observed
from drs_operator.domain.patching import status_patch
from drs_operator.engine.kube import KubeApi, KubeError
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord, Registry

logger = logging.getLogger(__name__)

COMPONENT = "drs-operator"


@dataclass(frozen=True, slots=True)
class Pending:
    """A status patch to send, with what it changes (for the events)."""

    current: dict[str, Any] | None
    new: dict[str, Any]
    patch: dict[str, Any]
    fingerprint: int


def _fingerprint(observation: Observation) -> int:
    """A hash of the facts observed (pydantic frozen models and dataclasses hash by value)."""
    if isinstance(observation, Observed):
        return hash((type(observation), observation.job))
    return hash(observation)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StatusWriter:
    def __init__(
        self,
        *,
        kube: KubeApi,
        registry: Registry,
        metrics: Metrics,
        concurrency: int = 8,
        events: bool = True,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._kube = kube
        self._registry = registry
        self._metrics = metrics
        self._semaphore = asyncio.Semaphore(concurrency)
        self._events = events
        self._now = now
        self._instance = os.environ.get("POD_NAME") or socket.gethostname()
        self._seq = itertools.count()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._unchanged = metrics.status_writes.labels("unchanged")

    def prepare(self, record: JobRecord, observation: Observation) -> Pending | None:
        """The write this observation needs, or None (synchronous: no I/O).

        The same answer on the same object maps to the same status, so the
        mapping itself is skipped then (any change of the object, our own
        writes included, changes its resourceVersion and so the memo).
        """
        if record.deleted:
            return None
        memo = (_fingerprint(observation), record.generation, record.resource_version)
        if record.written_from == memo:
            self._unchanged.inc()
            return None
        current = record.status or None
        new = compute_status(
            current=current,
            observation=observation,
            generation=record.generation,
            now=self._now(),
            expect=record.spec.expect if record.spec is not None else None,
        )
        patch = status_patch(current, new)
        if patch is None:
            record.written_from = memo
            self._unchanged.inc()
            return None
        return Pending(current=current, new=new, patch=patch, fingerprint=memo[0])

    async def apply(self, record: JobRecord, observation: Observation) -> bool:
        """Write what this observation changes; True when a patch was sent and accepted."""
        pending = self.prepare(record, observation)
        return False if pending is None else await self.write(record, pending)

    async def write(self, record: JobRecord, pending: Pending) -> bool:
        """Send a prepared patch, then its events; True when it was accepted."""
        self._inflight += 1
        self._idle.clear()
        try:
            async with self._semaphore:
                if record.deleted:
                    return False
                try:
                    obj = await self._kube.patch_status(
                        record.namespace, record.name, pending.patch
                    )
                except KubeError as exc:
                    self._metrics.status_writes.labels("error").inc()
                    logger.warning("Status of %s/%s not written: %s", *record.key, exc)
                    return False
                if obj is None:
                    self._metrics.status_writes.labels("gone").inc()
                    self._registry.forget(record.key)
                    return False
                self._metrics.status_writes.labels("written").inc()
                self._registry.written(record, obj)
                record.written_from = (
                    pending.fingerprint,
                    record.generation,
                    record.resource_version,
                )
                for event in transition_events(pending.current, pending.new):
                    # One log line per change the person on call may want to know of.
                    level = logging.WARNING if event.type == EVENT_WARNING else logging.INFO
                    logger.log(level, "%s/%s: %s", *record.key, event.message)
                    if self._events:
                        await self._post(record, event)
                return True
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight writes (graceful shutdown); False if they outlast timeout."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _post(self, record: JobRecord, event: EventSpec) -> None:
        stamp = self._now()
        ts = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        name = f"{record.name}.{int(stamp.timestamp() * 1e9):x}{next(self._seq) % 1000:03d}"
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name[:253], "namespace": record.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": record.name,
                "namespace": record.namespace,
                **({"uid": record.uid} if record.uid else {}),
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance[:128],
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
        }
        try:
            await self._kube.create_event(record.namespace, body)
            self._metrics.events.labels(event.type).inc()
        except KubeError as exc:
            logger.warning("Event for %s/%s not posted: %s", *record.key, exc)
