"""The in-memory index: what a watch event does to scheduling and known status."""

from __future__ import annotations

from typing import Any

import pytest

from drs_operator.domain.batching import ConnectionKey
from drs_operator.domain.cadence import Pace
from drs_operator.engine.registry import Registry

JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def body(
    name: str = "a",
    *,
    rv: str = "1",
    generation: int = 1,
    uid: str = "u1",
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "uid": uid,
            "resourceVersion": rv,
            "generation": generation,
        },
        "spec": {"jobId": JOB_ID} if spec is None else spec,
        "status": status or {},
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(clock: Clock) -> Registry:
    return Registry(default_credentials="drs-credentials", clock=clock)


def test_new_job_is_due_at_once(registry: Registry) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    assert record.key == ("ns", "a") and record.in_flight
    assert record.spec is not None and record.spec.credentials_name == "drs-credentials"
    assert registry.take_due() == []  # in flight: not handed out twice


def test_rescheduled_job_is_due_after_its_delay(registry: Registry, clock: Clock) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    registry.reschedule(record, Pace.STEADY, 60)
    clock.now += 59
    assert registry.take_due() == []
    clock.now += 1
    assert registry.take_due() == [record]


def test_a_lead_takes_jobs_due_soon_together_and_never_later_ones(
    registry: Registry, clock: Clock
) -> None:
    for name in ("a", "b", "c"):
        registry.observe(event_type=None, body=body(name, uid=name))
    records = registry.take_due()
    for record, delay in zip(records, (10.0, 10.5, 11.5), strict=True):
        registry.reschedule(record, Pace.STEADY, delay)
    clock.now += 9.4
    assert registry.take_due(lead=1.2) == [], "nothing is due now: the lead takes nothing"
    clock.now += 0.6
    assert registry.take_due(lead=1.2) == records[:2], "a due now, b in 0.5 s: together"
    assert registry.take_due(lead=1.2) == [], "the third is 1.5 s away"
    clock.now += 1.5
    assert registry.take_due(lead=1.2) == records[2:]


def test_a_lead_never_takes_another_connections_jobs_early(
    registry: Registry, clock: Clock
) -> None:
    keys = [ConnectionKey("https://drs", project, "f") for project in ("p1", "p2")]
    for name in ("a", "b", "c"):
        registry.observe(event_type=None, body=body(name, uid=name))
    a, b, c = registry.take_due()
    for record, key, delay in ((a, keys[0], 10.0), (b, keys[0], 10.5), (c, keys[1], 10.5)):
        record.connection_key = key
        registry.reschedule(record, Pace.STEADY, delay)
    clock.now += 10.0
    assert registry.take_due(lead=1.0) == [a, b], "c's connection has nothing due yet"
    clock.now += 0.5
    assert registry.take_due(lead=1.0) == [c]


def test_status_only_change_does_not_reschedule(registry: Registry, clock: Clock) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    registry.reschedule(record, Pace.STEADY, 60)
    registry.observe(event_type="MODIFIED", body=body(rv="2", status={"phase": "Running"}))
    assert registry.take_due() == []
    assert record.status == {"phase": "Running"}


def test_spec_change_makes_job_due_now(registry: Registry) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    registry.reschedule(record, Pace.STEADY, 60)
    changed = body(rv="2", generation=2, spec={"jobId": JOB_ID, "suspend": True})
    registry.observe(event_type="MODIFIED", body=changed)
    assert registry.take_due() == [record]
    assert record.spec is not None and record.spec.suspend and record.generation == 2


def test_spec_change_while_in_flight_refreshes_right_after(registry: Registry) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    changed = body(rv="2", generation=2, spec={"jobId": JOB_ID, "refreshInterval": "10s"})
    registry.observe(event_type="MODIFIED", body=changed)
    registry.reschedule(record, Pace.STEADY, 60)
    assert registry.take_due() == [record]


def test_stale_event_does_not_override_newer_write(registry: Registry) -> None:
    registry.observe(event_type=None, body=body(rv="5", status={"phase": "Running"}))
    [record] = registry.take_due()
    registry.written(record, {"metadata": {"resourceVersion": "7"}, "status": {"phase": "Failed"}})
    registry.observe(event_type="MODIFIED", body=body(rv="6", status={"phase": "Running"}))
    assert record.status == {"phase": "Failed"}


def test_deleted_job_is_forgotten_and_marked(registry: Registry) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    registry.observe(event_type="DELETED", body=body())
    assert record.deleted and len(registry) == 0
    registry.reschedule(record, Pace.STEADY, 0)
    assert registry.take_due() == []


def test_recreated_object_is_a_new_record(registry: Registry) -> None:
    registry.observe(event_type=None, body=body(uid="u1"))
    [old] = registry.take_due()
    registry.observe(event_type="ADDED", body=body(uid="u2", rv="9"))
    assert old.deleted
    [new] = registry.take_due()
    assert new is not old and new.uid == "u2"


def test_invalid_spec_is_kept_with_its_error(registry: Registry) -> None:
    registry.observe(event_type=None, body=body(spec={"jobId": "NOT-AN-ID"}))
    [record] = registry.take_due()
    assert record.spec is None and record.spec_error is not None
    assert "jobId" in str(record.spec_error)


