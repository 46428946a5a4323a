"""The status writer (engine/writer.py) against the Kubernetes API emulator over HTTP.

One observation in, at most one merge patch of ``/status`` out, then the
transition events. The memo (``JobRecord.written_from``) skips the mapping
when the same answer meets the same object; a 404 forgets the record; a
deleted record is never written; API errors are counted, never raised.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from drs_operator.domain.observations import Failed, Observation, Observed
from drs_operator.drs.models import JobDetail
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord, Registry
from drs_operator.engine.writer import StatusWriter
from drs_operator.sandbox.emulator import EmulatedCluster

NS = "team-w"
JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"
STEADY = Observed(JobDetail(id=JOB_ID, status="INCRE_TRANSFER_STARTED"))
THROTTLED = Failed("Throttled", "the service throttled the call (code APIG.0308)")


class Now:
    """The writer's wall clock: fixed, and counting how often it is read."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Setup:
    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster
        self.now = Now()
        self.metrics = Metrics()
        self.registry = Registry(default_credentials="drs-credentials")
        self.kube = KubeApi(server=cluster.url)
        self.writer = StatusWriter(
            kube=self.kube, registry=self.registry, metrics=self.metrics, now=self.now
        )

    def add(self, name: str = "a") -> JobRecord:
        self.cluster.create(
            {
                "apiVersion": "drs.operators.dev/v1alpha1",
                "kind": "DrsJob",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"jobId": JOB_ID},
            }
        )
        return self.watch(name)

    def watch(self, name: str = "a") -> JobRecord:
        """What kopf's watch does after a change: the registry sees the object."""
        record = self.registry.observe(event_type=None, body=self.obj(name))
        assert record is not None
        return record

    def obj(self, name: str = "a") -> dict[str, Any]:
        found = self.cluster.get("drsjobs", NS, name)
        assert found is not None
        return found

    def writes(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "drs_operator_status_writes_total", {"outcome": outcome}
        )
        return value or 0.0

    def events(self) -> list[tuple[str, str]]:
        return [(e["type"], e["reason"]) for e in self.cluster.list("events", NS)]


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    cluster = EmulatedCluster()
    await cluster.start()
    built = Setup(cluster)
    yield built
    await built.kube.aclose()
    await cluster.stop()


@pytest.mark.parametrize(
    ("observations", "events", "expected_events"),
    [
        pytest.param([STEADY], True, [("Normal", "TaskObserved")],
                     id="first-success: one TaskObserved, the Synced event is implied"),
        pytest.param([STEADY, THROTTLED], True,
                     [("Normal", "TaskObserved"), ("Warning", "SyncFailed")],
                     id="then-a-failed-refresh: one SyncFailed"),
        pytest.param([STEADY], False, [], id="events-disabled: the patch without events"),
    ],
)  # fmt: skip
async def test_each_new_status_is_one_patch_and_its_transition_events(
    setup: Setup,
    observations: list[Observation],
    events: bool,
    expected_events: list[tuple[str, str]],
) -> None:
    writer = StatusWriter(
        kube=setup.kube, registry=setup.registry, metrics=setup.metrics, events=events
    )
    record = setup.add()

    for observation in observations:
        assert await writer.apply(record, observation) is True

    assert setup.cluster.status_patch_count(namespace=NS, name="a") == len(observations)
    assert setup.writes("written") == len(observations)
    assert setup.events() == expected_events
    obj = setup.obj()
    # The API server's answer is the record's new truth.
    assert record.status == obj["status"]
    assert record.resource_version == obj["metadata"]["resourceVersion"]
    assert obj["status"]["taskStatus"] == "INCRE_TRANSFER_STARTED"
    for event in setup.cluster.list("events", NS):
        assert event["involvedObject"]["name"] == "a"
        assert event["involvedObject"]["uid"] == obj["metadata"]["uid"]


def _label(setup: Setup) -> None:
    setup.cluster.patch("drsjobs", NS, "a", {"metadata": {"labels": {"team": "w"}}})


def _tamper(setup: Setup) -> None:
    setup.cluster.patch_status("drsjobs", NS, "a", {"taskStatus": "TAMPERED"})


def _edit_spec(setup: Setup) -> None:
    setup.cluster.patch_spec("drsjobs", NS, "a", {"refreshInterval": "2m"})


