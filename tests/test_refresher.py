"""The refresher (engine/refresher.py): one pass, its calls, its failures, its rescheduling.

Real collaborators: the DRS simulator and the Kubernetes API emulator over
HTTP, the real registry, connections, status writer and metrics. Time is an
injected clock (registry due times, the Secret cache), jitter a seeded RNG.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from drs_operator.domain.cadence import Pace
from drs_operator.engine.connections import Connections
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.refresher import Refresher
from drs_operator.engine.registry import JobRecord, Registry
from drs_operator.engine.settings import BackoffSettings, BatchingSettings, Settings
from drs_operator.engine.writer import StatusWriter
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import RequestRecord, Simulator
from tests.component import NS, PROJECT, add_drsjob, b64

SETTINGS = Settings(
    batching=BatchingSettings(batch_size=10, max_concurrency=4, rate_limit=1000, rate_burst=100),
    backoff=BackoffSettings(initial=0.01, maximum=0.05),  # real sleeps stay short
)  # cadence: the defaults, 15 s / 60 s / 300 s / 30 s (error) ± 10 %, lead 1 s
JITTER = SETTINGS.cadence.jitter
STARTED, FULL, FAILED = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED"
GHOST = "0000aaaa-1111-2222-3333-44445555jb21"  # a task that never existed
OTHER_TOKEN = "a-second-token"


class Harness:
    def __init__(
        self,
        simulator: Simulator,
        cluster: EmulatedCluster,
        *,
        settings: Settings = SETTINGS,
        seed: int = 7,
    ) -> None:
        self.sim, self.cluster, self.now = simulator, cluster, 1000.0
        self.clock: Callable[[], float] = lambda: self.now  # the injected monotonic clock
        self.metrics = Metrics()
        self.kube = KubeApi(server=cluster.url)
        self.registry = Registry(default_credentials="drs-credentials", clock=self.clock)
        self.connections = Connections(
            kube=self.kube, settings=settings, metrics=self.metrics, clock=self.clock
        )
        self.writer = StatusWriter(kube=self.kube, registry=self.registry, metrics=self.metrics)
        self.refresher = Refresher(
            registry=self.registry, connections=self.connections, writer=self.writer,
            settings=settings, metrics=self.metrics, clock=self.clock, rng=random.Random(seed),
        )  # fmt: skip

    def add(self, name: str, job_id: str, **spec: Any) -> JobRecord:
        add_drsjob(self.cluster, name, job_id, **spec)
        record = self.registry.observe(
            event_type=None, body=self.cluster.get("drsjobs", NS, name) or {}
        )
        assert record is not None
        return record

    def secret(self, name: str, **values: str) -> None:
        meta, data = {"name": name, "namespace": NS}, {k: b64(v) for k, v in values.items()}
        self.cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data})

    async def cycle(self) -> None:
        """One pass, waiting for its batches and writes."""
        await self.refresher.refresh_once()
        await self.refresher.drain(10)
        assert not any(r.in_flight for r in self.registry), "every job was rescheduled"

    def all_due(self) -> None:
        for record in self.registry:
            self.registry.schedule(record, record.pace, 0)

    def status(self, name: str) -> dict[str, Any]:
        return dict((self.cluster.get("drsjobs", NS, name) or {}).get("status") or {})

    def synced(self, name: str) -> tuple[str, str]:
        found = [c for c in self.status(name).get("conditions", []) if c["type"] == "Synced"]
        return (found[0]["status"], found[0]["reason"]) if found else ("", "")

    def calls(self) -> int:
        return self.sim.stats.batch_detail_calls

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def fault_once(self, field: str) -> None:
        """Switch a fault on for one batch-detail answer (cleared as it is recorded)."""
        setattr(self.sim.faults, field, 1.0)
        record = self.sim.stats.record

        def once(entry: RequestRecord, *, batch_detail: bool) -> None:
            record(entry, batch_detail=batch_detail)
            if batch_detail:
                setattr(self.sim.faults, field, 0.0)

        self.sim.stats.record = once  # type: ignore[method-assign,assignment]


@pytest.fixture
async def h(simulator: Simulator, cluster: EmulatedCluster) -> AsyncIterator[Harness]:
    harness = Harness(simulator, cluster)
    yield harness
    await harness.connections.aclose()
    await harness.kube.aclose()


def ok(h: Harness, name: str) -> bool:
    return h.synced(name) == ("True", "Refreshed") and "taskStatus" in h.status(name)


@pytest.mark.parametrize(
    ("tasks", "per_task", "ids_per_call"),
    [
        pytest.param(1, 1, [1], id="one job: one call"),
        pytest.param(10, 1, [10], id="a full batch: one call"),
        pytest.param(11, 1, [1, 10], id="one over the batch size: two calls"),
        pytest.param(23, 1, [3, 10, 10], id="23 jobs: ceil(23/10) calls"),
        pytest.param(1, 2, [1], id="two DrsJobs naming one task cost one ID"),
        pytest.param(12, 2, [2, 10], id="24 DrsJobs of 12 tasks: 12 IDs"),
    ],
)
async def test_due_jobs_of_one_connection_cost_one_call_per_batch_of_distinct_ids(
    h: Harness, tasks: int, per_task: int, ids_per_call: list[int]
) -> None:
    ids = [h.sim.add_job(status=STARTED) for _ in range(tasks)]
    for i, job_id in enumerate(ids * per_task):
        h.add(f"job-{i}", job_id)

    await h.cycle()

    assert h.calls() == math.ceil(tasks / SETTINGS.batching.batch_size)
    assert sorted(h.sim.stats.ids_per_call) == ids_per_call
    assert all(ok(h, f"job-{i}") for i in range(tasks * per_task))
    assert h.cluster.status_patch_count(namespace=NS) == tasks * per_task


@pytest.mark.parametrize(
    ("other_connection", "pace", "due_in", "ids_per_call"),
    [
        pytest.param(False, Pace.STEADY, 3.0, [10], id="same connection, due soon: topped up"),
        pytest.param(
            False, Pace.STEADY, 45.0, [10], id="due before the call's jobs are due again: topped up"
        ),
        pytest.param(
            False, Pace.STEADY, 61.0, [5], id="due after the call's jobs are due again: not taken"
        ),
        pytest.param(
            False, Pace.IN_PROGRESS, 3.0, [5], id="a shorter cadence than the call's: not taken"
        ),
        pytest.param(False, Pace.FAILED, 45.0, [10], id="a longer cadence, due before: topped up"),
        pytest.param(True, Pace.STEADY, 3.0, [5], id="another connection: not taken"),
    ],
)
async def test_a_partial_batch_is_topped_up_with_nearly_due_jobs_of_its_connection(
    h: Harness, other_connection: bool, pace: Pace, due_in: float, ids_per_call: list[int]
) -> None:
    h.sim.add_token(OTHER_TOKEN, project_id=PROJECT)
    h.secret("second", token=OTHER_TOKEN, projectId=PROJECT, endpoint=h.sim.url)
    ref = {"credentialsRef": {"name": "second"}} if other_connection else {}
    due = [h.add(f"due-{i}", h.sim.add_job(status=STARTED)) for i in range(5)]
    near = [h.add(f"near-{i}", h.sim.add_job(status=STARTED), **ref) for i in range(5)]
    await h.cycle()
    for record in due:  # a call of steady jobs: they come due again within 54-60 s
        h.registry.schedule(record, Pace.STEADY, 0.0)
    for record in near:
        h.registry.schedule(record, pace, due_in)
    h.sim.stats.reset()

    await h.cycle()

    assert h.sim.stats.ids_per_call == ids_per_call
    taken = ids_per_call == [10]
    for record in near:
        assert (record.due - h.now > due_in) is taken, "refreshed now, next one later"


@pytest.mark.parametrize(
    ("mixed_missing", "deleted", "first_pass_calls"),
    [
        pytest.param("error400", False, 2, id="strict server: a 400 names it, the rest re-asked"),
        pytest.param("items200", False, 1, id="lenient server: an error item in a 200"),
        pytest.param("error400", True, 2, id="a deleted task (DRS.M05004)"),
    ],
)
async def test_a_missing_task_is_isolated_and_afterwards_asked_alone(
    h: Harness, mixed_missing: str, deleted: bool, first_pass_calls: int
) -> None:
    h.sim.mixed_missing = mixed_missing
    ghost = GHOST
    if deleted:
        ghost = h.sim.add_job(status=STARTED)
        h.sim.delete_job(ghost)
    ids = [h.sim.add_job(status=STARTED) for _ in range(7)]
    for i, job_id in enumerate([*ids[:3], ghost, *ids[3:]]):
        h.add(f"job-{i}", job_id)

    await h.cycle()

    assert h.calls() == first_pass_calls
    assert h.synced("job-3") == ("False", "NotFound")
    assert all(ok(h, f"job-{i}") for i in (0, 1, 2, 4, 5, 6, 7))
    assert h.metric("drs_operator_jobs_refreshed_total", outcome="missing") == 1
    h.all_due()
    await h.cycle()
    assert h.calls() == first_pass_calls + 2, "the healthy batch, and the missing ID alone"
    assert sorted(r.ids for r in h.sim.stats.requests[-2:]) == sorted([(ghost,), tuple(ids)])
    assert h.synced("job-3") == ("False", "NotFound") and ok(h, "job-0")
    if not deleted:  # the task appears after all: asked alone once more, then batched again
        h.sim.add_job(job_id=ghost, status=STARTED)
        for expected in ([1, 7], [8]):
            before = h.calls()
            h.all_due()
            await h.cycle()
            assert sorted(h.sim.stats.ids_per_call[before:]) == expected and ok(h, "job-3")


async def test_ids_left_unanswered_are_asked_alone_twice_then_missing(h: Harness) -> None:
    for i in range(3):
        h.add(f"job-{i}", h.sim.add_job(status=STARTED))
    h.sim.faults.empty_results_ratio = 1.0

    await h.cycle()

    assert h.sim.stats.ids_per_call == [3, 1, 1, 1, 1, 1, 1]
    for i in range(3):
        assert h.synced(f"job-{i}") == ("False", "NotFound")
        assert "no record" in h.status(f"job-{i}")["conditions"][1]["message"]


@pytest.mark.parametrize(
    ("spec", "reason", "interval"),
    [
        pytest.param({"suspend": True}, "Suspended", 300.0, id="suspended: until the spec changes"),
        pytest.param({"refreshInterval": "1s"}, "InvalidSpec", 300.0, id="invalid spec"),
        pytest.param({"credentialsRef": {"name": "nope"}}, "CredentialsMissing", 30.0,
                     id="no such Secret: retried on the error interval"),
        pytest.param({"credentialsRef": {"name": "bare"}}, "CredentialsMissing", 30.0,
                     id="a Secret without credentials keys"),
        pytest.param({"credentialsRef": {"name": "locked"}}, "CredentialsUnavailable", 30.0,
                     id="the Secret cannot be read (HTTP 500)"),
    ],
)  # fmt: skip
async def test_jobs_that_need_no_call_get_their_reason_without_a_call(
    h: Harness, spec: dict[str, Any], reason: str, interval: float
) -> None:
    h.secret("bare", projectId=PROJECT, region="cn-north-4")
    h.cluster.handler["get"][re.compile(r".*/secrets/locked")] << 500
    record = h.add("odd", h.sim.add_job(status=STARTED), **spec)

    await h.cycle()

    assert h.synced("odd") == ("False", reason)
    assert h.calls() == 0
    assert interval * (1 - JITTER) <= record.due - h.now <= interval * (1 + JITTER)


@pytest.mark.parametrize(
    ("status", "spec", "pace", "interval"),
    [
        pytest.param(FULL, {}, Pace.IN_PROGRESS, 15.0, id="in progress: often"),
        pytest.param(STARTED, {}, Pace.STEADY, 60.0, id="steady: less often"),
        pytest.param(FAILED, {}, Pace.FAILED, 300.0, id="failed task: rarely"),
        pytest.param(None, {}, Pace.FAILED, 300.0, id="missing task: rarely"),
        pytest.param(STARTED, {"refreshInterval": "45s"}, Pace.STEADY, 45.0,
                     id="spec.refreshInterval overrides the pace's interval"),
        pytest.param("500", {}, Pace.ERROR, 30.0, id="failed refresh: the error interval"),
    ],
)  # fmt: skip
async def test_the_next_refresh_is_scheduled_by_the_pace_of_the_observation(
    h: Harness, status: str | None, spec: dict[str, Any], pace: Pace, interval: float
) -> None:
    job_id = h.sim.add_job(status=status) if status and status != "500" else GHOST
    h.sim.faults.server_error_ratio = 1.0 if status == "500" else 0.0
    record = h.add("paced", job_id, **spec)

    await h.cycle()

    assert record.pace is pace
    low, high = interval * (1 - JITTER), interval * (1 + JITTER)
    assert low <= (h.registry.next_due_in() or 0.0) <= high
    h.now += low - SETTINGS.cadence.lead - 0.01
    assert h.registry.take_due(lead=SETTINGS.cadence.lead) == [], "not before its time"
    h.now += high - low + 0.02
    assert h.registry.take_due(lead=SETTINGS.cadence.lead) == [record]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        pytest.param("throttle_ratio", "APIG.0308", id="429 APIG.0308"),
        pytest.param("busy_ratio", "DRS.M01503", id="400 DRS.M01503 (too frequent)"),
        pytest.param("in_progress_ratio", "DRS.M01504", id="202 DRS.M01504 (in progress)"),
    ],
)
@pytest.mark.parametrize("sustained", [False, True], ids=["once", "sustained"])
async def test_throttling_is_retried_and_reported_only_when_it_lasts(
    h: Harness, fault: str, code: str, sustained: bool
) -> None:
    h.add("busy", h.sim.add_job(status=STARTED))
    await h.cycle()
    writes = h.cluster.status_patch_count(namespace=NS)
    for _ in range(1 if sustained else 3):  # isolated throttles, pass after pass
        if sustained:
            setattr(h.sim.faults, fault, 1.0)
        else:
            h.fault_once(fault)
        h.all_due()
        await h.cycle()

    throttled = h.metric("drs_operator_throttled_total", code=code)
    assert h.metric("drs_operator_backoffs_total", cause="throttled") == throttled
    if sustained:  # three attempts, then Throttled; retried on the error interval
        assert (h.calls(), throttled) == (1 + 3, 3)
        assert h.synced("busy") == ("False", "Throttled")
        assert h.status("busy")["taskStatus"] == STARTED, "the last good status is kept"
        assert next(iter(h.registry)).pace is Pace.ERROR
        h.all_due()
        await h.cycle()
        assert h.calls() == 1 + 3 + 1, "still throttled: one attempt, no retries"
    else:  # each retried after its backoff: Synced never flipped, nothing written
        assert (h.calls(), throttled) == (1 + 3 * 2, 3)
        assert ok(h, "busy") and h.cluster.status_patch_count(namespace=NS) == writes
        assert next(iter(h.registry)).pace is Pace.STEADY


@pytest.mark.parametrize(
    ("fault", "reason", "cause", "calls"),
    [
        pytest.param("server_error_ratio", "ApiError", "apierror", 1, id="HTTP 5xx"),
        pytest.param("malformed_ratio", "InvalidResponse", "invalidresponse", 1,
                     id="an answer that is not JSON"),
        pytest.param("stopped", "Unreachable", "unreachable", 0, id="DRS unreachable"),
    ],
)  # fmt: skip
async def test_a_service_error_backs_off_and_keeps_the_last_good_status(
    h: Harness, fault: str, reason: str, cause: str, calls: int
) -> None:
    h.add("steady", h.sim.add_job(status=STARTED))
    await h.cycle()
    if fault == "stopped":
        await h.sim.stop()
    else:
        setattr(h.sim.faults, fault, 1.0)
    h.all_due()

    await h.cycle()

    assert h.synced("steady") == ("False", reason)
    assert h.status("steady")["taskStatus"] == STARTED
    assert h.calls() == 1 + calls, "no retry within the pass"
    assert h.metric("drs_operator_backoffs_total", cause=cause) == 1
    assert next(iter(h.registry)).pace is Pace.ERROR


async def test_an_auth_error_drops_the_token_so_the_next_refresh_authenticates_first(
    h: Harness,
) -> None:
    h.sim.add_user(name="robot", password="pw", domain="acme", project_id=PROJECT)
    h.secret("iam", username="robot", password="pw", domain="acme", projectId=PROJECT,
             endpoint=h.sim.url, iamEndpoint=h.sim.url)  # fmt: skip
    h.add("a", h.sim.add_job(status=STARTED), credentialsRef={"name": "iam"})
    await h.cycle()
    assert ok(h, "a") and h.sim.stats.iam_token_requests == 1
    h.sim.revoke_tokens()
    h.sim.add_user(name="robot", password="changed", domain="acme", project_id=PROJECT)
    h.all_due()
    await h.cycle()  # DRS refuses the token, IAM refuses a new one
    assert h.synced("a") == ("False", "AuthFailed")
    assert h.sim.stats.iam_token_requests == 2
    h.sim.add_user(name="robot", password="pw", domain="acme", project_id=PROJECT)
    calls, refused = h.calls(), h.sim.stats.by_status[401]
    h.all_due()

    await h.cycle()

    assert ok(h, "a")
    assert h.sim.stats.iam_token_requests == 3, "a new token first"
    assert (h.calls() - calls, h.sim.stats.by_status[401] - refused) == (1, 0), "no 401"
    assert h.cluster.count(method="GET", resource="secrets") == 2, "the Secret was re-read"


async def test_a_refused_status_write_is_tried_again_on_the_error_cadence(h: Harness) -> None:
    h.add("a", h.sim.add_job(status=STARTED))
    h.cluster.handler["patch"] << 500
    await h.cycle()
    [record] = list(h.registry)
    assert record.pace is Pace.ERROR and record.written_from is None
    assert record.due - h.now <= SETTINGS.cadence.error, "not the steady 60 s"


async def test_a_bug_in_the_mapping_leaves_no_job_in_flight(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's prepare() raising (a bug) still reschedules every job of the batch."""
    for i in range(3):
        h.add(f"j{i}", h.sim.add_job(status=STARTED))
    prepare = h.refresher._writer.prepare

    def broken(record: JobRecord, observation: Any) -> Any:
        if record.name == "j1":
            raise RuntimeError("a bug")
        return prepare(record, observation)

    monkeypatch.setattr(h.refresher._writer, "prepare", broken)
    await h.cycle()  # asserts that nothing stays in flight
    assert ok(h, "j0") and ok(h, "j2")


