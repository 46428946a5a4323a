"""Leader election (engine/leader.py) against the Kubernetes API emulator over HTTP.

Real collaborators: the emulator (a Lease with resourceVersion conflicts, fault
injection), the operator's own KubeApi and Metrics. Several ``Leadership``
objects campaign for one Lease in this event loop, with short durations (lease
1.5 s, renew deadline 1 s, retry period 0.2 s); a clock with an adjustable
offset stands for time passing without the API server noticing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from drs_operator import __version__
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.leader import Leadership, default_identity
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.settings import ElectionSettings
from drs_operator.sandbox.emulator import EmulatedCluster

NS = "ops"
LEASE = "drs-operator"
SETTINGS = ElectionSettings(
    enabled=True,
    lease_name=LEASE,
    lease_namespace=NS,
    lease_duration=1.5,
    renew_deadline=1.0,
    retry_period=0.2,
)


class Candidate:
    """One campaigning process: its Leadership, metrics and an adjustable clock."""

    def __init__(
        self, cluster: EmulatedCluster, identity: str, settings: ElectionSettings = SETTINGS
    ) -> None:
        self.skew = 0.0
        self.clock: Callable[[], float] = lambda: time.monotonic() + self.skew
        self.metrics = Metrics()
        self.kube = KubeApi(server=cluster.url, identity=identity)
        self.gained = 0
        self.lost = 0
        self.leadership = Leadership(
            settings,
            kube=self.kube,
            identity=identity,
            metrics=self.metrics,
            on_gained=self._gain,
            on_lost=self._lose,
            clock=self.clock,
        )

    def _gain(self) -> None:
        self.gained += 1

    def _lose(self) -> None:
        self.lost += 1

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def cluster() -> AsyncIterator[EmulatedCluster]:
    emulated = EmulatedCluster()
    await emulated.start()
    yield emulated
    await emulated.stop()


@pytest.fixture
async def candidates(cluster: EmulatedCluster) -> AsyncIterator[list[Candidate]]:
    made: list[Candidate] = []
    yield made
    for candidate in made:
        await candidate.leadership.stop(release=False)
        await candidate.kube.aclose()


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.02)


def spec(cluster: EmulatedCluster) -> dict[str, Any]:
    return dict((cluster.get("leases", NS, LEASE) or {}).get("spec") or {})


async def campaign(cluster: EmulatedCluster, made: list[Candidate], *names: str) -> list[Candidate]:
    new = [Candidate(cluster, name) for name in names]
    made.extend(new)
    for candidate in new:
        await candidate.leadership.start()
    return new


async def test_of_two_candidates_exactly_one_leads_and_the_lease_names_it(
    cluster: EmulatedCluster, candidates: list[Candidate], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drs_operator.engine.leader")
    a, b = await campaign(cluster, candidates, "a", "b")
    await until(lambda: a.leadership.is_leader() or b.leadership.is_leader())
    await asyncio.sleep(4 * SETTINGS.retry_period)  # several renewals and attempts
    leaders = [c for c in (a, b) if c.leadership.is_leader()]
    assert len(leaders) == 1
    leader, standby = leaders[0], (b if leaders[0] is a else a)
    lease = spec(cluster)
    assert lease["holderIdentity"] == leader.leadership.identity
    assert lease["leaseDurationSeconds"] == 2, "whole seconds, rounded up"
    assert lease["leaseTransitions"] == 0
    assert (
        leader.metric("drs_operator_leader", lease=LEASE),
        standby.metric("drs_operator_leader", lease=LEASE),
    ) == (1, 0)
    assert (leader.gained, standby.gained) == (1, 0)
    # The leader renews without reading first: its requests are mostly PUTs.
    mine = cluster.requests(
        resource="leases", user_agent=f"drs-operator/{__version__} ({leader.leadership.identity})"
    )
    assert sum(r.method == "PUT" for r in mine) > sum(r.method == "GET" for r in mine)
    # Losing the race to create or write the Lease is no warning: one line says who leads.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    lines = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("Leading: acquired Lease ops/drs-operator") for m in lines) == 1
    assert sum(m.startswith("Standing by: Lease ops/drs-operator is held by") for m in lines) == 1


async def test_release_lets_the_standby_take_over_within_a_retry_period(
    cluster: EmulatedCluster, candidates: list[Candidate]
) -> None:
    slow = ElectionSettings(**{**SETTINGS.__dict__, "lease_duration": 30.0, "renew_deadline": 20.0})
    a = Candidate(cluster, "a", slow)
    candidates.append(a)
    await a.leadership.start()
    await until(a.leadership.is_leader)
    b = Candidate(cluster, "b", slow)
    candidates.append(b)
    await b.leadership.start()
    await asyncio.sleep(3 * SETTINGS.retry_period)
    assert not b.leadership.is_leader()

    released = time.monotonic()
    await a.leadership.stop(release=True)
    assert not a.leadership.is_leader()
    await until(b.leadership.is_leader, timeout=5)
    took = time.monotonic() - released
    assert took <= 2 * SETTINGS.retry_period + 0.8, f"took {took:.2f}s (lease 30 s)"
    assert spec(cluster)["holderIdentity"] == "b"
    assert spec(cluster)["leaseTransitions"] == 1
    assert a.metric("drs_operator_leader_transitions_total", change="released") == 1


async def test_a_crashed_leader_is_replaced_after_the_lease_duration_not_before(
    cluster: EmulatedCluster, candidates: list[Candidate]
) -> None:
    a, b = await campaign(cluster, candidates, "a", "b")
    await until(lambda: a.leadership.is_leader() or b.leadership.is_leader())
    leader, standby = (a, b) if a.leadership.is_leader() else (b, a)
    await asyncio.sleep(2 * SETTINGS.retry_period)

    await leader.leadership.stop(release=False)  # a crash: no release
    crashed = time.monotonic()
    await asyncio.sleep(SETTINGS.lease_duration / 2)
    assert not standby.leadership.is_leader(), "taken over before the lease ran out"
    await until(standby.leadership.is_leader, timeout=5)
    took = time.monotonic() - crashed
    # lease (2 s, rounded up) after the standby last saw a renewal (<= 1.2 retries before)
    assert 2 - 1.2 * SETTINGS.retry_period <= took <= 2 + 1.2 * SETTINGS.retry_period + 1.0, took
    assert spec(cluster)["holderIdentity"] == standby.leadership.identity


async def test_the_gate_closes_at_the_renew_deadline_whatever_the_renewing_task_does(
    cluster: EmulatedCluster, candidates: list[Candidate]
) -> None:
    (a,) = await campaign(cluster, candidates, "a")
    await until(a.leadership.is_leader)
    hold = asyncio.Event()

    async def hang() -> None:  # the API server takes the renewal and never answers
        await hold.wait()

    cluster.handler["put"][re.compile(r".*/leases/.*")] << hang
    await asyncio.sleep(2 * SETTINGS.retry_period)  # a renewal is hanging now
    started = time.monotonic()
    await until(lambda: not a.leadership.is_leader(), timeout=3)
    assert time.monotonic() - started <= SETTINGS.renew_deadline + 0.3
    await until(lambda: a.lost == 1, timeout=2)
    assert a.metric("drs_operator_leader", lease=LEASE) == 0
    hold.set()


async def test_time_passing_alone_closes_the_gate(
    cluster: EmulatedCluster, candidates: list[Candidate]
) -> None:
    (a,) = await campaign(cluster, candidates, "a")
    await until(a.leadership.is_leader)
    a.skew += SETTINGS.renew_deadline  # the renew deadline passed since the last renewal
    assert not a.leadership.is_leader(), "no I/O needed: the gate is the clock"


async def test_a_leader_whose_renewals_are_refused_stops_and_says_so_once(
    cluster: EmulatedCluster, candidates: list[Candidate], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drs_operator.engine.leader")
    (a,) = await campaign(cluster, candidates, "a")
    await until(a.leadership.is_leader)
    refused = cluster.handler["put"][re.compile(r".*/leases/.*")] << 503
    refused_at = time.monotonic()
    await until(lambda: not a.leadership.is_leader(), timeout=3)
    assert time.monotonic() - refused_at <= SETTINGS.renew_deadline + 0.3
    await until(lambda: a.lost == 1)
    await asyncio.sleep(3 * SETTINGS.retry_period)  # more failed attempts
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("renewal failed" in m for m in warnings) == 1, warnings
    assert sum("Standing by: lost Lease ops/drs-operator" in m for m in warnings) == 1

    cluster.handler._payloads.remove(refused)
    await until(a.leadership.is_leader, timeout=3)
    assert a.gained == 2
    assert a.metric("drs_operator_leader_transitions_total", change="lost") == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_leader_that_sees_another_holder_stops_at_once(
    cluster: EmulatedCluster, candidates: list[Candidate]
) -> None:
    long = ElectionSettings(**{**SETTINGS.__dict__, "lease_duration": 5.0, "renew_deadline": 4.0})
    a = Candidate(cluster, "a", long)
    candidates.append(a)
    await a.leadership.start()
    await until(a.leadership.is_leader)
    # Someone else writes the Lease (its renewal raced ours and won): a's next
    # renewal gets a 409, it reads the Lease and sees another holder.
    lease = cluster.get("leases", NS, LEASE) or {}
    cluster.replace(
        "leases", NS, LEASE, {**lease, "spec": {**lease["spec"], "holderIdentity": "intruder"}}
    )
    seen = time.monotonic()
    await until(lambda: not a.leadership.is_leader(), timeout=3)
    assert time.monotonic() - seen < long.renew_deadline / 2, "long before the renew deadline"
    assert spec(cluster)["holderIdentity"] == "intruder", "a did not overwrite it"


async def test_with_election_off_the_gate_is_always_open(cluster: EmulatedCluster) -> None:
    metrics = Metrics()
    async with KubeApi(server=cluster.url) as kube:
        off = Leadership(ElectionSettings(), kube=kube, identity="x", metrics=metrics)
        await off.start()
        assert off.is_leader()
        await off.stop()
    assert metrics.registry.get_sample_value("drs_operator_leader", {"lease": ""}) == 1
    assert cluster.requests(resource="leases") == []


def test_the_identity_is_the_pod_name_else_host_and_pid() -> None:
    assert default_identity({"POD_NAME": "drs-operator-7d9f-x2"}) == "drs-operator-7d9f-x2"
    assert re.fullmatch(r".+_\d+", default_identity({}))


async def test_an_unexpected_error_in_an_attempt_is_logged_and_the_campaign_goes_on(
    cluster: EmulatedCluster,
    candidates: list[Candidate],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, any error but the API's ended the election task without a word: the
    gate closed at the deadline and the process never campaigned again."""
    caplog.set_level(logging.INFO, logger="drs_operator.engine.leader")
    (a,) = await campaign(cluster, candidates, "a")
    await until(a.leadership.is_leader)
    attempt = a.leadership._attempt
    failures = iter([RuntimeError("a bug")])

    async def flaky() -> Any:
        for error in failures:
            raise error
        return await attempt()

    monkeypatch.setattr(a.leadership, "_attempt", flaky)
    await until(lambda: any("failed unexpectedly" in r.getMessage() for r in caplog.records))
    [logged] = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert logged.levelno == logging.ERROR and logged.exc_info is not None
    await asyncio.sleep(2 * SETTINGS.retry_period)  # the next attempts renew as before
    assert a.leadership.is_leader() and a.lost == 0


async def test_a_shutdown_whose_release_is_refused_is_no_lost_leadership(
    cluster: EmulatedCluster, candidates: list[Candidate], caplog: pytest.LogCaptureFixture
) -> None:
    """Before, it logged 'Standing by: lost Lease' as a WARNING and counted `lost`, which
    the alert and the docs read as a leader cut off from the API server."""
    caplog.set_level(logging.INFO, logger="drs_operator.engine.leader")
    (a,) = await campaign(cluster, candidates, "a")
    await until(a.leadership.is_leader)
    cluster.handler["put"][re.compile(r".*/leases/.*")] << 503
    await a.leadership.stop()
    assert not a.leadership.is_leader() and a.lost == 1, "the engine is told it stopped leading"
    assert a.metric("drs_operator_leader", lease=LEASE) == 0
    assert a.metric("drs_operator_leader_transitions_total", change="lost") == 0
    assert a.metric("drs_operator_leader_transitions_total", change="released") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith("Standing by: lost") for m in messages)
    assert any("was not released and expires by itself" in m for m in messages)