def test_take_soonest_fills_only_within_horizon(registry: Registry, clock: Clock) -> None:
    for i in range(3):
        registry.observe(event_type=None, body=body(f"j{i}", uid=f"u{i}"))
    records = registry.take_due()
    for record, delay in zip(records, [1, 2, 50], strict=True):
        registry.reschedule(record, Pace.STEADY, delay)
    taken = registry.take_soonest(None, count=5, horizon=lambda r: 5.0)
    assert sorted(r.name for r in taken) == ["j0", "j1"]
    clock.now += 50
    assert [r.name for r in registry.take_due()] == ["j2"]


def test_oldest_due_age_is_the_refresh_lag(registry: Registry, clock: Clock) -> None:
    registry.observe(event_type=None, body=body())
    clock.now += 7
    assert registry.oldest_due_age() == pytest.approx(7)


def test_take_soonest_stops_at_count_and_keeps_the_rest(registry: Registry, clock: Clock) -> None:
    for i in range(5):
        registry.observe(event_type=None, body=body(f"j{i}", uid=f"u{i}"))
    for record in registry.take_due():
        registry.reschedule(record, Pace.STEADY, 1)
    refused = [r for r in registry._records.values() if r.name == "j0"]
    taken = registry.take_soonest(
        None, count=2, horizon=lambda r: 5.0, accept=lambda r: r not in refused
    )
    assert len(taken) == 2 and refused[0] not in taken
    clock.now += 1
    assert len(registry.take_due()) == 3  # the others (the refused one too) kept their place


KEY_A = ConnectionKey("https://drs.a", "p", "fa")
KEY_B = ConnectionKey("https://drs.b", "p", "fb")


def _on(registry: Registry, key: ConnectionKey | None, names: list[str], delay: float) -> None:
    for name in names:
        registry.observe(event_type=None, body=body(name, uid=name))
    for record in registry.take_due():
        if record.name in names:
            record.connection_key = key
            registry.reschedule(record, Pace.STEADY, delay)


@pytest.mark.parametrize(
    ("limits", "expected", "reason"),
    [
        ({}, {"a0", "a1", "a2", "b0"}, "no cap: every due job"),
        ({KEY_A: 1}, {"a0", "b0"}, "a cap takes the soonest of that connection only"),
        ({KEY_A: 0, KEY_B: 0}, set(), "a connection at its rate takes nothing"),
    ],
)
def test_take_due_caps_each_connection_on_its_own(
    registry: Registry,
    clock: Clock,
    limits: dict[ConnectionKey, int],
    expected: set[str],
    reason: str,
) -> None:
    _on(registry, KEY_A, ["a0", "a1", "a2"], 1)
    _on(registry, KEY_B, ["b0"], 1)
    clock.now += 2
    taken = registry.take_due(limit=lambda key: limits.get(key) if key else None)
    assert {r.name for r in taken} == expected, reason
    for record in taken:
        registry.put_back(record)
    assert {r.name for r in registry.take_due()} == {"a0", "a1", "a2", "b0"}, "all still due"


def test_take_soonest_reads_one_connection_only(registry: Registry, clock: Clock) -> None:
    _on(registry, KEY_A, ["a0"], 5)
    _on(registry, KEY_B, ["b0"], 1)
    taken = registry.take_soonest(KEY_A, count=3, horizon=lambda r: 10.0)
    assert [r.name for r in taken] == ["a0"], "b0 is sooner but of another connection"


def test_put_back_keeps_the_due_time(registry: Registry, clock: Clock) -> None:
    _on(registry, KEY_A, ["a0"], 3)
    clock.now += 5
    [record] = registry.take_due()
    registry.put_back(record)
    assert registry.oldest_due_age() == pytest.approx(2), "still 2 s late, not rescheduled"


@pytest.mark.parametrize(
    ("spec", "reevaluated"),
    [
        pytest.param({"jobId": JOB_ID, "expect": {"jobName": "x"}}, True, id="expect added"),
        pytest.param({"jobId": JOB_ID, "suspend": False}, True, id="a default written out"),
        pytest.param({"jobId": JOB_ID, "suspend": True}, False, id="suspended: refreshed"),
        pytest.param({"jobId": JOB_ID, "refreshInterval": "30s"}, False, id="a new interval"),
        pytest.param({"jobId": "not-a-uuid"}, False, id="now invalid: refreshed (reported)"),
    ],
)
def test_a_spec_change_that_asks_for_the_same_task_needs_no_call(
    registry: Registry, clock: Clock, spec: dict[str, Any], reevaluated: bool
) -> None:
    registry.observe(event_type=None, body=body())
    [record] = registry.take_due()
    registry.reschedule(record, Pace.STEADY, 60)
    registry.observe(event_type="MODIFIED", body=body(rv="2", generation=2, spec=spec))
    assert [r.key for r in registry.take_reevaluations()] == ([record.key] if reevaluated else [])
    assert registry.take_due() == ([] if reevaluated else [record])
