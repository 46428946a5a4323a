"""Drift on the status: status.drift, the Drifted condition, Ready False Drifted, events."""

from __future__ import annotations

from typing import Any

import pytest

from drs_operator.domain.drift import parse_expect
from drs_operator.domain.events import transition_events
from drs_operator.domain.mapping import compute_status
from drs_operator.domain.observations import Failed, Missing, Observation, Observed, Reevaluated
from drs_operator.domain.patching import status_patch
from tests.test_mapping import T0, T1, T2, _conds, _job

SAME = {"jobName": "DRS-4963-zltest", "sourceEndpoint": {"ip": "192.168.6.178", "port": 3306}}
MOVED = {"sourceEndpoint": {"port": 3307}}
PAUSED_ONLY = {"phases": ["Paused"]}


def status_for(
    observation: Observation,
    expect: dict[str, Any] | None,
    *,
    current: dict[str, Any] | None = None,
    generation: int = 1,
    now: Any = T0,
) -> dict[str, Any]:
    return compute_status(
        current=current,
        observation=observation,
        generation=generation,
        now=now,
        expect=parse_expect(expect),
    )


@pytest.mark.parametrize(
    ("job", "expect", "drift", "ready", "drifted", "reason"),
    [
        ({}, None, None, ("True", "TaskHealthy"), None, "nothing declared: no drift at all"),
        ({}, SAME, "InSync", ("True", "TaskHealthy"), ("False", "InSync"), "in sync"),
        ({}, MOVED, "Modified", ("False", "Drifted"), ("True", "Modified"),
         "a healthy task that drifted is not Ready"),
        ({"status": "FULL_TRANSFER_STARTED"}, PAUSED_ONLY, "Modified",
         ("False", "TaskInProgress"), ("True", "Modified"),
         "not ready for its own reason: that reason stays"),
        ({"status": "INCRE_TRANSFER_FAILED"}, SAME, "InSync", ("False", "TaskFailed"),
         ("False", "InSync"), "in sync but failed"),
    ],
)  # fmt: skip
def test_an_observation_is_judged_against_spec_expect(
    job: dict[str, Any],
    expect: dict[str, Any] | None,
    drift: str | None,
    ready: tuple[str, str],
    drifted: tuple[str, str] | None,
    reason: str,
) -> None:
    status = status_for(Observed(_job(**job)), expect)
    assert (status.get("drift") or {}).get("state") == drift, reason
    conditions = _conds(status)
    assert conditions["Ready"] == ready, reason
    assert conditions.get("Drifted") == drifted, reason
    assert conditions["Stalled"][0] == ("True" if job.get("status", "").endswith("FAILED")
                                        else "False"), "drift never stalls"  # fmt: skip


def test_a_modified_task_names_its_differences() -> None:
    status = status_for(Observed(_job()), MOVED)
    assert status["drift"]["differences"] == [
        {"field": "sourceEndpoint.port", "expected": "3307", "observed": "3306"}
    ]
    drifted = next(x for x in status["conditions"] if x["type"] == "Drifted")
    ready = next(x for x in status["conditions"] if x["type"] == "Ready")
    assert "sourceEndpoint.port: 3307 -> 3306" in drifted["message"] == ready["message"]


def test_a_missing_task_is_deleted_drift() -> None:
    healthy = status_for(Observed(_job()), SAME)
    gone = status_for(Missing("DRS.M05004", "deleted", "r1"), SAME, current=healthy, now=T1)
    assert gone["drift"]["state"] == "Deleted"
    assert _conds(gone)["Drifted"] == ("True", "Deleted")
    assert _conds(gone)["Ready"] == ("False", "NotFound")


def test_nothing_observed_yet_is_not_checked() -> None:
    status = status_for(Failed("AuthFailed", "refused"), SAME)
    assert status["drift"]["state"] == "NotChecked"
    assert _conds(status)["Drifted"] == ("Unknown", "NotChecked")


def test_the_same_answer_again_writes_nothing() -> None:
    first = status_for(Observed(_job()), MOVED)
    again = status_for(Observed(_job()), MOVED, current=first, now=T2)
    assert status_patch(first, again) is None
    assert again["drift"]["lastCheckTime"] == first["drift"]["lastCheckTime"]


def test_a_failed_refresh_keeps_the_drift_judgment() -> None:
    drifted = status_for(Observed(_job()), MOVED)
    failed = status_for(Failed("Throttled", "slow down"), MOVED, current=drifted, now=T1)
    assert failed["drift"] == drifted["drift"]
    assert _conds(failed)["Ready"] == ("False", "Drifted")


@pytest.mark.parametrize(
    ("before", "after", "ready", "drift", "reason"),
    [
        (MOVED, SAME, ("True", "TaskHealthy"), "InSync", "fixing spec.expect makes it Ready"),
        (SAME, MOVED, ("False", "Drifted"), "Modified", "a stricter expect drifts at once"),
        (SAME, None, ("True", "TaskHealthy"), None, "removing expect removes the drift"),
    ],
)
def test_a_changed_expect_is_judged_again_without_a_new_observation(
    before: dict[str, Any],
    after: dict[str, Any] | None,
    ready: tuple[str, str],
    drift: str | None,
    reason: str,
) -> None:
    old = status_for(Observed(_job()), before, generation=1)
    new = status_for(Reevaluated(), after, current=old, generation=2, now=T1)
    assert _conds(new)["Ready"] == ready, reason
    assert (new.get("drift") or {}).get("state") == drift, reason
    assert new["observedGeneration"] == 2
    for condition in new["conditions"]:
        assert condition["observedGeneration"] == 2, condition["type"]
    assert {k: v for k, v in new.items() if k not in ("conditions", "drift",
            "observedGeneration")} == {k: v for k, v in old.items()
            if k not in ("conditions", "drift", "observedGeneration")}  # fmt: skip


def test_a_reevaluation_keeps_a_missing_task_missing() -> None:
    healthy = status_for(Observed(_job()), SAME)
    gone = status_for(Missing("DRS.M05004", "deleted", "r1"), SAME, current=healthy, now=T1)
    again = status_for(Reevaluated(), None, current=gone, generation=2, now=T2)
    assert _conds(again)["Ready"] == ("False", "NotFound")
    assert "drift" not in again and "Drifted" not in _conds(again)


@pytest.mark.parametrize(
    ("first", "second", "events", "reason"),
    [
        (SAME, MOVED, [("Warning", "DriftDetected")], "in sync to modified"),
        (MOVED, SAME, [("Normal", "DriftResolved")], "modified back to in sync"),
        (MOVED, {"sourceEndpoint": {"port": 3308}}, [], "other differences: no event"),
        (None, SAME, [], "newly declared and in sync: no event"),
        (None, MOVED, [("Warning", "DriftDetected")], "newly declared and drifted"),
    ],
)
def test_drift_events_on_state_changes_only(
    first: dict[str, Any] | None,
    second: dict[str, Any] | None,
    events: list[tuple[str, str]],
    reason: str,
) -> None:
    old = status_for(Observed(_job()), first)
    new = status_for(Reevaluated(), second, current=old, generation=2, now=T1)
    got = [(e.type, e.reason) for e in transition_events(old, new)]
    assert got == events, reason
    for event in transition_events(old, new):
        shown = "sourceEndpoint.port" if event.reason == "DriftDetected" else "InSync"
        assert shown in event.message, event.message
