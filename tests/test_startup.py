"""The operator's start-up check and the namespaces it announces (engine/app.py).

Against the Kubernetes API emulator (the check passes and learns the version), a port
nothing listens on (retried, then one line naming the server and the cause; the clock
and the pauses are injected, so no time passes), and an API server that answers 401 or
does not serve DrsJobs (a stand-in server through httpx's MockTransport: at once, no
retry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from drs_operator.engine.app import STARTUP_TIMEOUT, Operator, StartupError
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.settings import ServingSettings, Settings, WatchingSettings
from drs_operator.sandbox.emulator import EmulatedCluster

SETTINGS = Settings(serving=ServingSettings(metrics_port=0, health_port=0))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatedCluster]:
    cluster = EmulatedCluster()
    await cluster.start()
    yield cluster
    await cluster.stop()


async def test_the_check_passes_and_learns_the_version(emulator: EmulatedCluster) -> None:
    operator = Operator(settings=SETTINGS, kube=KubeApi(server=emulator.url))
    try:
        info = await operator.preflight()
    finally:
        await operator.kube.aclose()
    assert info.server == emulator.url and info.version == "v1.26.4+k3s1"


async def test_an_unreachable_server_is_retried_then_named_with_its_cause() -> None:
    clock = FakeClock()
    operator = Operator(settings=SETTINGS, kube=KubeApi(server="http://user:pw@127.0.0.1:9"))
    try:
        with pytest.raises(StartupError) as caught:
            await operator.preflight(clock=clock, sleep=clock.sleep)
    finally:
        await operator.kube.aclose()
    message = str(caught.value)
    assert message.startswith("cannot reach the Kubernetes API at http://127.0.0.1:9: ")
    assert "connection refused" in message and "pw" not in message
    assert len(clock.pauses) >= 3 and sum(clock.pauses) <= STARTUP_TIMEOUT


def _answering(status: int, body: dict[str, object]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json={"gitVersion": "v1.33.0"})
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (401, {"kind": "Status", "reason": "Unauthorized"}, "refused the operator's credentials"),
        (404, {"kind": "Status", "reason": "NotFound"}, "is the CRD installed?"),
        (200, {"resources": [{"name": "somethingelse"}]}, "does not serve drsjobs."),
        (403, {"kind": "Status", "reason": "Forbidden"}, "check the operator's RBAC"),
    ],
)
async def test_refusals_fail_at_once(status: int, body: dict[str, object], words: str) -> None:
    clock = FakeClock()
    kube = KubeApi(server="https://api.example:6443", transport=_answering(status, body))
    operator = Operator(settings=SETTINGS, kube=kube)
    try:
        with pytest.raises(StartupError, match=words):
            await operator.preflight(clock=clock, sleep=clock.sleep)
    finally:
        await kube.aclose()
    assert clock.pauses == []


@pytest.mark.parametrize(
    ("watching", "namespaces", "said"),
    [
        (WatchingSettings(), ("from-context",), "namespace from-context (the current context's: "
         "neither -n nor -A given)"),
        (WatchingSettings(namespaces=("a", "b")), ("a", "b"), "namespaces a, b"),
        (WatchingSettings(clusterwide=True), None, "all namespaces"),
    ],
)  # fmt: skip
async def test_the_namespaces_and_how_they_are_announced(
    watching: WatchingSettings, namespaces: tuple[str, ...] | None, said: str
) -> None:
    kube = KubeApi(server="https://api.example:6443", default_namespace="from-context")
    operator = Operator(settings=Settings(watching=watching), kube=kube)
    try:
        assert operator.namespaces == namespaces
        assert operator.describe_namespaces() == said
    finally:
        await kube.aclose()


@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        pytest.param(ConnectionRefusedError(111, "refused"), logging.WARNING, False,
                     id="kopf's request task after the API server went away: one line"),
        pytest.param(RuntimeError("a bug"), logging.ERROR, True,
                     id="anything else: a traceback at ERROR"),
    ],
)  # fmt: skip
def test_unretrieved_task_errors_are_quiet_only_when_they_are_connection_errors(
    caplog: pytest.LogCaptureFixture, error: BaseException, level: int, traceback: bool
) -> None:
    from drs_operator.handlers import _quiet_orphans

    caplog.set_level(logging.INFO, logger="drs_operator.handlers")
    loop = asyncio.new_event_loop()
    try:
        _quiet_orphans(loop, {"message": "Task exception was never retrieved", "exception": error})
    finally:
        loop.close()
    [record] = caplog.records
    assert record.levelno == level and (record.exc_info is not None) is traceback
