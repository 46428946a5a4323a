"""The simulator's request accounting: :class:`RequestRecord` and :class:`Stats`.

Every DRS and IAM request (not the admin ones) becomes a
:class:`RequestRecord` in ``sim.stats``; :class:`Stats` keeps exact counters
and the most recent :data:`REQUEST_LOG_MAX` records, and summarizes them for
``GET /_sim/stats``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

__all__ = ["REQUEST_LOG_MAX", "RequestRecord", "Stats"]

REQUEST_LOG_MAX = 100_000


@dataclass(frozen=True)
class RequestRecord:
    """One DRS or IAM request as the simulator saw it (admin calls are not recorded)."""

    time: float
    path: str
    http_status: int
    error_code: str | None
    auth_mode: str  # "token" | "aksk" | "none"
    ids: tuple[str, ...]
    page: int | None


class Stats:
    """Counters for tests and benchmarks; the per-request logs are capped."""

    def __init__(self, *, maxlen: int = REQUEST_LOG_MAX) -> None:
        self._requests: deque[RequestRecord] = deque(maxlen=maxlen)
        self._ids_per_call: deque[int] = deque(maxlen=maxlen)
        self.batch_detail_calls = 0
        self.iam_token_requests = 0
        self.ids_requested = 0
        self.by_status: Counter[int] = Counter()
        self.by_error_code: Counter[str] = Counter()

    @property
    def requests(self) -> list[RequestRecord]:
        """The most recent requests (at most ``REQUEST_LOG_MAX``), oldest first (a copy)."""
        return list(self._requests)

    @property
    def ids_per_call(self) -> list[int]:
        """IDs requested per batch-detail call, most recent ``REQUEST_LOG_MAX`` (a copy)."""
        return list(self._ids_per_call)

    def reset(self) -> None:
        """Zero every counter and clear the logs."""
        self._requests.clear()
        self._ids_per_call.clear()
        self.batch_detail_calls = 0
        self.iam_token_requests = 0
        self.ids_requested = 0
        self.by_status.clear()
        self.by_error_code.clear()

    def record(self, record: RequestRecord, *, batch_detail: bool) -> None:
        self._requests.append(record)
        self.by_status[record.http_status] += 1
        if record.error_code:
            self.by_error_code[record.error_code] += 1
        if batch_detail:
            self.batch_detail_calls += 1
            self.ids_requested += len(record.ids)
            self._ids_per_call.append(len(record.ids))

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (what ``GET /_sim/stats`` answers)."""
        per_call = self._ids_per_call
        return {
            "requests": sum(self.by_status.values()),
            "batch_detail_calls": self.batch_detail_calls,
            "iam_token_requests": self.iam_token_requests,
            "ids_requested": self.ids_requested,
            "ids_per_call": {
                "mean": (sum(per_call) / len(per_call)) if per_call else 0.0,
                "max": max(per_call, default=0),
            },
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_error_code": dict(sorted(self.by_error_code.items())),
        }
