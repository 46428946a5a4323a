"""DrsJob → DRS connection (engine/connections.py) and the Secret cache (engine/secrets.py).

Real collaborators: the Kubernetes API emulator serves the Secrets over HTTP
(its request counters show every read), the DRS simulator answers the calls
a connection makes; time is an injected clock.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import psutil
import pytest

from drs_operator.domain.credentials import CredentialsError
from drs_operator.engine.connections import IDLE_CLOSE_AFTER, Connection, Connections
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.metrics import Metrics
from drs_operator.engine.registry import JobRecord, Registry
from drs_operator.engine.secrets import SecretCache
from drs_operator.engine.settings import Settings, WritingSettings
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import NS, PROJECT, TOKEN, b64

TTL = 30.0
OTHER_PROJECT = "1d7b5a0e4c3f4e2a9b8c7d6e5f4a3b2c"
OTHER_TOKEN = "a-second-token"
CA = "-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def kube(cluster: EmulatedCluster) -> AsyncIterator[KubeApi]:
    api = KubeApi(server=cluster.url)
    yield api
    await api.aclose()


@pytest.fixture
async def connections(kube: KubeApi, clock: Clock) -> AsyncIterator[Connections]:
    settings = Settings(writing=WritingSettings(secret_cache_ttl=TTL))
    built = Connections(kube=kube, settings=settings, metrics=Metrics(), clock=clock)
    yield built
    await built.aclose()


def job(name: str, **spec: Any) -> JobRecord:
    body = {"metadata": {"namespace": NS, "name": name, "uid": name}, "spec": spec}
    body["spec"].setdefault("jobId", "9a470239-2308-4bb5-a6bc-1040402fjb21")
    record = Registry(default_credentials="drs-credentials").observe(event_type=None, body=body)
    assert record is not None and record.spec is not None, record and record.spec_error
    return record


def secret(cluster: EmulatedCluster, name: str, **values: str) -> None:
    data = {key: b64(value) for key, value in values.items()}
    cluster.create(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
         "data": data}
    )  # fmt: skip


def secret_reads(cluster: EmulatedCluster) -> int:
    return cluster.count(method="GET", resource="secrets")


def same_values(simulator: Simulator) -> dict[str, str]:
    """What the shared fixture's Secret drs-credentials holds."""
    return {"token": TOKEN, "projectId": PROJECT, "endpoint": simulator.url, "region": "cn-north-4"}


@pytest.mark.parametrize(
    ("spec_a", "spec_b", "copy", "same"),
    [
        pytest.param({}, {}, False, True, id="no overrides: one connection"),
        pytest.param({"region": "cn-north-4"}, {}, False, True,
                     id="an override equal to the Secret's value: one connection"),
        pytest.param({}, {"credentialsRef": {"name": "copy"}}, True, True,
                     id="another Secret with the same values: one connection, one token"),
        pytest.param({}, {"projectId": OTHER_PROJECT}, False, False,
                     id="projectId override: another project"),
        pytest.param({}, {"endpoint": "{sim}/other"}, False, False,
                     id="endpoint override (the Secret's host, another path): another endpoint"),
    ],
)  # fmt: skip
async def test_the_same_secret_values_and_overrides_share_one_connection(
    simulator: Simulator,
    cluster: EmulatedCluster,
    connections: Connections,
    spec_a: dict[str, Any],
    spec_b: dict[str, Any],
    copy: bool,
    same: bool,
) -> None:
    if copy:
        secret(cluster, "copy", **same_values(simulator))
    spec_b = {
        k: v.format(sim=simulator.url) if isinstance(v, str) else v for k, v in spec_b.items()
    }
    a, b = job("a", **spec_a), job("b", **spec_b)
    assert connections.cached(a) is None, "nothing resolved yet"

    first, second = await connections.resolve(a), await connections.resolve(b)

    assert (first is second) is same
    assert len(connections) == (1 if same else 2)
    assert secret_reads(cluster) == (2 if copy else 1), "one read per Secret name (cached)"
    # The synchronous fast path hands out the same objects while the Secret is fresh.
    assert connections.cached(a) is first and connections.cached(b) is second
    assert await connections.resolve(a) is first
    assert secret_reads(cluster) == (2 if copy else 1)