@pytest.mark.parametrize(
    ("change", "recomputes", "requests"),
    [
        pytest.param(None, False, 0,
                     id="unchanged: the memo skips the mapping, no request"),
        pytest.param(_label, True, 0,
                     id="foreign label edit: new resourceVersion, recomputed, same status"),
        pytest.param(_tamper, True, 2,
                     id="foreign status edit: restored, with a TaskStatusChanged event"),
        pytest.param(_edit_spec, True, 1,
                     id="spec edit: new generation, observedGeneration is written"),
    ],
)  # fmt: skip
async def test_the_same_observation_again_is_written_only_when_the_object_changed(
    setup: Setup,
    change: Callable[[Setup], None] | None,
    recomputes: bool,
    requests: int,
) -> None:
    record = setup.add()
    assert await setup.writer.apply(record, STEADY)
    written = setup.obj()["status"]
    before = setup.cluster.log.total
    if change is not None:
        change(setup)
        setup.watch()  # the watch event of that change
    reads = setup.now.calls

    pending = setup.writer.prepare(record, STEADY)

    assert (setup.now.calls > reads) is recomputes, "the mapping ran (it reads the clock)"
    assert (pending is not None) is (requests > 0)
    if pending is not None:
        assert await setup.writer.write(record, pending)
    assert setup.obj()["status"]["taskStatus"] == written["taskStatus"]
    assert setup.obj()["status"].get("observedGeneration") == setup.obj()["metadata"]["generation"]
    assert setup.cluster.log.total == before + requests
    # Whatever happened, the memo now holds: the next identical refresh costs nothing.
    reads = setup.now.calls
    assert setup.writer.prepare(record, STEADY) is None
    assert setup.now.calls == reads


async def test_a_404_forgets_the_record(setup: Setup) -> None:
    record = setup.add()
    setup.cluster.delete("drsjobs", NS, "a")

    assert await setup.writer.apply(record, STEADY) is False

    assert record.deleted
    assert len(setup.registry) == 0
    assert setup.writes("gone") == 1 and setup.writes("written") == 0
    assert setup.events() == []
    assert setup.writer.prepare(record, STEADY) is None, "a forgotten record is never written"


def _forget(setup: Setup, record: JobRecord) -> None:
    setup.registry.observe(event_type="DELETED", body=setup.obj())


def _recreate(setup: Setup, record: JobRecord) -> None:
    setup.cluster.delete("drsjobs", NS, "a")
    setup.add()  # same name, new uid: a new incarnation replaces the record


@pytest.mark.parametrize(
    ("delete", "before_prepare"),
    [
        pytest.param(_forget, True, id="deleted before the refresh is prepared"),
        pytest.param(_forget, False, id="deleted while the write waits"),
        pytest.param(_recreate, False, id="replaced by a new object of the same name"),
    ],
)
async def test_a_deleted_record_is_never_written(
    setup: Setup,
    delete: Callable[[Setup, JobRecord], None],
    before_prepare: bool,
) -> None:
    record = setup.add()
    if before_prepare:
        delete(setup, record)
        assert setup.writer.prepare(record, STEADY) is None
    else:
        pending = setup.writer.prepare(record, STEADY)
        assert pending is not None
        delete(setup, record)
        assert await setup.writer.write(record, pending) is False

    assert record.deleted
    assert setup.cluster.count(method="PATCH") == 0
    assert setup.writes("written") == 0
    assert setup.events() == []


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(500, id="500: server error"),
        pytest.param(409, id="409: conflict"),
        pytest.param(422, id="422: invalid"),
        pytest.param(403, id="403: RBAC forbids the status subresource"),
    ],
)
async def test_an_api_error_is_counted_and_the_write_is_tried_again_next_time(
    setup: Setup, code: int
) -> None:
    record = setup.add()
    reaction = setup.cluster.handler["patch"][re.compile(r".*/status")] << code

    assert await setup.writer.apply(record, STEADY) is False  # no exception

    assert setup.writes("error") == 1 and setup.writes("written") == 0
    assert setup.cluster.requests(method="PATCH")[-1].status == code
    assert setup.events() == []
    assert record.status == {} and record.written_from is None
    setup.cluster.handler._payloads.remove(reaction)
    assert await setup.writer.apply(record, STEADY) is True, "the memo did not swallow it"
    assert setup.obj()["status"]["taskStatus"] == "INCRE_TRANSFER_STARTED"


async def test_drain_waits_for_the_writes_in_flight(setup: Setup) -> None:
    record = setup.add()
    gate = asyncio.Event()

    async def hold() -> None:  # answers nothing: the emulator then serves the patch
        await gate.wait()

    setup.cluster.handler["patch"][re.compile(r".*/status")] << hold
    task = asyncio.create_task(setup.writer.apply(record, STEADY))
    for _ in range(500):  # until the patch reached the emulator
        if setup.cluster.count(method="PATCH"):
            break
        await asyncio.sleep(0.01)
    assert setup.cluster.count(method="PATCH") == 1

    assert await setup.writer.drain(0.05) is False, "the write is still held"
    assert record.written_from is None
    gate.set()
    assert await setup.writer.drain(10) is True

    assert record.written_from is not None
    assert record.status.get("taskStatus") == "INCRE_TRANSFER_STARTED"
    assert task.done() and task.result() is True
    assert await setup.writer.drain(1) is True, "idle: nothing to wait for"


async def test_drain_of_an_idle_writer_is_true_at_once(setup: Setup) -> None:
    assert await setup.writer.drain(0) is True
