"""The status writer: one observation in, at most one status patch out.

It computes the new status with the pure mapping, compares it with what the
object has, and merge-patches ``/status`` only when they differ. The answer
of the API server becomes the job's known status. Then, for each transition
(taskStatus, Synced), it logs one line (WARNING for a Warning event, else
INFO) and posts one Event. Writes run with bounded concurrency; a
DrsJob deleted meanwhile is never written to (its record is marked deleted,
and a 404 is taken as "gone"). Right before each patch and each Event the
``gate`` is asked (leader election: only the leader writes); when it says
no, nothing is sent (``drs_operator_status_writes_total{outcome="not_leader"}``).

Log lines carry the job as fields (:func:`drs_operator.engine.logs.job_fields`:
namespace, name, jobId) and what changed: ``event`` (the Event's reason),
``taskStatus``/``phase`` (and ``errorCode`` of a failed task) for a task
transition, ``reason`` (the new ``Synced`` reason: ``NotFound``,
``AuthFailed``, ``CredentialsMissing``, ...) for a Synced change,
``driftState`` for a drift change (``DriftDetected``/``DriftResolved``). A status
patch or Event the API server refuses (e.g. 403: the operator's role lacks a
permission) is logged once per job and kind of failure, not on every
refresh, and once more when writing works again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drs_operator import GROUP, KIND, VERSION
from drs_operator.domain import conditions as c
from drs_operator.domain.events import (
    EVENT_WARNING,
    REASON_DRIFT_DETECTED,
    REASON_DRIFT_RESOLVED,
    REASON_SYNC_FAILED,
    REASON_SYNC_RECOVERED,
    REASON_SYNC_SUSPENDED,
    REASON_SYNC_UNKNOWN,
    REASON_TASK_OBSERVED,
    REASON_TASK_STATUS_CHANGED,
    EventSpec,
    transition_events,
)
from drs_operator.domain.mapping import compute_status
from drs_operator.domain.observations import Observation, Observed
from drs_operator.domain.patching import status_patch
from drs_operator.drs.text import one_line
from drs_operator.engine.kube import KubeApi, KubeError
from drs_operator.engine.logs import fields, job_fields
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord, Registry

logger = logging.getLogger(__name__)

COMPONENT = "drs-operator"
SYNC_EVENTS = frozenset(
    {REASON_SYNC_FAILED, REASON_SYNC_RECOVERED, REASON_SYNC_SUSPENDED, REASON_SYNC_UNKNOWN}
)
MAX_FAILURES_REMEMBERED = 10_000  # jobs whose last write failed (the log is deduplicated)
# A failure that hits many DrsJobs at once (RBAC, the API server) is logged for this many
# of them, then once for all the others; its end once for all.
LOGGED_PER_FAILURE = 3
_MAX_LOGGED_DETAIL = 300


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


def job_id_of(record: JobRecord) -> str | None:
    """The DRS task ID of a record (from the raw spec when the spec is invalid)."""
    if record.spec is not None:
        return record.spec.job_id
    raw = record.raw_spec.get("jobId")
    return raw if isinstance(raw, str) else None


def describe_transition(event: EventSpec, new: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The log message and fields for one transition (from the status: no secrets)."""
    extra: dict[str, Any] = {"event": event.reason}
    message = event.message
    if event.reason in (REASON_TASK_OBSERVED, REASON_TASK_STATUS_CHANGED):
        extra["taskStatus"] = new.get("taskStatus")
        extra["phase"] = new.get("phase")
        if new.get("phase") == "Failed":
            extra["errorCode"] = new.get("errorCode")
            detail = one_line(
                new.get("failedReason") or new.get("errorMessage"), _MAX_LOGGED_DETAIL
            )
            if detail:
                message = f"{message}: {detail}"
    elif event.reason in SYNC_EVENTS:
        conditions = new.get("conditions")
        synced = c.get_condition(conditions if isinstance(conditions, list) else [], c.SYNCED)
        if synced is not None:
            extra["reason"] = synced.get("reason")
    elif event.reason in (REASON_DRIFT_DETECTED, REASON_DRIFT_RESOLVED):
        drift = new.get("drift")
        if isinstance(drift, dict):
            extra["driftState"] = drift.get("state")
    # Any other event (a kind added later) is logged with its own message and reason.
    return message, {k: v for k, v in extra.items() if v is not None}


