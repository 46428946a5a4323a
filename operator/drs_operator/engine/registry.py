"""The in-memory index of DrsJobs and when each is due.

kopf's watch feeds :meth:`Registry.observe` with every DrsJob it sees; the
refresher takes the jobs that are due with :meth:`Registry.take_due` (capped
per connection), fills partial batches with :meth:`Registry.take_soonest`,
returns jobs it did not refresh with :meth:`Registry.put_back` and the ones it
refreshed with :meth:`Registry.reschedule`. Nothing here does I/O.

Due times live in one heap per connection (the job's ``connection_key``; None
for jobs not resolved yet) with lazy invalidation, so finding the due jobs
costs O(due · log N), not a scan of all N jobs every tick, and one
connection's backlog never stands in front of another connection's jobs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from drs_operator.domain.batching import ConnectionKey
from drs_operator.domain.cadence import Pace
from drs_operator.domain.formats import resource_version as version_number
from drs_operator.domain.spec import JobSpec, SpecError, parse_spec

Key = tuple[str, str]  # (namespace, name)
QueueKey = ConnectionKey | None  # which due-time queue a job waits in
Entry = tuple[float, int, Key, int]  # (due, sequence, key, token)
# (hash of the observation, generation, resourceVersion) a status was computed from.
WriteMemo = tuple[int, int | None, str | None]
# A pass woken by a timer may run a hair before the due time it was set for.
_TIMER_SLACK = 0.01


# (phase, ((condition type, status), ...), drift state), for the metrics
Summary = tuple[Any, tuple[tuple[Any, Any], ...], Any]


def _encode(status: Mapping[str, Any]) -> bytes:
    return json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode()


def _summary(status: Mapping[str, Any]) -> Summary:
    conditions = status.get("conditions")
    pairs = tuple(
        (sys.intern(str(c.get("type"))), sys.intern(str(c.get("status"))))
        for c in (conditions if isinstance(conditions, list) else ())
        if isinstance(c, Mapping)
    )
    phase = status.get("phase")
    drift = status.get("drift")
    state = drift.get("state") if isinstance(drift, Mapping) else None
    return (
        sys.intern(phase) if isinstance(phase, str) else None,
        pairs,
        sys.intern(state) if isinstance(state, str) else None,
    )


@dataclass(eq=False, slots=True)
class JobRecord:
    namespace: str
    name: str
    uid: str | None
    generation: int | None
    resource_version: str | None
    raw_spec: dict[str, Any]
    spec: JobSpec | None
    spec_error: SpecError | None
    # The known .status, kept as compact JSON (a tenth of the memory of the dicts
    # at 10,000 DrsJobs); decoded only when a new observation must be compared.
    status_json: bytes = b"{}"
    summary: Summary = (None, (), None)  # phase, conditions and drift, for the metrics
    due: float = 0.0
    pace: Pace = Pace.IMMEDIATE
    in_flight: bool = False
    deleted: bool = False
    token: int = 0  # bumps on every reschedule; stale heap entries are skipped
    again: bool = False  # changed while in flight: refresh again right after
    # Owned by the refresher: the connection this job resolved to last (for batching).
    connection_key: ConnectionKey | None = None
    # Owned by the status writer: what the current status was last computed from.
    written_from: WriteMemo | None = None

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

    @property
    def status(self) -> dict[str, Any]:
        """The known status (a fresh copy: changing it changes nothing here)."""
        value = json.loads(self.status_json)
        return value if isinstance(value, dict) else {}

    @status.setter
    def status(self, value: Mapping[str, Any]) -> None:
        self.status_json = _encode(value)
        self.summary = _summary(value)


def _same_task(old: JobSpec | None, new: JobSpec | None) -> bool:
    """Both specs valid and asking for the same task the same way (``expect`` aside):
    a changed ``expect``, or a field written out at its default, needs no call."""
    if old is None or new is None:
        return False
    return replace(old, expect=None) == replace(new, expect=None)


class Registry:
    def __init__(
        self,
        *,
        default_credentials: str,
        min_refresh_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._default_credentials = default_credentials
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._records: dict[Key, JobRecord] = {}
        # One due-time heap per connection (None: jobs not resolved to a connection yet),
        # with lazy invalidation: an entry is live while its token matches the record's.
        self._queues: dict[QueueKey, list[Entry]] = {None: []}
        self._seq = itertools.count()
        self._reevaluate: set[Key] = set()  # jobs whose spec changed but not the task it asks for
        self.wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[JobRecord]:
        return iter(list(self._records.values()))

    # -- fed by the watch -------------------------------------------------------------

    def observe(self, *, event_type: str | None, body: Mapping[str, Any]) -> JobRecord | None:
        """Take one watch event: a new, changed or deleted DrsJob."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if not key[1]:
            return None
        if event_type == "DELETED":
            self.forget(key)
            return None
        record = self._records.get(key)
        uid = meta.get("uid")
        raw_spec = dict(body.get("spec") or {})
        status = dict(body.get("status") or {})
        generation = meta.get("generation")
        resource_version = meta.get("resourceVersion")
        if record is None or (uid and record.uid and uid != record.uid):
            if record is not None:
                record.deleted = True  # the old incarnation: its in-flight writes are dropped
            record = JobRecord(
                namespace=key[0],
                name=key[1],
                uid=uid,
                generation=generation,
                resource_version=resource_version,
                raw_spec=raw_spec,
                spec=None,
                spec_error=None,
            )
            record.status = status
            self._parse(record)
            self._records[key] = record
            self.schedule(record, Pace.IMMEDIATE, 0.0)
            return record

        newer = version_number(resource_version)
        known = version_number(record.resource_version)
        if newer is not None and known is not None and newer < known:
            return record  # an event older than what we wrote; ignore it
        record.resource_version = resource_version
        record.uid = record.uid or uid
        record.status = status
        if raw_spec != record.raw_spec or generation != record.generation:
            changed_spec = raw_spec != record.raw_spec
            old_spec = record.spec
            record.raw_spec = raw_spec
            record.generation = generation
            if changed_spec:
                self._parse(record)
                if _same_task(old_spec, record.spec):
                    self._reevaluate.add(key)  # judged again without a call; keeps its place
                    self.wakeup.set()
                else:
                    self.schedule(record, Pace.IMMEDIATE, 0.0)
        return record

    def forget(self, key: Key) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            record.deleted = True

    def _parse(self, record: JobRecord) -> None:
        try:
            record.spec = parse_spec(
                record.raw_spec,
                default_credentials=self._default_credentials,
                min_refresh_interval=self._min_refresh_interval,
            )
            record.spec_error = None
        except SpecError as exc:
            record.spec = None
            record.spec_error = exc

    # -- fed by the status writer ------------------------------------------------------

    def written(self, record: JobRecord, obj: Mapping[str, Any]) -> None:
        """The API server's answer to our status patch: the newest truth."""
        if record.deleted:
            return
        meta = obj.get("metadata") or {}
        newer = version_number(meta.get("resourceVersion"))
        known = version_number(record.resource_version)
        if newer is not None and known is not None and newer < known:
            return
        record.resource_version = meta.get("resourceVersion", record.resource_version)
        record.status = dict(obj.get("status") or {})

    # -- used by the refresher ---------------------------------------------------------

    def _queue(self, key: QueueKey) -> list[Entry]:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
        return queue

    def _live(self, entry: Entry) -> JobRecord | None:
        """The record an entry stands for, unless the entry is stale."""
        record = self._records.get(entry[2])
        if record is None or record.token != entry[3] or record.in_flight:
            return None
        return record

    def schedule(self, record: JobRecord, pace: Pace, delay: float) -> None:
        """Due ``delay`` seconds from now, in the queue of its connection (None: unresolved)."""
        if record.in_flight:
            record.again = record.again or delay <= 0
            return
        record.token += 1
        record.pace = pace
        record.due = self._clock() + delay
        self._push(record)
        if delay <= 0:
            self.wakeup.set()

    def _push(self, record: JobRecord) -> None:
        queue = self._queue(record.connection_key)
        heapq.heappush(queue, (record.due, next(self._seq), record.key, record.token))
        if len(queue) > 4 * max(16, len(self._records)):
            self._compact(queue)

    def put_back(self, record: JobRecord) -> None:
        """A taken job not refreshed after all: due as it was, in its connection's queue."""
        record.in_flight = False
        if record.deleted:
            return
        record.token += 1
        if record.again:  # the spec changed meanwhile
            record.again = False
            record.pace, record.due = Pace.IMMEDIATE, self._clock()
        self._push(record)

    def take_due(
        self, *, lead: float = 0.0, limit: Callable[[QueueKey], int | None] = lambda _: None
    ) -> list[JobRecord]:
        """The jobs due now, and with them the same queue's jobs due within ``lead``
        seconds (marked in flight), soonest first per queue.

        A queue with nothing due now (within the event loop's timer slack) hands out
        nothing: a pass woken for one
        connection never pulls another connection's jobs early (their calls
        would come sooner than their cadence asks). ``limit(queue)`` caps how
        many one connection's queue hands out (None: no cap); the rest stay
        due, in order, for the next pass.
        """
        now = self._clock()
        until = now + lead
        taken: list[JobRecord] = []
        for key, queue in list(self._queues.items()):
            head = self._head(queue)
            if head is None or head - now > _TIMER_SLACK:
                if not queue and key is not None:
                    del self._queues[key]
                continue
            room = limit(key)
            count = 0
            while queue and queue[0][0] <= until and (room is None or count < room):
                record = self._live(heapq.heappop(queue))
                if record is None:
                    continue
                record.in_flight = True
                taken.append(record)
                count += 1
            if not queue and key is not None:
                del self._queues[key]
        return taken

    def take_soonest(
        self,
        key: QueueKey,
        *,
        count: int,
        horizon: Callable[[JobRecord], float],
        accept: Callable[[JobRecord], bool] = lambda _: True,
        max_scan: int = 200,
    ) -> list[JobRecord]:
        """Up to ``count`` jobs of one connection's queue that are due within their ``horizon``.

        Scans that queue soonest-due first (at most ``max_scan`` jobs); a job is
        taken (in flight) when its due time is at most ``horizon(job)`` seconds
        away and ``accept(job)``; the ones not taken keep their place.
        """
        queue = self._queues.get(key)
        if not queue or count <= 0:
            return []
        now = self._clock()
        taken: list[JobRecord] = []
        kept: list[Entry] = []
        scanned = 0
        while queue and scanned < max_scan and len(taken) < count:
            entry = heapq.heappop(queue)
            record = self._live(entry)
            if record is None:
                continue
            scanned += 1
            if entry[0] - now <= horizon(record) and accept(record):
                record.in_flight = True
                taken.append(record)
            else:
                kept.append(entry)
        for entry in kept:
            heapq.heappush(queue, entry)
        return taken

    def take_reevaluations(self) -> list[JobRecord]:
        """Jobs whose spec changed but not the task it asks for (``spec.expect``, a default
        written out), not in flight (the others wait)."""
        taken = []
        for key in list(self._reevaluate):
            record = self._records.get(key)
            if record is None:
                self._reevaluate.discard(key)
            elif not record.in_flight:
                self._reevaluate.discard(key)
                taken.append(record)
        return taken

    def reschedule(self, record: JobRecord, pace: Pace, delay: float) -> None:
        record.in_flight = False
        if record.deleted:
            return
        if record.again:  # the spec changed while this refresh was in flight
            record.again = False
            pace, delay = Pace.IMMEDIATE, 0.0
        self.schedule(record, pace, delay)

    def _head(self, queue: list[Entry]) -> float | None:
        while queue:
            if self._live(queue[0]) is None:
                heapq.heappop(queue)
                continue
            return queue[0][0]
        return None

    def next_due_in(self) -> float | None:
        """Seconds until the earliest due job, or None when nothing is scheduled."""
        heads = [h for q in self._queues.values() if (h := self._head(q)) is not None]
        return max(0.0, min(heads) - self._clock()) if heads else None

    def oldest_due_age(self) -> float:
        """How late the most overdue job is (the refresh lag), in seconds."""
        heads = [h for q in self._queues.values() if (h := self._head(q)) is not None]
        return max(0.0, self._clock() - min(heads)) if heads else 0.0

    def _compact(self, queue: list[Entry]) -> None:
        live = [entry for entry in queue if self._live(entry) is not None]
        heapq.heapify(live)
        queue[:] = live
