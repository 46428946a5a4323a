"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

:class:`Leadership` decides whether this process may call DRS and write
statuses: :meth:`Leadership.is_leader` is the gate the refresher, the
querier and the status writer check before every call and every write.
With leader election off it is always True.

With it on, one task keeps trying, every ``retry_period``, to acquire or
renew the Lease ``lease_namespace/lease_name``, as client-go's
``leaderelection`` does (what is written: :mod:`drs_operator.domain.lease`):

- **acquire**: the Lease is created when absent (holder = this process's
  identity); an existing one is taken over when it has no holder (released)
  or when it has not changed for its ``leaseDurationSeconds`` as measured
  on this process's own clock from the moment it was seen to change (so
  clock skew between nodes does not matter). A standby's attempts are spread
  over ``retry_period`` x [1, 1.2), and one is made right when the holder's
  lease runs out;
- **renew**: the leader replaces the Lease with a new ``renewTime`` at the
  ``resourceVersion`` it last wrote; every write carries the
  ``resourceVersion`` it was based on, so of two processes that try at once
  one gets a 409 Conflict and knows someone else holds the Lease;
- **stop at once**: :meth:`Leadership.is_leader` is True only until
  ``renew_deadline`` after the start of the last successful renewal, by the
  clock, whatever the renewing task is doing (an API server that hangs
  cannot keep a leader acting); seeing another holder ends leadership at
  once too. Since ``renew_deadline < lease_duration``, the old leader has
  stopped before any standby may take over;
- **release**: :meth:`Leadership.stop` (SIGTERM, after in-flight work is
  done) clears the holder, so a standby takes over at its next attempt,
  within one retry period, instead of waiting out the lease.

