"""One batch's batch-detail calls, and their failure handling, down to one fact per ID.

:meth:`Querier.query` makes the call for a batch of task IDs on a connection
and turns whatever happens into one observation per ID
(:mod:`drs_operator.domain.observations` decides what each answer means).

Failure handling:
- throttled: back off (jitter, Retry-After) and retry, until the connection has
  been throttled more than ``SUSTAINED`` times in a row: then report;
- a not-found answer: IDs the service named are missing, the rest re-queried;
  when it named none, the batch is split in halves until the bad IDs are
  isolated (the refresher remembers IDs found missing and asks them alone later);
- IDs that simply did not come back are re-queried alone before being called
  missing (a flaky answer must not mark a healthy task gone);
- auth errors drop the token and re-read the Secret for the next refresh;
- service/transport/parse errors back the connection off and keep the last
  good status (only ``Synced`` changes).

A connection that starts backing off is logged once (WARNING: cause and
API code), and once more when its calls succeed again (INFO: how many
backoffs, how long paused); each backoff in between is a DEBUG line.

Every call waits for its connection's pacer (rate limit and backoff) first,
unless the caller already did, then holds one of ``concurrency`` shared slots
for the HTTP call alone. Right before each HTTP call the ``gate`` is asked
(leader election: only the leader calls DRS); when it says no,
:class:`NotLeading` is raised and the batch is abandoned, unanswered.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from drs_operator.domain import observations as facts
from drs_operator.domain.batching import halves
from drs_operator.domain.observations import Observation
from drs_operator.drs.errors import (
    DrsAuthError,
    DrsError,
    DrsNotFoundError,
    DrsRequestError,
    DrsThrottledError,
)
from drs_operator.engine.connections import Connection, Connections, Trouble
from drs_operator.engine.logs import fields
from drs_operator.engine.metrics import Metrics, bounded_code

__all__ = ["SUSTAINED", "NotLeading", "Querier"]

logger = logging.getLogger(__name__)

SUSTAINED = 2  # consecutive throttles after which a connection counts as throttled


class NotLeading(Exception):
    """This process may not call DRS now (it is not the leader): nothing was sent."""


class Querier:
    def __init__(
        self,
        *,
        connections: Connections,
        metrics: Metrics,
        concurrency: int,
        gate: Callable[[], bool] = lambda: True,
    ) -> None:
        self._connections = connections
        self._metrics = metrics
        self._semaphore = asyncio.Semaphore(concurrency)
        self._gate = gate

    async def query(
        self, connection: Connection, ids: Sequence[str], *, paced: bool = False
    ) -> dict[str, Observation]:
        """One fact per ID of ``ids`` (``paced``: the caller passed the pacer already)."""
        return await self._query(connection, ids, paced=paced)

    async def _call(
        self, connection: Connection, ids: Sequence[str], *, paced: bool = False
    ) -> Any:
        """One batch-detail call: the pacer (unless ``paced``: already passed), then a
        concurrency slot for the call alone; throttling is retried after its backoff."""
        for attempt in itertools.count(1):
            if not paced or attempt > 1:
                await connection.pacer.acquire()
            try:
                async with self._semaphore:
                    if not self._gate():
                        raise NotLeading
                    result = await connection.client.batch_detail(ids)
            except DrsThrottledError as exc:
                self._metrics.throttled.labels(bounded_code(exc.code)).inc()
                self._backoff(connection, "throttled", exc.retry_after, exc.code)
                # An isolated throttle is retried after its backoff, so it does not
                # flip Synced; sustained throttling (more than SUSTAINED in a row on
                # this connection, so at most SUSTAINED + 1 attempts) fails fast and
                # reports: every waiting batch retrying would take a window per call.
                if connection.pacer.failures > SUSTAINED:
                    raise
                continue
            connection.pacer.record_success()
            self._recovered(connection)
            return result
        raise AssertionError("unreachable")

    def _backoff(
        self,
        connection: Connection,
        cause: str,
        retry_after: float | None,
        code: str | None = None,
    ) -> None:
        """Slow the connection down; one log line when it starts, DEBUG for each after."""
        delay = connection.pacer.record_failure(retry_after=retry_after)
        self._metrics.backoffs.labels(cause).inc()
        self._metrics.backoff_seconds.inc(delay)
        key = connection.key
        trouble = connection.trouble
        if trouble is None:
            trouble = connection.trouble = Trouble(since=time.monotonic(), cause=cause, code=code)
            logger.warning(
                "DRS connection %s backs off: %s%s; calls paused %.1fs, then slowed until "
                "calls succeed again",
                key,
                cause,
                f" ({code})" if code else "",
                delay,
                extra=fields(endpoint=key.endpoint, projectId=key.project_id, cause=cause,
                             code=code),
            )  # fmt: skip
        else:
            logger.debug("Backing off %s for %.1fs (%s)", key, delay, cause)
        trouble.backoffs += 1
        trouble.paused += delay
        trouble.cause, trouble.code = cause, code or trouble.code

    def _recovered(self, connection: Connection) -> None:
        trouble, connection.trouble = connection.trouble, None
        if trouble is None:
            return
        key = connection.key
        logger.info(
            "DRS connection %s calls succeed again after %d backoffs (%.0fs paused, %.0fs in "
            "all; last cause %s)",
            key,
            trouble.backoffs,
            trouble.paused,
            time.monotonic() - trouble.since,
            trouble.cause,
            extra=fields(endpoint=key.endpoint, projectId=key.project_id, cause=trouble.cause),
        )

    async def _query(
        self,
        connection: Connection,
        ids: Sequence[str],
        *,
        confirm: bool = True,
        paced: bool = False,
    ) -> dict[str, Observation]:
        try:
            result = await self._call(connection, ids, paced=paced)
        except DrsNotFoundError as exc:
            return await self._not_found(connection, ids, exc)
        except DrsRequestError as exc:
            if len(ids) > 1:  # maybe one bad ID spoils the batch: isolate it
                return await self._split(connection, ids)
            return {ids[0]: facts.failure(exc)}
        except DrsAuthError as exc:
            self._connections.on_auth_error(connection)
            return dict.fromkeys(ids, facts.failure(exc))
        except DrsError as exc:
            failed = facts.failure(exc)
            if exc.retryable and not isinstance(exc, DrsThrottledError):
                self._backoff(connection, failed.reason.lower(), None, exc.code)
            return dict.fromkeys(ids, failed)

        observations = facts.observe(result)
        unanswered = result.unanswered
        if unanswered and len(ids) > 1:
            # Re-ask each alone: a dropped ID is only "missing" if it stays away.
            for job_id in unanswered:
                observations.update(await self._query(connection, [job_id]))
        elif unanswered and confirm:
            # Asked alone and still no record: ask once more before calling it gone,
            # so one flaky answer does not mark a healthy task deleted.
            return await self._query(connection, ids, confirm=False)
        elif unanswered:
            observations[unanswered[0]] = facts.unanswered(result.request_id)
        return observations

    async def _not_found(
        self, connection: Connection, ids: Sequence[str], exc: DrsNotFoundError
    ) -> dict[str, Observation]:
        observations = facts.named_missing(exc, ids)
        rest = [i for i in ids if i not in observations]
        if not rest:
            return observations
        if observations:  # the named ones are gone; ask again about the others
            observations.update(await self._query(connection, rest))
            return observations
        return await self._split(connection, ids)

    async def _split(self, connection: Connection, ids: Sequence[str]) -> dict[str, Observation]:
        first, second = halves(ids)
        observations = await self._query(connection, first)
        observations.update(await self._query(connection, second))
        return observations
