"""docs/metrics.md is generated from the metric definitions; the alerts use real metrics.

The committed document must be exactly what
:func:`drs_operator.engine.metrics.render_reference` writes (regenerate with
``.venv/bin/python -m drs_operator.engine.metrics > docs/metrics.md``); the
definitions must be exactly the metrics the operator registers, with the same
labels; every metric an alert rule names must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from drs_operator.engine import metrics

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "metrics.md"
ALERTS = ROOT / metrics.ALERTS_FILE


def test_the_committed_reference_is_generated_from_the_definitions() -> None:
    expected = metrics.render_reference(ALERTS.read_text(encoding="utf-8"))
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/metrics.md differs from the definitions: run "
        "`.venv/bin/python -m drs_operator.engine.metrics > docs/metrics.md` and commit it"
    )


def test_the_definitions_are_what_the_operator_registers() -> None:
    live = metrics.Metrics()
    live.watch_jobs(lambda: ())
    registered = {family.name: family for family in live.registry.collect()}
    # prometheus_client reports a counter's family without its _total suffix.
    assert set(registered) == {d.name for d in metrics.DEFINITIONS}
    for definition in metrics.DEFINITIONS:
        assert registered[definition.name].type == definition.kind, definition.name
        assert registered[definition.name].documentation == definition.help, definition.name
        if definition.attr:
            collector = getattr(live, definition.attr)
            labels = list(definition.labels)
            # the labels are exactly the documented ones, in order (none when none)
            assert collector._labelnames == tuple(labels), definition.name
        else:  # collected at scrape time: the labels of its samples
            samples = registered[definition.name].samples
            assert samples and set(samples[0].labels) == set(definition.labels)


def test_every_metric_the_reference_or_an_alert_names_exists() -> None:
    exposed = {d.exposed for d in metrics.DEFINITIONS}
    histograms = {d.name for d in metrics.DEFINITIONS if d.kind == "histogram"}
    known = exposed | {f"{h}_{part}" for h in histograms for part in ("bucket", "sum", "count")}
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    texts = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    texts += [d.example for d in metrics.DEFINITIONS]
    for text in texts:
        for name in re.findall(r"\bdrs_operator_\w+", text):
            assert name in known, (name, text)
    assert len({rule["alert"] for g in rules["groups"] for rule in g["rules"]}) >= 5
