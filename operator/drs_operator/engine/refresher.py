"""The refresher: one task that keeps every DrsJob's status current.

Each pass it takes the jobs that are due from the registry, decides locally
what needs no call (invalid spec, suspended, unusable credentials), resolves
the rest to connections, fills partial batches, and runs one batch-detail
call per batch with bounded concurrency and each connection's pacer (rate
limit + backoff).

The calling policy, per connection (endpoint, project, credentials), since
the DRS quota counts calls and a call of ten IDs costs what a call of one does:

1. **Never late.** A job is due at most its interval after its last refresh
   (jitter only shortens it), and a call is made when a job is due; the pass
   that makes it also takes that connection's jobs due within ``cadence.lead``
   (a second), never another connection's.
2. **Ride along.** A call whose batch is not full takes the connection's jobs
   that would otherwise fall due before this call's own jobs come due again,
   soonest first: refreshed early, in a call made anyway, they save the call
   they would have needed, and from then on come due with this call's jobs.
   A job on a shorter cadence than the call's shortest does not ride (it comes
   back sooner anyway, and taking part of its group would split the group).
   A pass batches a connection's jobs shortest cadence first, so its
   in-progress jobs share a call and the partial call, the one with room,
   holds the longest cadences.
3. **Stay together.** All jobs a pass takes for one connection get the same
   jitter draw, so their next refreshes fall together and the connection's
   jobs converge onto shared call times instead of drifting apart; different
   passes, connections and operators draw differently, so they do not hit the
   API in lockstep.
4. **Fair share.** Each pass takes from a connection's queue only what its rate
   limit allows within a tick, less its batches still waiting for a slot; the
   rest stays due for the next pass. A batch waits for its own connection's
   pacer before it takes any shared slot, so one connection's backlog never
   delays another connection's calls, and while slow status writes hold the
   slots no more than a tick's worth of a connection's calls queue for them.

New or changed DrsJobs are due at once (a change of ``spec.expect`` alone
needs no call: the last observation is judged again at the next pass, and
the job keeps its place); in-progress tasks are refreshed at least every
in-progress cadence.

What a call returns is turned into one observation per task ID (facts only,
by :mod:`drs_operator.domain.observations`, which also decides the reasons,
messages and the cadence that follows); the status writer decides what to
write. This module does the scheduling around those decisions: which jobs go
into which call, when, and when each job is due again.

Each batch's calls and their failure handling (throttling, isolating bad
IDs, re-asking unanswered ones, auth errors, backoff) are
:class:`drs_operator.engine.querying.Querier`'s; the IDs found missing are
remembered here and put in batches of their own.

Leader election: the ``gate`` (:meth:`drs_operator.engine.leader.Leadership.is_leader`)
says whether this process may act. While it says no (a standby, or a leader
past its renew deadline) the loop keeps ticking (liveness) but takes no job,
resolves no credentials and makes no call; a batch under way when it closes
makes no further call, and its answers are dropped unwritten (its jobs are
put back: the new leader refreshes them).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from drs_operator.domain import observations as facts
from drs_operator.domain.batching import Batch, ConnectionKey, plan_batches
from drs_operator.domain.cadence import Pace, base_interval, jittered, next_interval
from drs_operator.domain.credentials import CredentialsError
from drs_operator.domain.observations import (
    Failed,
    Missing,
    Observation,
    Observed,
    Reevaluated,
    pace_of,
)
from drs_operator.engine.connections import Connection, Connections
from drs_operator.engine.logs import fields, job_fields
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.querying import NotLeading, Querier
from drs_operator.engine.registry import JobRecord, Registry
from drs_operator.engine.settings import Settings
from drs_operator.engine.writer import Pending, StatusWriter, job_id_of

logger = logging.getLogger(__name__)

Target = tuple[ConnectionKey, str]


def _job(record: JobRecord) -> dict[str, Any]:
    return job_fields(*record.key, job_id_of(record))


class Refresher:
    def __init__(
        self,
        *,
        registry: Registry,
        connections: Connections,
        writer: StatusWriter,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        gate: Callable[[], bool] = lambda: True,
    ) -> None:
        self._gate = gate
        self._registry = registry
        self._connections = connections
        self._writer = writer
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._querier = Querier(
            connections=connections,
            metrics=metrics,
            concurrency=settings.batching.max_concurrency,
            gate=gate,
        )
        self._batch_slots = asyncio.Semaphore(
            settings.batching.max_concurrency
            + max(1, settings.writing.write_concurrency // settings.batching.batch_size)
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._missing: set[Target] = set()
        self._waiting: dict[ConnectionKey, int] = {}  # batches started, no slot yet
        self.last_pass = clock()
        self._refreshed: dict[type[Observation], Any] = {
            kind: metrics.jobs_refreshed.labels(kind.__name__.lower())
            for kind in (Observed, Missing, Failed)
        }

    # -- the loop --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        tick = self._settings.cadence.tick
        last_sweep = self._clock()
        while not stop.is_set():
            leading = self._gate()
            try:
                if leading:
                    await self.refresh_once()
            except Exception:  # a bug must not stop refreshing for everyone
                logger.exception("Refresher pass failed")
            self.last_pass = self._clock()
            self._metrics.last_pass.set(time.time())
            # A standby refreshes nothing: no lag of its own to report.
            self._metrics.refresh_lag.set(self._registry.oldest_due_age() if leading else 0.0)
            if self._clock() - last_sweep > 60:
                last_sweep = self._clock()
                await self._connections.sweep()
                self._prune_missing()
            wait = self._registry.next_due_in()
            # Due right after a pass means held back by a connection's rate limit:
            # the next pass in a tick finds that connection's next calls' worth.
            wait = tick if wait is None or wait <= 0 else min(max(wait, 0.05), tick)
            self._registry.wakeup.clear()
            waiters = [asyncio.ensure_future(stop.wait())]
            waiters.append(asyncio.ensure_future(self._registry.wakeup.wait()))
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            # Let a burst of new DrsJobs arrive before batching them.
            if self._registry.wakeup.is_set() and not stop.is_set():
                await asyncio.sleep(min(0.2, tick))

    def _prune_missing(self) -> None:
        """Forget known-missing IDs no DrsJob asks for any more on an open connection."""
        wanted = {
            (record.connection_key, record.spec.job_id)
            for record in self._registry
            if record.spec is not None and record.connection_key is not None
        }
        self._missing = {
            target
            for target in self._missing
            if target in wanted and self._connections.get(target[0]) is not None
        }

    async def drain(self, timeout: float) -> None:
        """Wait for in-flight batches (graceful shutdown), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)

    # -- one pass ----------------------------------------------------------------------------

    async def refresh_once(self) -> None:
        if not self._gate():  # not the leader: another process refreshes
            return
        cadence = self._settings.cadence
        await self._reevaluate()
        records = self._registry.take_due(lead=cadence.lead, limit=self._room)
        if not records:
            return
        targets: dict[Target, list[JobRecord]] = {}
        connections: dict[ConnectionKey, Connection] = {}
        await self._resolve(records, targets, connections)
        draws = {key: self._rng.random() for key in connections}  # one per connection
        self._fill(targets, draws)
        batches = plan_batches(
            targets.keys(),
            batch_size=self._settings.batching.batch_size,
            known_missing=self._missing,
        )
        budget = {key: self._budget(connection) for key, connection in connections.items()}
        for batch in batches:
            key = batch.connection
            if budget[key] <= 0:  # over this connection's rate: the next pass takes them
                for job_id in batch.job_ids:
                    for record in targets.pop((key, job_id), ()):
                        self._registry.put_back(record)
                continue
            budget[key] -= 1
            self._waiting[key] = self._waiting.get(key, 0) + 1
            task = asyncio.create_task(
                self._run_batch(batch, connections[key], targets, draw=draws[key])
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reevaluate(self) -> None:
        """Judge the last observation again for jobs whose spec.expect changed (no call)."""
        for record in self._registry.take_reevaluations():
            try:
                await self._writer.apply(record, Reevaluated())
            except Exception:  # a bug must not stop the pass
                logger.exception(
                    "%s/%s: re-evaluating failed unexpectedly", *record.key, extra=_job(record)
                )

    def _budget(self, connection: Connection) -> int:
        """Batches this connection may start now: what its rate allows within a tick,
        less its batches started and still without a slot (waiting for its pacer or
        for a slot); one may always wait when none does."""
        waiting = self._waiting.get(connection.key, 0)
        allowed = connection.pacer.capacity(within=self._settings.cadence.tick) - waiting
        return allowed if allowed > 0 else int(waiting == 0)

    def _room(self, key: ConnectionKey | None) -> int | None:
        """How many due jobs of one connection's queue a pass takes (None: all)."""
        connection = self._connections.get(key) if key is not None else None
        if connection is None:  # unresolved jobs, or a connection closed meanwhile
            return None
        return self._budget(connection) * self._settings.batching.batch_size

    async def _resolve(
        self,
        records: Sequence[JobRecord],
        targets: dict[Target, list[JobRecord]],
        connections: dict[ConnectionKey, Connection],
    ) -> None:
        for record in records:
            if record.spec is None:
                error = record.spec_error
                await self._finish(record, facts.invalid_spec(str(error) if error else None))
                continue
            if record.spec.suspend:
                await self._finish(record, facts.suspended())
                continue
            try:
                connection = self._connections.cached(record) or await self._connections.resolve(
                    record
                )
            except CredentialsError as exc:
                await self._finish(record, Failed(exc.reason, str(exc)))
                continue
            except Exception as exc:  # a bug must not leave the job in flight forever
                logger.exception(
                    "%s/%s: resolving failed unexpectedly", *record.key, extra=_job(record)
                )
                await self._finish(record, facts.internal_error(exc))
                continue
            record.connection_key = connection.key
            connections[connection.key] = connection
            targets.setdefault((connection.key, record.spec.job_id), []).append(record)

    def _interval(self, record: JobRecord) -> float:
        override = record.spec.refresh_interval if record.spec else None
        return base_interval(record.pace, settings=self._settings.cadence, override=override)

    def _fill(
        self, targets: dict[Target, list[JobRecord]], draws: dict[ConnectionKey, float]
    ) -> None:
        """Order each connection's jobs for batching and fill its partial batch.

        Shortest cadence first: a connection's in-progress jobs share its first
        call, and its last, partial call holds its longest cadences. That call's
        jobs come due again after the shortest of their intervals (shortened by
        the pass's jitter draw for the connection, as :meth:`_done` will): a job of
        the connection due before then rides in it, soonest first, unless its own
        interval is shorter than that shortest one. New jobs (no cadence yet) set
        no horizon: a partial call of new jobs only takes no riders.
        """
        size = self._settings.batching.batch_size
        lead = self._settings.cadence.lead
        order = sorted(targets, key=lambda t: min(self._interval(r) for r in targets[t]))
        arranged = {target: targets[target] for target in order}
        targets.clear()
        targets.update(arranged)
        partial: dict[ConnectionKey, list[Target]] = {}
        for target in targets:
            if target not in self._missing:
                partial.setdefault(target[0], []).append(target)
        for key, healthy in partial.items():
            room = -len(healthy) % size
            last = healthy[len(healthy) - (size - room) :] if room else []
            paced = [
                self._interval(r) for t in last for r in targets[t] if r.pace is not Pace.IMMEDIATE
            ]
            if not paced:
                continue
            shortest = min(paced)
            back = jittered(shortest, settings=self._settings.cadence, draw=draws[key])
            back = max(back, lead)

            def horizon(record: JobRecord, shortest: float = shortest, back: float = back) -> float:
                return back if self._interval(record) >= shortest else -math.inf

            def rides(record: JobRecord, key: ConnectionKey = key) -> bool:
                spec = record.spec
                if spec is None or spec.suspend:
                    return False
                if (key, spec.job_id) in self._missing or (key, spec.job_id) in targets:
                    return False
                # Only while its Secret still resolves to this connection (rotation).
                known = self._connections.cached(record)
                return known is not None and known.key == key

            for record in self._registry.take_soonest(
                key, count=room, horizon=horizon, accept=rides
            ):
                assert record.spec is not None
                targets.setdefault((key, record.spec.job_id), []).append(record)

    # -- one batch -------------------------------------------------------------------------

    async def _run_batch(
        self,
        batch: Batch[ConnectionKey],
        connection: Connection,
        targets: dict[Target, list[JobRecord]],
        *,
        draw: float,
    ) -> None:
        # The connection's own rate limit is waited for before any shared slot is
        # taken: one connection's backlog never holds the others' calls up. The
        # batch counts against its connection's budget until it holds a slot, so
        # batches queued behind slow writes stay within a tick of the rate and a
        # release does not send a backlog of paced calls at once.
        # A batch holds a slot from its call until its writes are done: when the
        # API server is slower than DRS (10,000 new DrsJobs), answers wait in DRS
        # instead of piling up here as parsed jobs (backpressure, bounded memory).
        try:
            await connection.pacer.acquire()
            await self._batch_slots.acquire()
        finally:
            self._waiting[connection.key] -= 1
        try:
            try:
                observations = await self._querier.query(connection, batch.job_ids, paced=True)
            except NotLeading:
                self._abandon(batch, targets)
                return
            except Exception as exc:  # never leave jobs in flight forever
                key = connection.key
                logger.exception(
                    "Batch of %d jobs on %s failed unexpectedly",
                    len(batch.job_ids),
                    key,
                    extra=fields(endpoint=key.endpoint, projectId=key.project_id),
                )
                observations = dict.fromkeys(batch.job_ids, facts.internal_error(exc))
            if not self._gate():  # leadership ended during the call: write nothing
                self._abandon(batch, targets)
                return
            writes: list[Coroutine[Any, Any, None]] = []
            for job_id in batch.job_ids:
                observation = observations.get(job_id) or facts.no_answer()
                target = (connection.key, job_id)
                if isinstance(observation, Missing):
                    self._missing.add(target)
                elif isinstance(observation, Observed):
                    self._missing.discard(target)
                for record in targets.get(target, ()):
                    # Most refreshes change nothing: decide synchronously and only
                    # start a coroutine for the records that need a write.
                    try:
                        pending = self._writer.prepare(record, observation)
                    except Exception:  # a bug must not leave the job in flight forever
                        logger.exception(
                            "%s/%s: mapping failed unexpectedly", *record.key, extra=_job(record)
                        )
                        pending = None
                    if pending is None:
                        self._done(record, observation, connection, draw)
                    else:
                        writes.append(self._write(record, pending, observation, connection, draw))
            if writes:
                await asyncio.gather(*writes)
        finally:
            self._batch_slots.release()

    def _abandon(self, batch: Batch[ConnectionKey], targets: dict[Target, list[JobRecord]]) -> None:
        """Put a batch's jobs back unrefreshed (this process stopped leading)."""
        for job_id in batch.job_ids:
            for record in targets.get((batch.connection, job_id), ()):
                self._registry.put_back(record)

    async def _write(
        self,
        record: JobRecord,
        pending: Pending,
        observation: Observation,
        connection: Connection | None,
        draw: float,
    ) -> None:
        written = False
        try:
            written = await self._writer.write(record, pending)
        finally:
            # A write the API server refused is tried again on the error cadence.
            self._done(record, observation, connection, draw, write_failed=not written)

    async def _finish(self, record: JobRecord, observation: Observation) -> None:
        """A refresh that made no call (bad spec, suspended, unusable credentials)."""
        try:
            await self._writer.apply(record, observation)
        finally:
            self._done(record, observation, None, self._rng.random())

    def _done(
        self,
        record: JobRecord,
        observation: Observation,
        connection: Connection | None,
        draw: float,
        *,
        write_failed: bool = False,
    ) -> None:
        """Count the refresh and schedule the next one by what was observed."""
        self._refreshed[type(observation)].inc()
        pace = Pace.ERROR if write_failed and not record.deleted else pace_of(observation)
        override = record.spec.refresh_interval if record.spec else None
        delay = next_interval(pace, settings=self._settings.cadence, override=override, draw=draw)
        if connection is not None and pace is Pace.ERROR:
            delay = max(delay, connection.pacer.blocked_for)
        self._registry.reschedule(record, pace, delay)