def _failure_kind(exc: KubeError) -> str:
    if exc.status == 403:
        return "permission denied (HTTP 403): the operator's role lacks a permission"
    if exc.status is None:
        return "Kubernetes API unreachable"
    return f"HTTP {exc.status} {exc.reason or ''}".rstrip()


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
        gate: Callable[[], bool] = lambda: True,
    ) -> None:
        self._gate = gate
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
        # (namespace, name, what) -> the kind of the last failure logged for it
        self._failing: dict[tuple[str, str, str], str] = {}  # (ns, name, what) -> kind
        self._failing_now: Counter[tuple[str, str]] = Counter()  # (what, kind) -> jobs
        self._failing_peak: dict[tuple[str, str], int] = {}  # ... most at once, this episode

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
                if not self._gate():  # no longer the leader: another process writes now
                    self._metrics.status_writes.labels("not_leader").inc()
                    return False
                try:
                    obj = await self._kube.patch_status(
                        record.namespace, record.name, pending.patch
                    )
                except KubeError as exc:
                    self._metrics.status_writes.labels("error").inc()
                    self._failed(record, "status", exc)
                    return False
                if obj is None:
                    self._metrics.status_writes.labels("gone").inc()
                    self._forget_failure((*record.key, "status"))
                    self._registry.forget(record.key)
                    return False
                self._metrics.status_writes.labels("written").inc()
                self._recovered(record, "status")
                self._registry.written(record, obj)
                record.written_from = (
                    pending.fingerprint,
                    record.generation,
                    record.resource_version,
                )
                for event in transition_events(pending.current, pending.new):
                    # One log line per change the person on call may want to know of.
                    level = logging.WARNING if event.type == EVENT_WARNING else logging.INFO
                    message, extra = describe_transition(event, pending.new)
                    logger.log(
                        level,
                        "%s",
                        message,
                        extra=job_fields(*record.key, job_id_of(record), **extra),
                    )
                    if self._events and self._gate():
                        await self._post(record, event)
                return True
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    def _failed(self, record: JobRecord, what: str, exc: KubeError) -> None:
        """Log a refused write once per job and kind of failure (not on every refresh),
        and for at most :data:`LOGGED_PER_FAILURE` jobs per kind: a failure of every
        DrsJob at once (a missing RBAC rule) is a few lines, not one per DrsJob."""
        kind = _failure_kind(exc)
        key = (*record.key, what)
        if self._failing.get(key) == kind:
            logger.debug("%s of %s/%s not written again: %s", what, *record.key, exc)
            return
        if len(self._failing) >= MAX_FAILURES_REMEMBERED:
            self._failing.clear()
            self._failing_now.clear()
            self._failing_peak.clear()
        self._forget_failure(key)
        self._failing[key] = kind
        group = (what, kind)
        self._failing_now[group] += 1
        count = self._failing_now[group]
        self._failing_peak[group] = max(self._failing_peak.get(group, 0), count)
        detail = one_line(str(exc), _MAX_LOGGED_DETAIL)
        noun = "Status not written" if what == "status" else "Event not posted"
        if count > LOGGED_PER_FAILURE + 1:
            logger.debug("%s for %s/%s: %s; %s", noun, *record.key, kind, detail)
            return
        if count == LOGGED_PER_FAILURE + 1:
            logger.warning(
                "%s for more DrsJobs: %s; %s (further ones at DEBUG; "
                "drs_operator_status_writes_total{outcome=\"error\"} counts them)",
                noun, kind, detail, extra=fields(httpStatus=exc.status),
            )  # fmt: skip
            return
        logger.warning(
            "%s: %s; %s",
            noun,
            kind,
            detail,
            extra=job_fields(*record.key, job_id_of(record), httpStatus=exc.status),
        )

    def _forget_failure(self, key: tuple[str, str, str]) -> tuple[str, int] | None:
        """Drop a job's failure; its kind and how many jobs had it at most, or None."""
        kind = self._failing.pop(key, None)
        if kind is None:
            return None
        group = (key[2], kind)
        peak = self._failing_peak.get(group, 0)
        self._failing_now[group] -= 1
        if self._failing_now[group] <= 0:
            del self._failing_now[group]
            self._failing_peak.pop(group, None)
        return kind, peak

    def _recovered(self, record: JobRecord, what: str) -> None:
        forgotten = self._forget_failure((*record.key, what))
        if forgotten is None:
            return
        kind, peak = forgotten
        noun = "Status written" if what == "status" else "Event posted"
        if peak <= LOGGED_PER_FAILURE:
            logger.info("%s again", noun, extra=job_fields(*record.key, job_id_of(record)))
        elif (what, kind) not in self._failing_now:  # the last of many
            logger.info("%s again for all %d DrsJobs that had failed (%s)", noun, peak, kind)
        else:
            logger.debug("%s again for %s/%s", noun, *record.key)

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
            self._failed(record, "event", exc)
        else:
            self._recovered(record, "event")
