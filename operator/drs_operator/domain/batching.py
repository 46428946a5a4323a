"""Grouping due jobs into batch-detail calls (pure).

Jobs are grouped by connection (:class:`ConnectionKey`: endpoint, project,
credentials), their task
IDs deduplicated (two DrsJobs naming one task cost one ID), and each group is
cut into batches of at most ``batch_size`` IDs. IDs already known to be
missing are put in batches of their own, so a known-missing task does not
make a healthy batch fail and be bisected again every cycle.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ConnectionKey:
    """Which DRS connection serves a job: endpoint, project and credentials.

    ``fingerprint`` is a keyed hash of the credential values (it identifies
    them without holding or revealing them); ``str()`` is safe to log.
    """

    endpoint: str
    project_id: str
    fingerprint: str

    def __str__(self) -> str:
        return f"{self.endpoint} project {self.project_id}"


@dataclass(frozen=True)
class Batch(Generic[K]):
    connection: K
    job_ids: tuple[str, ...]
    isolated: bool = False  # a batch of known-missing IDs, queried on their own


def plan_batches(
    wanted: Iterable[tuple[K, str]],
    *,
    batch_size: int,
    known_missing: frozenset[tuple[K, str]] | set[tuple[K, str]] = frozenset(),
) -> list[Batch[K]]:
    """Cut ``(connection, job_id)`` pairs into batches; order within a group is kept."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    groups: dict[K, dict[str, None]] = {}
    for connection, job_id in wanted:
        groups.setdefault(connection, {})[job_id] = None
    batches: list[Batch[K]] = []
    for connection, ids in groups.items():
        healthy = [i for i in ids if (connection, i) not in known_missing]
        missing = [i for i in ids if (connection, i) in known_missing]
        batches.extend(
            Batch(connection, tuple(chunk)) for chunk in chunks(healthy, size=batch_size)
        )
        batches.extend(Batch(connection, (i,), isolated=True) for i in missing)
    return batches


def chunks(items: Sequence[str], *, size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def halves(ids: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a failing batch in two to isolate the IDs that make it fail."""
    middle = (len(ids) + 1) // 2
    return tuple(ids[:middle]), tuple(ids[middle:])
