"""The Lease record (domain/lease.py): what leader election writes, with client-go's conventions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from drs_operator.domain import lease as records

T0 = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(seconds=2)


def make(**overrides: Any) -> dict[str, Any]:
    return (
        records.held(
            None, name="op", namespace="ops", identity="a", duration=2.5, now=T0, acquire=True
        )
        | overrides
    )


def test_micro_time_is_rfc3339_with_microseconds_in_utc() -> None:
    assert records.micro_time(T0) == "2026-11-29T12:00:00.123456Z"
    plus_two = timezone(timedelta(hours=2))
    assert records.micro_time(T0.astimezone(plus_two)) == "2026-11-29T12:00:00.123456Z"


def test_creating_it() -> None:
    created = make()
    assert created["apiVersion"] == "coordination.k8s.io/v1" and created["kind"] == "Lease"
    assert created["metadata"] == {"name": "op", "namespace": "ops"}, "no resourceVersion yet"
    assert created["spec"] == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 3,  # whole seconds, rounded up
        "acquireTime": "2026-11-29T12:00:00.123456Z",
        "renewTime": "2026-11-29T12:00:00.123456Z",
        "leaseTransitions": 0,
    }
    assert records.holder_of(created) == "a" and records.duration_of(created) == 3


def test_renewing_keeps_the_acquisition_and_the_resource_version() -> None:
    stored = make(metadata={"name": "op", "namespace": "ops", "resourceVersion": "41"})
    renewed = records.held(
        stored, name="op", namespace="ops", identity="a", duration=2.5, now=T1, acquire=False
    )
    assert renewed["metadata"]["resourceVersion"] == "41", "the write is based on what was read"
    assert renewed["spec"]["renewTime"] == "2026-11-29T12:00:02.123456Z"
    assert renewed["spec"]["acquireTime"] == stored["spec"]["acquireTime"]
    assert renewed["spec"]["leaseTransitions"] == 0
    assert records.observed(renewed) != records.observed(stored), "a renewal is a change"


def test_taking_it_over_counts_a_transition() -> None:
    stored = make()
    taken = records.held(
        stored, name="op", namespace="ops", identity="b", duration=2.5, now=T1, acquire=True
    )
    assert taken["spec"]["holderIdentity"] == "b"
    assert taken["spec"]["acquireTime"] == taken["spec"]["renewTime"] == records.micro_time(T1)
    assert taken["spec"]["leaseTransitions"] == 1


def test_releasing_it_clears_the_holder() -> None:
    stored = make(metadata={"name": "op", "namespace": "ops", "resourceVersion": "7"})
    stored["spec"]["leaseTransitions"] = 4
    free = records.released(stored, now=T1)
    assert free["spec"]["holderIdentity"] == "" and records.holder_of(free) is None
    assert free["spec"]["leaseDurationSeconds"] == 1
    assert free["spec"]["leaseTransitions"] == 4
    assert free["metadata"]["resourceVersion"] == "7"
    assert records.holder_of(None) is None and records.duration_of(None) == 0
