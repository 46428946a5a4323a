"""The in-memory index of DrsJobs and when each is due.

kopf's watch feeds :meth:`Registry.observe` with every DrsJob it sees; the
refresher takes the jobs that are due with :meth:`Registry.take_due` and puts
them back with :meth:`Registry.reschedule`. Nothing here does I/O.

Due times live in a heap with lazy invalidation, so finding the due jobs
costs O(due · log N), not a scan of all N jobs every tick.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from drs_operator.domain.batching import ConnectionKey
from drs_operator.domain.cadence import Pace
from drs_operator.domain.spec import JobSpec, SpecError, parse_spec

Key = tuple[str, str]  # (namespace, name)
# (hash of the observation, generation, resourceVersion) a status was computed from.
WriteMemo = tuple[int, int | None, str | None]


Summary = tuple[Any, tuple[tuple[Any, Any], ...]]  # (phase, ((condition type, status), ...))


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
    return (sys.intern(phase) if isinstance(phase, str) else None, pairs)


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
    summary: Summary = (None, ())  # phase and conditions, for the metrics
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


def _rv(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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
        self._heap: list[tuple[float, int, Key, int]] = []
        self._seq = itertools.count()
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

        newer = _rv(resource_version)
        known = _rv(record.resource_version)
        if newer is not None and known is not None and newer < known:
            return record  # an event older than what we wrote; ignore it
        record.resource_version = resource_version
        record.uid = record.uid or uid
        record.status = status
        if raw_spec != record.raw_spec or generation != record.generation:
            changed_spec = raw_spec != record.raw_spec
            record.raw_spec = raw_spec
            record.generation = generation
            if changed_spec:
                self._parse(record)
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
        newer = _rv(meta.get("resourceVersion"))
        known = _rv(record.resource_version)
        if newer is not None and known is not None and newer < known:
            return
        record.resource_version = meta.get("resourceVersion", record.resource_version)
        record.status = dict(obj.get("status") or {})

    # -- used by the refresher ---------------------------------------------------------

    def schedule(self, record: JobRecord, pace: Pace, delay: float) -> None:
        if record.in_flight:
            record.again = record.again or delay <= 0
            return
        record.token += 1
        record.pace = pace
        record.due = self._clock() + delay
        heapq.heappush(self._heap, (record.due, next(self._seq), record.key, record.token))
        if delay <= 0:
            self.wakeup.set()

    def take_due(self, *, lead: float = 0.0) -> list[JobRecord]:
        """The jobs due now, or within ``lead`` seconds (marked in flight), soonest first."""
        until = self._clock() + lead
        taken: list[JobRecord] = []
        while self._heap and self._heap[0][0] <= until:
            _, _, key, token = heapq.heappop(self._heap)
            record = self._records.get(key)
            if record is None or record.token != token or record.in_flight:
                continue
            record.in_flight = True
            taken.append(record)
        self._compact()
        return taken

    def take_ahead(
        self,
        *,
        horizon: Callable[[JobRecord], float],
        accept: Callable[[JobRecord], bool],
        max_scan: int = 2000,
        enough: Callable[[], bool] = lambda: False,
    ) -> list[JobRecord]:
        """Jobs not yet due but within their ``horizon`` that ``accept`` wants (in flight).

        Used to fill partial batches: scans the soonest-due jobs in order, at
        most ``max_scan`` of them; the ones not taken keep their place.
        """
        now = self._clock()
        taken: list[JobRecord] = []
        kept: list[tuple[float, int, Key, int]] = []
        scanned = 0
        while self._heap and scanned < max_scan and not enough():
            entry = heapq.heappop(self._heap)
            record = self._records.get(entry[2])
            if record is None or record.token != entry[3] or record.in_flight:
                continue
            scanned += 1
            if entry[0] - now <= horizon(record) and accept(record):
                record.in_flight = True
                taken.append(record)
            else:
                kept.append(entry)
        for entry in kept:
            heapq.heappush(self._heap, entry)
        return taken

    def reschedule(self, record: JobRecord, pace: Pace, delay: float) -> None:
        record.in_flight = False
        if record.deleted:
            return
        if record.again:  # the spec changed while this refresh was in flight
            record.again = False
            pace, delay = Pace.IMMEDIATE, 0.0
        self.schedule(record, pace, delay)

    def next_due_in(self) -> float | None:
        """Seconds until the earliest due job, or None when nothing is scheduled."""
        while self._heap:
            due, _, key, token = self._heap[0]
            record = self._records.get(key)
            if record is None or record.token != token or record.in_flight:
                heapq.heappop(self._heap)
                continue
            return max(0.0, due - self._clock())
        return None

    def oldest_due_age(self) -> float:
        """How late the most overdue job is (the refresh lag), in seconds."""
        wait = self.next_due_in()
        return 0.0 if wait is None or wait > 0 else self._clock() - self._heap[0][0]

    def _compact(self) -> None:
        if len(self._heap) > 4 * max(16, len(self._records)):
            live = [
                entry
                for entry in self._heap
                if (r := self._records.get(entry[2])) is not None and r.token == entry[3]
            ]
            heapq.heapify(live)
            self._heap = live