@pytest.mark.parametrize(
    ("change", "new_key"),
    [
        pytest.param({"token": b64(OTHER_TOKEN)}, True, id="token rotated: a new connection"),
        pytest.param({"region": b64("cn-east-3")}, True, id="region changed: a new connection"),
        pytest.param({"note": b64("hello")}, False, id="an unrelated key added: the same one"),
        pytest.param({}, False, id="rewritten unchanged: the same one"),
    ],
)
async def test_a_changed_secret_is_seen_after_the_cache_ttl(
    cluster: EmulatedCluster,
    connections: Connections,
    clock: Clock,
    change: dict[str, str],
    new_key: bool,
) -> None:
    record = job("a")
    twin = job("b", projectId=PROJECT)  # another memo entry, the same credentials
    before = await connections.resolve(record)
    assert await connections.resolve(twin) is before
    cluster.patch("secrets", NS, "drs-credentials", {"data": change})

    clock.now += TTL - 1
    assert await connections.resolve(record) is before, "the cached Secret still holds"
    assert secret_reads(cluster) == 1
    clock.now += 2
    after = await connections.resolve(record)

    assert secret_reads(cluster) == 2
    assert (after.key != before.key) is new_key
    assert (after is before) is (not new_key)
    assert (after.key.endpoint, after.key.project_id) == (before.key.endpoint, PROJECT)
    assert len(connections) == (2 if new_key else 1), "the old one waits for sweep()"
    # The Secret is fresh again, but the twin's memo was made from the old values.
    assert connections.cached(twin) is None
    assert await connections.resolve(twin) is after
    assert secret_reads(cluster) == 2


def sockets_to(url: str) -> int:
    """Established TCP connections of this process to ``url``'s port (the client side)."""
    port = int(url.rsplit(":", 1)[1])
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def until_sockets(url: str, count: int) -> int:
    for _ in range(200):
        if sockets_to(url) == count:
            break
        await asyncio.sleep(0.02)
    return sockets_to(url)


async def test_sweep_closes_connections_idle_too_long_and_keeps_recent_ones(
    simulator: Simulator, cluster: EmulatedCluster, connections: Connections, clock: Clock
) -> None:
    simulator.add_token(OTHER_TOKEN, project_id=PROJECT)
    secret(cluster, "second", **{**same_values(simulator), "token": OTHER_TOKEN})
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    old, recent = job("old", jobId=job_id), job("recent", jobId=job_id,
                                                 credentialsRef={"name": "second"})  # fmt: skip
    idle = await connections.resolve(old)
    used = await connections.resolve(recent)
    for connection in (idle, used):  # each holds a kept-alive connection to DRS
        assert (await connection.client.batch_detail([job_id])).jobs
    assert await until_sockets(simulator.url, 2) == 2

    clock.now += IDLE_CLOSE_AFTER - 100
    assert await connections.resolve(recent) is used  # used again: its idle time restarts
    clock.now += 201  # ``idle`` unused for IDLE_CLOSE_AFTER + 101 s, ``used`` for 201 s
    await connections.sweep()

    assert len(connections) == 1
    assert await until_sockets(simulator.url, 1) == 1, "the idle one's socket was closed"
    assert [key[1] for key in connections._resolved] == ["second"], "its memo entry pruned"
    # Secret drs-credentials expired more than IDLE_CLOSE_AFTER ago: dropped from the cache.
    assert set(connections.secrets._entries) == {(NS, "second")}
    assert connections.cached(old) is None
    assert await connections.resolve(recent) is used
    assert (await used.client.batch_detail([job_id])).jobs
    again = await connections.resolve(old)
    assert again is not idle and again.key == idle.key, "a closed connection is never reused"
    assert connections.cached(recent) is used
    await connections.aclose()
    assert connections.cached(recent) is None, "nor handed out after aclose()"


@pytest.mark.parametrize(
    ("sweep_at", "kept"),
    [
        pytest.param(TTL + IDLE_CLOSE_AFTER - 1, {"a", "gone", "b"},
                     id="expired less than older_than ago: all kept"),
        pytest.param(TTL + IDLE_CLOSE_AFTER + 1, {"b"},
                     id="expired longer ago: dropped, the missing Secret's entry too"),
        pytest.param(200 + TTL + IDLE_CLOSE_AFTER + 1, set(), id="all expired long ago"),
    ],
)  # fmt: skip
async def test_secret_cache_sweep_drops_expired_entries_and_their_locks(
    cluster: EmulatedCluster, kube: KubeApi, clock: Clock, sweep_at: float, kept: set[str]
) -> None:
    start = clock.now
    cache = SecretCache(kube=kube, ttl=TTL, clock=clock)
    secret(cluster, "a", token="x")
    secret(cluster, "b", token="y")
    assert await cache.values(NS, "a") == {"token": "x"}
    assert await cache.values(NS, "gone") is None
    clock.now = start + 200
    assert await cache.values(NS, "b") == {"token": "y"}

    clock.now = start + sweep_at
    cache.sweep(older_than=IDLE_CLOSE_AFTER)

    assert len(cache) == len(kept)
    assert {name for _, name in cache._locks} == kept, "a lock lives as long as its entry"


