"""Prometheus metrics of the operator, defined once in :data:`DEFINITIONS`.

Every metric lives in the :class:`Metrics` object's own registry (so two
operators in one test process do not collide) and is served by the metrics
server on its own port. Labels are bounded sets (outcomes, HTTP status
codes, API error codes, phases, condition types): never a job ID, a name or
anything secret.

:data:`DEFINITIONS` is the single source: :class:`Metrics` builds its
collectors from it and :func:`render_reference` writes ``docs/metrics.md``
from it (names, types, labels and their values, what each means, an example
query), followed by the alert rules the Helm chart ships
(``charts/drs-operator/files/alerts.yaml``). A test fails when the committed
document and the definitions diverge; ``python -m drs_operator.engine.metrics
> docs/metrics.md``, run from the repository's root, regenerates it.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drs_operator.domain.conditions import CONDITION_ORDER
from drs_operator.domain.drift import DRIFT_STATES
from drs_operator.domain.phases import ALL_PHASES
from drs_operator.drs.classify import OUTCOME_SUCCESS, OUTCOMES

PHASES = (*ALL_PHASES, "None")  # "None": a DrsJob with no status yet
CONDITION_TYPES = CONDITION_ORDER
_CODE_RE = re.compile(r"^[A-Z]{2,8}\.[A-Z0-9]{3,8}$")
PREFIX: Final = "drs_operator_"


def bounded_code(code: str | None) -> str:
    """An API error code as a label, or "other": never free text."""
    return code if code and _CODE_RE.match(code) else "other"


@dataclass(frozen=True)
class MetricDef:
    """One metric: how it is built and how it is documented."""

    attr: str  # the attribute of :class:`Metrics` ("" for the DrsJobs collector's families)
    name: str  # as registered; counters are exposed with ``_total`` appended
    kind: str  # counter | gauge | histogram
    help: str  # the HELP text
    labels: Mapping[str, str] = field(default_factory=dict)  # label -> its values
    buckets: tuple[float, ...] = ()
    meaning: str = ""  # for the reference: what to read from it
    example: str = ""  # a PromQL query

    @property
    def exposed(self) -> str:
        return self.name + "_total" if self.kind == "counter" else self.name


_OUTCOMES = ", ".join(f"`{outcome}`" for outcome in (OUTCOME_SUCCESS, *OUTCOMES.values()))

DEFINITIONS: tuple[MetricDef, ...] = (
    MetricDef(
        "calls", PREFIX + "batch_detail_calls", "counter",
        "batch-detail HTTP calls by outcome and HTTP status",
        {"outcome": _OUTCOMES, "http_status": "the answer's HTTP status, `none` without one"},
        meaning="Every HTTP call to DRS's batch-detail (pages included). A rising share of "
        "non-`success` outcomes is the first sign of trouble with DRS or the credentials.",
        example=f'sum by (outcome) (rate({PREFIX}batch_detail_calls_total[5m]))',
    ),
    MetricDef(
        "call_duration", PREFIX + "batch_detail_duration_seconds", "histogram",
        "batch-detail call latency", {"outcome": "as for the calls"},
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        meaning="How long DRS takes to answer.",
        example="histogram_quantile(0.99, sum by (le) "
        f"(rate({PREFIX}batch_detail_duration_seconds_bucket[5m])))",
    ),
    MetricDef(
        "ids_per_call", PREFIX + "batch_detail_ids", "histogram",
        "job IDs per batch-detail call", buckets=(1, 2, 5, 10, 20, 50, 100),
        meaning="How full the batches are (at most `--batch-size`).",
        example=f"rate({PREFIX}batch_detail_ids_sum[5m]) / "
        f"rate({PREFIX}batch_detail_ids_count[5m])",
    ),
    MetricDef(
        "throttled", PREFIX + "throttled", "counter", "throttling answers by API code",
        {"code": "the API's error code (`APIG.0308`, `DRS.M01503`, ...) or `other`"},
        meaning="DRS asked the operator to slow down; sustained throttling means the "
        "`--rate-limit` is above the account's quota.",
        example=f"sum by (code) (increase({PREFIX}throttled_total[1h]))",
    ),
    MetricDef(
        "backoffs", PREFIX + "backoffs", "counter", "backoff windows opened, by cause",
        {"cause": "`throttled`, or the failed refresh's reason in lower case "
         "(`apierror`, `unreachable`, ...)"},
        meaning="A connection paused its calls after throttling or a service error.",
        example=f"sum by (cause) (rate({PREFIX}backoffs_total[15m]))",
    ),
    MetricDef(
        "backoff_seconds", PREFIX + "backoff_seconds", "counter",
        "seconds of backoff imposed",
        meaning="Total pause imposed by backoffs; its rate is the share of time spent waiting.",
        example=f"rate({PREFIX}backoff_seconds_total[15m])",
    ),
    MetricDef(
        "token_refreshes", PREFIX + "token_refreshes", "counter",
        "IAM token requests by outcome", {"outcome": "`success`, `failure`"},
        meaning="IAM logins of password-mode credentials; failures mean a refused password.",
        example=f'increase({PREFIX}token_refreshes_total{{outcome="failure"}}[1h])',
    ),
    MetricDef(
        "status_writes", PREFIX + "status_writes", "counter", "status patches by outcome",
        {"outcome": "`written`, `unchanged` (nothing to write: no request), `error` "
         "(refused, e.g. 403), `gone` (the DrsJob was deleted), `not_leader` (leadership "
         "was lost before the patch was sent: no request)"},
        meaning="Status patches; `error` means the operator cannot write (RBAC, API server).",
        example=f'rate({PREFIX}status_writes_total{{outcome="error"}}[5m])',
    ),
    MetricDef(
        "events", PREFIX + "events", "counter", "Kubernetes events posted by type",
        {"type": "`Normal`, `Warning`"},
        meaning="One per taskStatus transition and Synced change.",
        example=f'increase({PREFIX}events_total{{type="Warning"}}[1h])',
    ),
    MetricDef(
        "jobs_refreshed", PREFIX + "jobs_refreshed", "counter", "job refreshes by outcome",
        {"outcome": "`observed` (DRS answered the job), `missing` (DRS does not know it), "
         "`failed` (the call failed)"},
        meaning="Refreshes of DrsJobs (one per job per refresh, however batched).",
        example=f"sum by (outcome) (rate({PREFIX}jobs_refreshed_total[5m]))",
    ),
    MetricDef(
        "refresh_lag", PREFIX + "refresh_lag_seconds", "gauge", "age of the most overdue job",
        meaning="How late the most overdue refresh is; it grows when the operator cannot keep "
        "up (raise `--rate-limit` or lengthen the cadences).",
        example=f"max_over_time({PREFIX}refresh_lag_seconds[10m])",
    ),
    MetricDef(
        "last_pass", PREFIX + "refresher_last_pass_timestamp_seconds", "gauge",
        "when the refresher last completed a pass (unix time)",
        meaning="The refresher's heartbeat (the liveness probe checks the same).",
        example=f"time() - {PREFIX}refresher_last_pass_timestamp_seconds",
    ),
    MetricDef(
        "", PREFIX + "drsjobs", "gauge", "DrsJobs by phase",
        {"phase": ", ".join(f"`{p}`" for p in PHASES) + " (`None`: no status yet)"},
        meaning="Counted at scrape time from the operator's index, by the leader (a standby "
        "reports 0, so a sum over replicas and shards counts each DrsJob once).",
        example=f'{PREFIX}drsjobs{{phase="Failed"}}',
    ),
    MetricDef(
        "", PREFIX + "drsjobs_conditions", "gauge", "DrsJobs by condition type and status",
        {"type": ", ".join(f"`{t}`" for t in CONDITION_TYPES),
         "status": "`True`, `False`, `Unknown`"},
        meaning="Counted at scrape time, by the leader; `Synced` `False` counts DrsJobs whose "
        "last refresh failed, `Stalled` `True` those whose task failed or does not exist.",
        example=f'{PREFIX}drsjobs_conditions{{type="Synced",status="False"}}',
    ),
    MetricDef(
        "", PREFIX + "drsjobs_drift", "gauge",
        "DrsJobs by drift state (None: nothing declared in spec.expect)",
        {"state": ", ".join(f"`{s}`" for s in DRIFT_STATES) + ", `None`"},
        meaning="Counted at scrape time, by the leader; `Modified` and `Deleted` count the "
        "DrsJobs whose task is not what their `spec.expect` declares.",
        example=f'sum({PREFIX}drsjobs_drift{{state=~"Modified|Deleted"}})',
    ),
    MetricDef(
        "leader", PREFIX + "leader", "gauge",
        "1 while this process is the leader (calls DRS and writes), 0 on a standby",
        {"lease": "the Lease's name (one per shard; empty with leader election off)"},
        meaning="With leader election (`--leader-election`, on in the Helm chart) exactly one "
        "replica per Lease reports 1; with it off, every process does. The series' pod label "
        "says which replica leads.",
        example=f"sum by (lease) ({PREFIX}leader)",
    ),
    MetricDef(
        "leader_transitions", PREFIX + "leader_transitions", "counter",
        "changes of this process's leadership: gained, lost, released",
        {"change": "`gained` (acquired the Lease), `lost` (could not renew it before the "
         "renew deadline, or saw another holder), `released` (on shutdown, whether the "
         "release request succeeded or not)"},
        meaning="`lost` means the Kubernetes API did not answer the leader in time (or two "
        "replicas competed); each loss is followed by a takeover by another replica.",
        example=f'increase({PREFIX}leader_transitions_total{{change="lost"}}[1h])',
    ),
)  # fmt: skip


# (phase, ((condition type, status), ...), drift state)
Summary = tuple[Any, Iterable[tuple[Any, Any]], Any]


def _definition(name: str) -> MetricDef:
    return next(d for d in DEFINITIONS if d.name == name)


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
        by_phase_def = _definition(PREFIX + "drsjobs")
        by_phase = GaugeMetricFamily(by_phase_def.name, by_phase_def.help, labels=["phase"])
        for phase in PHASES:
            by_phase.add_metric([phase], phases[phase])
        yield by_phase
        by_condition_def = _definition(PREFIX + "drsjobs_conditions")
        by_condition = GaugeMetricFamily(
            by_condition_def.name, by_condition_def.help, labels=["type", "status"]
        )
        for kind in CONDITION_TYPES:
            for value in ("True", "False", "Unknown"):
                by_condition.add_metric([kind, value], conditions[(kind, value)])
        yield by_condition
        by_drift_def = _definition(PREFIX + "drsjobs_drift")
        by_drift = GaugeMetricFamily(by_drift_def.name, by_drift_def.help, labels=["state"])
        for state in (*DRIFT_STATES, "None"):
            by_drift.add_metric([state], drifts[state])
        yield by_drift


class Metrics:
    """The operator's collectors, one attribute per :data:`DEFINITIONS` entry with an ``attr``."""

    calls: PCounter
    call_duration: Histogram
    ids_per_call: Histogram
    throttled: PCounter
    backoffs: PCounter
    backoff_seconds: PCounter
    token_refreshes: PCounter
    status_writes: PCounter
    events: PCounter
    jobs_refreshed: PCounter
    refresh_lag: Gauge
    last_pass: Gauge
    leader: Gauge
    leader_transitions: PCounter

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        for definition in DEFINITIONS:
            if not definition.attr:
                continue  # collected at scrape time (watch_jobs)
            labels = list(definition.labels)
            collector: Any
            if definition.kind == "counter":
                collector = PCounter(
                    definition.name, definition.help, labels, registry=self.registry
                )
            elif definition.kind == "gauge":
                collector = Gauge(definition.name, definition.help, labels, registry=self.registry)
            else:
                collector = Histogram(
                    definition.name,
                    definition.help,
                    labels,
                    registry=self.registry,
                    buckets=definition.buckets,
                )
            setattr(self, definition.attr, collector)

    def watch_jobs(self, summaries: Callable[[], Iterable[Summary]]) -> None:
        """Count DrsJobs by phase and condition at scrape time, from their summaries."""
        self.registry.register(_JobsCollector(summaries))