On gaining leadership ``on_gained`` runs (the operator wakes its refresher:
a standby refreshed nothing, so every DrsJob it knows is due), on losing it
``on_lost``. Each gain, loss, release and change of holder is one
log line naming the Lease and the holders; ``drs_operator_leader`` (1/0)
(labelled with the Lease's name) and
``drs_operator_leader_transitions_total{change}`` follow it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from drs_operator.domain import lease as records
from drs_operator.engine.kube import KubeApi, KubeError
from drs_operator.engine.logs import fields
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.settings import RETRY_JITTER, ElectionSettings

__all__ = ["Leadership", "default_identity"]

logger = logging.getLogger(__name__)


def default_identity(environ: Mapping[str, str] | None = None) -> str:
    """The holder identity: ``$POD_NAME`` (the chart sets it), else ``<hostname>_<pid>``."""
    env = os.environ if environ is None else environ
    return env.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Attempt(enum.Enum):
    HELD = "held"  # this process holds the Lease now
    TAKEN = "taken"  # someone else holds it, validly
    FAILED = "failed"  # the API server could not be asked (error, timeout, conflict)


class Leadership:
    """Whether this process may act (call DRS, write), kept by a Lease when enabled."""

    def __init__(
        self,
        settings: ElectionSettings,
        *,
        kube: KubeApi,
        identity: str,
        metrics: Metrics,
        namespace: str | None = None,
        on_gained: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.enabled = settings.enabled
        self.identity = identity
        self.namespace = settings.lease_namespace or namespace or kube.default_namespace
        self.name = settings.lease_name
        self._kube = kube
        self._metrics = metrics
        self._lease_duration = settings.lease_duration
        self._renew_deadline = settings.renew_deadline
        self._retry_period = settings.retry_period
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._clock = clock
        self._now = now
        self._rng = rng or random.Random()
        self._leading = False
        self._renewed_at = -math.inf  # clock() at the start of the last successful renewal
        self._lease: dict[str, Any] | None = None  # the Lease as last read or written
        self._seen: tuple[Any, ...] | None = None  # its spec, to notice changes
        self._seen_at = -math.inf  # clock() when the spec was seen to change
        self._holder: str | None = None  # the holder last seen (for the log)
        self._failing = False  # in a streak of failed attempts (logged once)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._leader_gauge = metrics.leader.labels(self.name if self.enabled else "")
        self._leader_gauge.set(0 if self.enabled else 1)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- the gate ------------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """True while this process may call DRS and write (always, with election off)."""
        if not self.enabled:
            return True
        return self._leading and self._clock() - self._renewed_at < self._renew_deadline

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start campaigning for the Lease (nothing with election off)."""
        if not self.enabled or self._task is not None:
            return
        self._stop.clear()
        logger.info(
            "Leader election on Lease %s as %s (lease %gs, renew deadline %gs, retry %gs)",
            self.where,
            self.identity,
            self._lease_duration,
            self._renew_deadline,
            self._retry_period,
            extra=self._fields(),
        )
        self._task = asyncio.create_task(self.run(self._stop), name="leader-election")

    async def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; with ``release``, clear the holder if this process holds it."""
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:  # let an attempt under way finish (bounded), so the
            # resourceVersion the release is based on is the latest one written
            done, _ = await asyncio.wait([task], timeout=self._renew_deadline)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if release and self.is_leader():
            await self._release()
        if self._leading:  # shutting down without a release (refused, or not asked for)
            self._leading = False
            self._leader_gauge.set(0)
            self._metrics.leader_transitions.labels("released").inc()
            logger.info(
                "Stopped leading on shutdown; Lease %s was not released and expires by itself",
                self.where,
                extra=self._fields(),
            )
            self._on_lost()

    async def run(self, stop: asyncio.Event) -> None:
        """Acquire or renew every retry period until ``stop``; gain and lose on the way."""
        while not stop.is_set():
            started = self._clock()
            try:
                outcome = await asyncio.wait_for(self._attempt(), timeout=self._time_left(started))
            except TimeoutError:
                outcome = self._failed("the Kubernetes API did not answer in time")
            except Exception:  # a bug must not end the campaign (the gate would just close)
                logger.exception(
                    "Lease %s: an attempt failed unexpectedly; trying again", self.where,
                    extra=self._fields(),
                )  # fmt: skip
                outcome = self._failed("an unexpected error (logged above)")
            if outcome is _Attempt.HELD:
                self._renewed_at = started
                if not self._leading:
                    self._gain()
            elif self._leading and outcome is _Attempt.TAKEN:
                self._lose(f"the Lease is held by {self._holder}")
            elif self._leading and self._clock() - self._renewed_at >= self._renew_deadline:
                self._lose(f"could not renew it for {self._renew_deadline:g}s")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._pause())
            except TimeoutError:
                pass

    # -- one attempt ---------------------------------------------------------------------------

    def _time_left(self, started: float) -> float:
        """How long one attempt may take: a leader's, until its deadline."""
        if self._leading:
            return max(0.001, self._renewed_at + self._renew_deadline - started)
        return self._renew_deadline

    def _pause(self) -> float:
        """Until the next attempt: a retry period (a standby's spread, and never past
        the moment the holder's lease runs out; a failing leader's, never past its deadline)."""
        now = self._clock()
        if self._leading:
            pause = self._retry_period
            if self._failing:
                pause = min(pause, max(0.0, self._renewed_at + self._renew_deadline - now))
            return pause
        pause = self._retry_period * self._rng.uniform(1.0, RETRY_JITTER)
        expiry = self._expiry()
        if expiry is not None and now < expiry < now + pause:
            pause = expiry - now + 0.01
        return pause

    def _expiry(self) -> float | None:
        """clock() at which the Lease last seen runs out (None: no other holder)."""
        holder = records.holder_of(self._lease)
        if holder is None or holder == self.identity:
            return None
        return self._seen_at + records.duration_of(self._lease)

    async def _attempt(self) -> _Attempt:
        try:
            if self._leading and self._lease is not None:
                renewed = await self._renew_fast()
                if renewed:
                    return self._ok()
            return await self._acquire_or_renew()
        except KubeError as exc:
            return self._failed(str(exc))

    async def _renew_fast(self) -> bool:
        """Renew at the resourceVersion last written, without reading first (the common case)."""
        assert self._lease is not None
        try:
            self._remember(await self._replace(self._lease, acquire=False))
        except KubeError as exc:
            if exc.status == 409:
                return False  # changed meanwhile: read it and decide
            raise
        return True

    async def _acquire_or_renew(self) -> _Attempt:
        timeout = self._renew_deadline
        lease = await self._kube.get_lease(self.namespace, self.name, timeout=timeout)
        if lease is None:
            try:
                created = await self._kube.create_lease(
                    self.namespace, self._held(None, acquire=True), timeout=timeout
                )
            except KubeError as exc:
                if exc.status == 409:  # created by someone else first
                    return self._failed("another process created the Lease first", taken=True)
                raise
            self._remember(created)
            return self._ok()
        self._remember(lease)
        holder = records.holder_of(lease)
        if holder is not None and holder != self.identity:
            expiry = self._expiry()
            if expiry is not None and self._clock() < expiry:
                return self._ok(_Attempt.TAKEN)
        try:
            self._remember(await self._replace(lease, acquire=holder != self.identity))
        except KubeError as exc:
            if exc.status == 409:  # someone else wrote it first
                return self._failed("another process wrote the Lease first", taken=True)
            raise
        return self._ok()

    def _held(self, lease: Mapping[str, Any] | None, *, acquire: bool) -> dict[str, Any]:
        """The Lease to write: held by this process, renewed now (acquired now if ``acquire``)."""
        return records.held(
            lease,
            name=self.name,
            namespace=self.namespace,
            identity=self.identity,
            duration=self._lease_duration,
            now=self._now(),
            acquire=acquire,
        )

    async def _replace(self, lease: Mapping[str, Any], *, acquire: bool) -> dict[str, Any]:
        return await self._kube.replace_lease(
            self.namespace,
            self.name,
            self._held(lease, acquire=acquire),
            timeout=self._renew_deadline,
        )

    def _remember(self, lease: dict[str, Any]) -> None:
        """Keep the Lease as read or written; note when its spec changed and its holder."""
        self._lease = lease
        seen = records.observed(lease)
        if seen != self._seen:
            self._seen, self._seen_at = seen, self._clock()
        holder = records.holder_of(lease)
        if holder != self._holder:
            if holder and holder != self.identity and not self._leading:
                logger.info(
                    "Standing by: Lease %s is held by %s; watching DrsJobs without calling "
                    "DRS or writing",
                    self.where,
                    holder,
                    extra=self._fields(holder=holder),
                )
            self._holder = holder

    def _ok(self, outcome: _Attempt = _Attempt.HELD) -> _Attempt:
        if self._failing:
            logger.info(
                "Lease %s: the Kubernetes API answers again", self.where, extra=self._fields()
            )
            self._failing = False
        return outcome

    def _failed(self, reason: str, *, taken: bool = False) -> _Attempt:
        if not self._failing and not taken:
            left = self._renewed_at + self._renew_deadline - self._clock()
            if self._leading and left > 0:
                logger.warning(
                    "Lease %s: renewal failed (%s); still the leader for %.1fs",
                    self.where,
                    reason,
                    left,
                    extra=self._fields(cause=reason),
                )
            else:
                logger.warning(
                    "Lease %s: could not be read or written (%s)",
                    self.where,
                    reason,
                    extra=self._fields(cause=reason),
                )
            self._failing = True
        elif taken:
            logger.debug("Lease %s: %s", self.where, reason)
        return _Attempt.TAKEN if taken else _Attempt.FAILED

    # -- transitions ---------------------------------------------------------------------------

    def _fields(self, **more: Any) -> dict[str, Any]:
        """The JSON fields of a line about the Lease (its text names them already)."""
        return fields(
            json_only=True, lease=self.name, leaseNamespace=self.namespace,
            identity=self.identity, **more,
        )  # fmt: skip

    def _gain(self) -> None:
        self._leading = True
        self._leader_gauge.set(1)
        self._metrics.leader_transitions.labels("gained").inc()
        spec = (self._lease or {}).get("spec") or {}
        logger.info(
            "Leading: acquired Lease %s as %s (transitions %s); calling DRS and writing statuses",
            self.where,
            self.identity,
            spec.get("leaseTransitions", 0),
            extra=self._fields(transitions=spec.get("leaseTransitions", 0)),
        )
        self._on_gained()

    def _lose(self, reason: str) -> None:
        self._leading = False
        self._leader_gauge.set(0)
        self._metrics.leader_transitions.labels("lost").inc()
        logger.warning(
            "Standing by: lost Lease %s (%s); stopped calling DRS and writing statuses",
            self.where,
            reason,
            extra=self._fields(cause=reason),
        )
        self._on_lost()

    async def _release(self) -> None:
        """Clear the holder (client-go's release), so a standby need not wait for expiry."""
        lease = self._lease
        if lease is None:
            return
        body = records.released(lease, now=self._now())
        try:
            self._lease = await self._kube.replace_lease(
                self.namespace, self.name, body, timeout=self._retry_period
            )
        except KubeError as exc:
            logger.warning(
                "Lease %s not released (%s); it expires by itself",
                self.where,
                exc,
                extra=self._fields(cause=str(exc)),
            )
            return
        self._leading = False
        self._leader_gauge.set(0)
        self._metrics.leader_transitions.labels("released").inc()
        logger.info(
            "Released Lease %s: a standby takes over at its next attempt",
            self.where,
            extra=self._fields(),
        )