async def test_known_missing_ids_are_forgotten_once_no_drsjob_asks_for_them(h: Harness) -> None:
    record = h.add("ghost", GHOST)
    await h.cycle()
    assert h.refresher._missing, "found missing: remembered to be asked alone"
    h.registry.forget(record.key)
    h.refresher._prune_missing()
    assert not h.refresher._missing


async def test_a_job_whose_secret_rotated_does_not_ride_on_the_old_connection(
    h: Harness,
) -> None:
    """Two Secrets with equal values share a connection; one rotates: its job waits its turn."""
    same = h.cluster.get("secrets", NS, "drs-credentials") or {}
    h.cluster.create({**same, "metadata": {"name": "other", "namespace": NS}})
    due, rider = h.sim.add_job(status=STARTED), h.sim.add_job(status=STARTED)
    h.add("due", due)
    h.add("rider", rider, credentialsRef={"name": "other"})
    await h.cycle()
    records = {r.name: r for r in h.registry}
    assert records["due"].connection_key == records["rider"].connection_key
    ttl = SETTINGS.writing.secret_cache_ttl
    h.registry.schedule(records["due"], Pace.STEADY, ttl + 1)
    h.registry.schedule(records["rider"], Pace.STEADY, ttl + 11)  # 10 s later: would ride
    h.sim.add_token(OTHER_TOKEN, project_id=PROJECT)
    other = h.cluster.get("secrets", NS, "other") or {}
    h.cluster.replace(
        "secrets", NS, "other", {**other, "data": {**other["data"], "token": b64(OTHER_TOKEN)}}
    )
    h.now += ttl + 1  # both cache entries expired; only the due job's Secret is read again
    before = h.calls()
    await h.cycle()
    assert h.calls() - before == 1
    assert h.sim.stats.requests[-1].ids == (due,), "the rider did not ride with old credentials"
    assert records["rider"].due > h.now


async def test_backing_off_is_logged_once_per_connection_not_per_call(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A throttled spell: one WARNING when it starts, one INFO when calls succeed again."""
    for i in range(3):
        h.add(f"j{i}", h.sim.add_job(status=STARTED))
    await h.cycle()
    caplog.set_level(logging.DEBUG, logger="drs_operator.engine.querying")
    h.sim.faults.throttle_ratio = 1.0
    for _ in range(3):  # sustained: several backoffs over several passes
        h.all_due()
        await h.cycle()
    h.sim.faults.throttle_ratio = 0.0
    h.all_due()
    await h.cycle()

    lines = [r for r in caplog.records if r.name == "drs_operator.engine.querying"]
    started = [r for r in lines if r.levelno == logging.WARNING]
    ended = [r for r in lines if r.levelno == logging.INFO]
    per_call = [r for r in lines if r.levelno == logging.DEBUG]
    assert len(started) == 1 and "backs off: throttled (APIG.0308)" in started[0].getMessage()
    assert len(ended) == 1 and "calls succeed again after" in ended[0].getMessage()
    assert len(per_call) >= 2, "the backoffs in between are DEBUG detail"
    assert ok(h, "j0")
