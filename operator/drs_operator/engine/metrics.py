"""Prometheus metrics of the operator.

Every metric lives in the :class:`Metrics` object's own registry (so two
operators in one test process do not collide) and is served by the metrics
server on its own port. Labels are bounded sets (outcomes, HTTP status
codes, API error codes, phases, condition types): never a job ID, a name or
anything secret.

=====================================================  =========  ===========================
name                                                   type       labels
=====================================================  =========  ===========================
drs_operator_batch_detail_calls_total                  counter    outcome, http_status
drs_operator_batch_detail_duration_seconds             histogram  outcome
drs_operator_batch_detail_ids                          histogram
drs_operator_throttled_total                           counter    code
drs_operator_backoffs_total                            counter    cause
drs_operator_backoff_seconds_total                     counter
drs_operator_token_refreshes_total                     counter    outcome
drs_operator_status_writes_total                       counter    outcome
drs_operator_events_total                              counter    type
drs_operator_refresh_lag_seconds                       gauge
drs_operator_refresher_last_pass_timestamp_seconds     gauge
drs_operator_drsjobs                                   gauge      phase
drs_operator_drsjobs_conditions                        gauge      type, status
drs_operator_drsjobs_drift                             gauge      state
drs_operator_jobs_refreshed_total                      counter    outcome
=====================================================  =========  ===========================
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drs_operator.domain.drift import DRIFT_STATES

PHASES = ("Pending", "Running", "Paused", "Completed", "Failed", "Deleted", "Unknown", "None")
CONDITION_TYPES = ("Ready", "Synced", "Reconciling", "Stalled", "Drifted")
_CODE_RE = re.compile(r"^[A-Z]{2,8}\.[A-Z0-9]{3,8}$")


def bounded_code(code: str | None) -> str:
    """An API error code as a label, or "other": never free text."""
    return code if code and _CODE_RE.match(code) else "other"


# (phase, ((condition type, status), ...), drift state)
Summary = tuple[Any, Iterable[tuple[Any, Any]], Any]


class _JobsCollector(Collector):
    def __init__(self, summaries: Callable[[], Iterable[Summary]]) -> None:
        self._summaries = summaries

    def collect(self) -> Iterator[Metric]:
        phases: Counter[str] = Counter()
        conditions: Counter[tuple[str, str]] = Counter()
        drifts: Counter[str] = Counter()
        for phase, pairs, drift in self._summaries():
            drifts[drift if drift in DRIFT_STATES else "None"] += 1
            phases[phase if phase in PHASES else "None"] += 1
            for kind, value in pairs:
                if kind in CONDITION_TYPES and value in ("True", "False", "Unknown"):
                    conditions[(kind, value)] += 1
        by_phase = GaugeMetricFamily("drs_operator_drsjobs", "DrsJobs by phase", labels=["phase"])
        for phase in PHASES:
            by_phase.add_metric([phase], phases[phase])
        yield by_phase
        by_condition = GaugeMetricFamily(
            "drs_operator_drsjobs_conditions",
            "DrsJobs by condition type and status",
            labels=["type", "status"],
        )
        for kind in CONDITION_TYPES:
            for value in ("True", "False", "Unknown"):
                by_condition.add_metric([kind, value], conditions[(kind, value)])
        yield by_condition
        by_drift = GaugeMetricFamily(
            "drs_operator_drsjobs_drift",
            "DrsJobs by drift state (None: nothing declared in spec.expect)",
            labels=["state"],
        )
        for state in (*DRIFT_STATES, "None"):
            by_drift.add_metric([state], drifts[state])
        yield by_drift


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = PCounter(
            "drs_operator_batch_detail_calls",
            "batch-detail HTTP calls by outcome and HTTP status",
            ["outcome", "http_status"],
            registry=r,
        )
        self.call_duration = Histogram(
            "drs_operator_batch_detail_duration_seconds",
            "batch-detail call latency",
            ["outcome"],
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.ids_per_call = Histogram(
            "drs_operator_batch_detail_ids",
            "job IDs per batch-detail call",
            registry=r,
            buckets=(1, 2, 5, 10, 20, 50, 100),
        )
        self.throttled = PCounter(
            "drs_operator_throttled", "throttling answers by API code", ["code"], registry=r
        )
        self.backoffs = PCounter(
            "drs_operator_backoffs", "backoff windows opened, by cause", ["cause"], registry=r
        )
        self.backoff_seconds = PCounter(
            "drs_operator_backoff_seconds", "seconds of backoff imposed", registry=r
        )
        self.token_refreshes = PCounter(
            "drs_operator_token_refreshes", "IAM token requests by outcome", ["outcome"], registry=r
        )
        self.status_writes = PCounter(
            "drs_operator_status_writes", "status patches by outcome", ["outcome"], registry=r
        )
        self.events = PCounter(
            "drs_operator_events", "Kubernetes events posted by type", ["type"], registry=r
        )
        self.jobs_refreshed = PCounter(
            "drs_operator_jobs_refreshed", "job refreshes by outcome", ["outcome"], registry=r
        )
        self.refresh_lag = Gauge(
            "drs_operator_refresh_lag_seconds", "age of the most overdue job", registry=r
        )
        self.last_pass = Gauge(
            "drs_operator_refresher_last_pass_timestamp_seconds",
            "when the refresher last completed a pass (unix time)",
            registry=r,
        )

    def watch_jobs(self, summaries: Callable[[], Iterable[Summary]]) -> None:
        """Count DrsJobs by phase and condition at scrape time, from their summaries."""
        self.registry.register(_JobsCollector(summaries))