# -- the reference document ----------------------------------------------------------------------

ALERTS_FILE: Final = Path("charts") / "drs-operator" / "files" / "alerts.yaml"

_INTRO = """\
# Metrics reference

<!-- Generated from drs_operator/engine/metrics.py (DEFINITIONS) and
     charts/drs-operator/files/alerts.yaml: do not edit by hand.
     Regenerate: .venv/bin/python -m drs_operator.engine.metrics > docs/metrics.md -->

The operator serves Prometheus metrics on `--metrics-port` (8080) at `/metrics`
(`kubectl -n drs-system port-forward deploy/drs-operator 8080`, then
`curl -s localhost:8080/metrics | grep ^drs_operator_`). Labels are bounded sets: never
a DrsJob's name, a task ID or anything secret. The Helm chart's Service exposes the
port; `metrics.serviceMonitor.enabled=true` adds a ServiceMonitor and
`metrics.prometheusRule.enabled=true` the alert rules below (both need the Prometheus
Operator's CRDs).

| metric | type | labels | help |
|---|---|---|---|
"""


def render_reference(alerts_yaml: str) -> str:
    """``docs/metrics.md``: the table, one section per metric, then the alert rules."""
    lines = [_INTRO.rstrip("\n")]
    for d in DEFINITIONS:
        labels = ", ".join(f"`{label}`" for label in d.labels) or "—"
        lines.append(f"| `{d.exposed}` | {d.kind} | {labels} | {d.help} |")
    for d in DEFINITIONS:
        lines += ["", f"## `{d.exposed}`", "", f"{d.kind.capitalize()}: {d.help}. {d.meaning}"]
        if d.labels:
            lines.append("")
            lines += [f"- `{label}`: {values}" for label, values in d.labels.items()]
        if d.example:
            lines += ["", "```promql", d.example, "```"]
    lines += [
        "",
        "## Alert rules",
        "",
        "The chart ships these rules as a `PrometheusRule` (off by default: "
        "`--set metrics.prometheusRule.enabled=true`, labels under "
        "`metrics.prometheusRule.labels` so that your Prometheus selects it). Without the "
        "Prometheus Operator, copy them into a rule file.",
        "",
        "```yaml",
        alerts_yaml.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:  # pragma: no cover - the test calls render_reference
    """Print the reference (run from the repository's root, where the chart is)."""
    sys.stdout.write(render_reference(ALERTS_FILE.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
