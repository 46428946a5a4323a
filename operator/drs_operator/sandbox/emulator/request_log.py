"""What clients asked the emulator: :class:`RecordedRequest` and the :class:`RequestLog`.

The log keeps the last ``limit`` requests for inspection and exact counters
per (method, resource, subresource, namespace, name) that are never trimmed.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

__all__ = ["DEFAULT_LOG_LIMIT", "RecordedRequest", "RequestLog"]

DEFAULT_LOG_LIMIT = 10_000  # requests kept in the emulator's request log
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class RecordedRequest:
    """One request as the emulator received it (``status`` set once answered)."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    body: Any
    group: str | None
    version: str | None
    resource: str | None  # the plural, e.g. "drsjobs"
    namespace: str | None
    name: str | None
    subresource: str | None
    status: int | None = None
    user_agent: str | None = None  # the client's User-Agent header (who sent it)

    @property
    def is_write(self) -> bool:
        return self.method in _WRITE_METHODS


class RequestLog:
    """A bounded log of requests plus exact per-target counters (never trimmed)."""

    def __init__(self, *, limit: int = DEFAULT_LOG_LIMIT) -> None:
        self._entries: collections.deque[RecordedRequest] = collections.deque(maxlen=limit)
        self._counts: collections.Counter[
            tuple[str, str | None, str | None, str | None, str | None]
        ]
        self._counts = collections.Counter()
        self._seq = 0

    def record(self, entry: RecordedRequest) -> None:
        self._entries.append(entry)
        key = (entry.method, entry.resource, entry.subresource, entry.namespace, entry.name)
        self._counts[key] += 1

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def total(self) -> int:
        return self._seq

    def select(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
        writes_only: bool = False,
        user_agent: str | None = None,
    ) -> list[RecordedRequest]:
        return [
            e
            for e in self._entries
            if (user_agent is None or (e.user_agent or "").startswith(user_agent))
            and (method is None or e.method == method.upper())
            and (resource is None or e.resource == resource)
            and (namespace is None or e.namespace == namespace)
            and (name is None or e.name == name)
            and (subresource is ... or e.subresource == subresource)
            and (not writes_only or e.is_write)
        ]

    def count(
        self,
        *,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | EllipsisType | None = ...,
    ) -> int:
        return sum(
            n
            for (m, r, s, ns, nm), n in self._counts.items()
            if (method is None or m == method.upper())
            and (resource is None or r == resource)
            and (namespace is None or ns == namespace)
            and (name is None or nm == name)
            and (subresource is ... or s == subresource)
        )

    def clear(self) -> None:
        self._entries.clear()
        self._counts.clear()