async def test_secret_cache_reads_once_per_ttl_and_again_after_forget(
    cluster: EmulatedCluster, kube: KubeApi, clock: Clock
) -> None:
    cache = SecretCache(kube=kube, ttl=TTL, clock=clock)
    secret(cluster, "a", token="x")

    together = await asyncio.gather(*(cache.values(NS, "a") for _ in range(5)))
    assert together == [{"token": "x"}] * 5 and secret_reads(cluster) == 1, "one shared read"
    clock.now += TTL - 1
    assert cache.fresh((NS, "a")) == ({"token": "x"},) and secret_reads(cluster) == 1
    clock.now += 1
    assert cache.fresh((NS, "a")) is None, "stale at the ttl"
    await cache.values(NS, "a")
    assert secret_reads(cluster) == 2
    cache.forget(NS, "a")
    await cache.values(NS, "a")
    assert secret_reads(cluster) == 3
    assert await cache.values(NS, "nope") is None
    assert await cache.values(NS, "nope") is None and secret_reads(cluster) == 4, "None cached"


@pytest.mark.parametrize(
    ("mode", "iam_requests"),
    [
        pytest.param("token", (0, 0), id="token: the Secret is read again"),
        pytest.param("password", (1, 2),
                     id="password: the Secret is read again and the IAM token dropped"),
    ],
)  # fmt: skip
async def test_an_auth_error_rereads_the_secret_and_drops_the_token(
    simulator: Simulator,
    cluster: EmulatedCluster,
    connections: Connections,
    mode: str,
    iam_requests: tuple[int, int],
) -> None:
    simulator.add_user(name="robot", password="pw", domain="acme", project_id=PROJECT)
    secret(cluster, "iam", username="robot", password="pw", domain="acme", projectId=PROJECT,
           endpoint=simulator.url, iamEndpoint=simulator.url)  # fmt: skip
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    ref = {"credentialsRef": {"name": "iam"}} if mode == "password" else {}
    record = job("a", jobId=job_id, **ref)

    async def call() -> Connection:
        connection = connections.cached(record) or await connections.resolve(record)
        assert (await connection.client.batch_detail([job_id])).jobs
        return connection

    connection = await call()
    assert await call() is connection
    assert (secret_reads(cluster), simulator.stats.iam_token_requests) == (1, iam_requests[0])

    connections.on_auth_error(connection)

    assert connections.cached(record) is None, "the Secret must be read again"
    assert await call() is connection, "same values: same connection"
    assert (secret_reads(cluster), simulator.stats.iam_token_requests) == (2, iam_requests[1])


@pytest.mark.parametrize(
    ("name", "values", "reason", "says"),
    [
        pytest.param("nope", None, "CredentialsMissing", "team-a/nope not found",
                     id="no such Secret"),
        pytest.param("bare", {"projectId": PROJECT, "region": "cn-north-4"},
                     "CredentialsMissing", "no credentials keys", id="no credentials keys"),
        pytest.param("half", {"username": "u", "projectId": PROJECT, "region": "cn-north-4"},
                     "CredentialsMissing", "password, domain missing",
                     id="password mode half filled"),
        pytest.param("badca", {"token": "t", "projectId": PROJECT, "region": "cn-north-4",
                               "caBundle": CA}, "CredentialsInvalid", "caBundle",
                     id="caBundle not PEM"),
        pytest.param("locked", {"token": "t"}, "CredentialsUnavailable", "HTTP 500",
                     id="the API server refuses the read (500)"),
    ],
)  # fmt: skip
async def test_unusable_credentials_raise_with_the_reason_and_make_no_connection(
    cluster: EmulatedCluster,
    connections: Connections,
    name: str,
    values: dict[str, str] | None,
    reason: str,
    says: str,
) -> None:
    if values is not None:
        secret(cluster, name, **values)
    if reason == "CredentialsUnavailable":
        cluster.handler["get"][re.compile(r".*/secrets/.*")] << 500

    with pytest.raises(CredentialsError) as caught:
        await connections.resolve(job("a", credentialsRef={"name": name}))

    assert caught.value.reason == reason
    assert says in caught.value.message
    assert len(connections) == 0


async def test_closing_a_password_connection_closes_its_iam_client(
    simulator: Simulator, cluster: EmulatedCluster, connections: Connections
) -> None:
    """The IAM client belongs to the connection's auth: closed with it, never leaked."""
    simulator.add_user(name="robot", password="pw", domain="acme", project_id=PROJECT)
    secret(cluster, "iam", username="robot", password="pw", domain="acme", projectId=PROJECT,
           endpoint=simulator.url, iamEndpoint=simulator.url)  # fmt: skip
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    connection = await connections.resolve(job("a", jobId=job_id, credentialsRef={"name": "iam"}))
    assert (await connection.client.batch_detail([job_id])).jobs
    iam_client = connection.auth._http  # type: ignore[attr-defined]
    assert iam_client is not None and not iam_client.is_closed
    await connections.aclose()
    assert iam_client.is_closed
