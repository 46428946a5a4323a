"""DrsClient and its auth against the DRS simulator, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from drs_operator.drs.auth import AkSkAuth, TokenAuth
from drs_operator.drs.classify import CallRecord
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import (
    DrsAuthError,
    DrsNotFoundError,
    DrsParseError,
    DrsPermissionError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.iam import IamPasswordAuth
from drs_operator.drs.tls import ssl_verify
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator
from tests.tls import self_signed_cert

PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "ffffffffffffffffffffffffffffffff"
TOKEN = "static-token-for-tests"
AK, SK, STS = "SIMAKEXAMPLE", "sim-secret-key", "sim-sts-token"
USER, PASSWORD, DOMAIN = "alice", "alice-password", "acme"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(seed=7)
    simulator.add_token(TOKEN, project_id=PROJECT)
    simulator.add_user(name=USER, password=PASSWORD, domain=DOMAIN, project_id=PROJECT)
    simulator.add_access_key(access_key=AK, secret_key=SK)
    simulator.add_access_key(access_key="TEMPAK", secret_key=SK, security_token=STS)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def client_for(sim: Simulator, auth: httpx.Auth, **kwargs: object) -> DrsClient:
    return DrsClient(endpoint=sim.url, project_id=PROJECT, auth=auth, **kwargs)  # type: ignore[arg-type]


def password_auth(sim: Simulator, **kwargs: object) -> IamPasswordAuth:
    return IamPasswordAuth(
        iam_endpoint=sim.url,
        username=USER,
        password=PASSWORD,
        domain=DOMAIN,
        project_id=PROJECT,
        **kwargs,  # type: ignore[arg-type]
    )


AUTHS: dict[str, Callable[[Simulator], httpx.Auth]] = {
    "token": lambda sim: TokenAuth(TOKEN),
    "aksk": lambda sim: AkSkAuth(access_key=AK, secret_key=SK, project_id=PROJECT),
    "aksk-temporary": lambda sim: AkSkAuth(
        access_key="TEMPAK", secret_key=SK, project_id=PROJECT, security_token=STS
    ),
    "password": password_auth,
}


@pytest.mark.parametrize("mode", list(AUTHS))
async def test_every_auth_mode_reads_jobs(sim: Simulator, mode: str) -> None:
    ids = [sim.add_job(status="FULL_TRANSFER_STARTED") for _ in range(3)]
    auth = AUTHS[mode](sim)
    async with client_for(sim, auth) as client:
        result = await client.batch_detail(ids)
    if isinstance(auth, IamPasswordAuth):
        await auth.aclose()
    assert set(result.jobs) == set(ids)
    assert all(job.status == "FULL_TRANSFER_STARTED" for job in result.jobs.values())
    assert result.request_id
    dumped = str([job.model_dump() for job in result.jobs.values()])
    assert SECRET_MARKER not in dumped
    expected_mode = "aksk" if mode.startswith("aksk") else "token"
    assert sim.stats.requests[-1].auth_mode == expected_mode


@pytest.mark.parametrize(
    ("auth", "error", "reason"),
    [
        (TokenAuth("unknown-token"), DrsAuthError, "unknown token"),
        (
            AkSkAuth(access_key=AK, secret_key="wrong", project_id=PROJECT),
            DrsAuthError,
            "bad signature",
        ),
        (
            AkSkAuth(access_key="TEMPAK", secret_key=SK, project_id=PROJECT),
            DrsAuthError,
            "temporary key without its security token",
        ),
        (
            AkSkAuth(access_key=AK, secret_key=SK, project_id=PROJECT, clock=lambda: 0.0),
            DrsAuthError,
            "clock skew",
        ),
    ],
)
async def test_refused_credentials(
    sim: Simulator, auth: httpx.Auth, error: type[Exception], reason: str
) -> None:
    job = sim.add_job()
    async with client_for(sim, auth) as client:
        with pytest.raises(error) as info:
            await client.batch_detail([job])
    assert info.value.request_id  # type: ignore[attr-defined]
    assert SK not in str(info.value)


async def test_wrong_project_is_permission(sim: Simulator) -> None:
    job = sim.add_job()
    client = DrsClient(endpoint=sim.url, project_id=OTHER_PROJECT, auth=TokenAuth(TOKEN))
    async with client:
        with pytest.raises(DrsPermissionError) as info:
            await client.batch_detail([job])
    assert info.value.code == "DRS.M00261"


async def test_iam_wrong_password(sim: Simulator) -> None:
    auth = IamPasswordAuth(
        iam_endpoint=sim.url,
        username=USER,
        password="nope-SECRET",
        domain=DOMAIN,
        project_id=PROJECT,
    )
    async with client_for(sim, auth) as client:
        with pytest.raises(DrsAuthError) as info:
            await client.batch_detail([sim.add_job()])
    await auth.aclose()
    assert info.value.http_status == 401
    assert "nope-SECRET" not in str(info.value)


# ----- paging --------------------------------------------------------------------------------


async def test_paging_with_small_pages(sim: Simulator) -> None:
    ids = [sim.add_job() for _ in range(12)]
    async with client_for(sim, TokenAuth(TOKEN), per_page=5) as client:
        result = await client.batch_detail(ids)
    assert set(result.jobs) == set(ids)
    assert result.calls == 3
    assert [r.page for r in sim.stats.requests] == [1, 2, 3]


async def test_page_req_overrides_the_server_default_of_five(sim: Simulator) -> None:
    ids = [sim.add_job() for _ in range(12)]
    async with client_for(sim, TokenAuth(TOKEN)) as client:
        result = await client.batch_detail(ids)
    assert len(result.jobs) == 12 and result.calls == 1


async def test_server_ignoring_paging(sim: Simulator) -> None:
    sim.faults.update({"ignore_paging": True})
    sim.per_page_default = 5
    ids = [sim.add_job() for _ in range(12)]
    async with client_for(sim, TokenAuth(TOKEN), per_page=5) as client:
        result = await client.batch_detail(ids)
    assert result.calls <= 4  # ceil(12 / 5) + 1
    assert set(result.jobs) | set(result.unanswered) == set(ids)


# ----- not found -------------------------------------------------------------------------------


async def test_not_found_names_exactly_the_missing_ids(sim: Simulator) -> None:
    good = [sim.add_job() for _ in range(3)]
    deleted = sim.add_job()
    sim.delete_job(deleted)
    never = "00000000-0000-0000-0000-00000000jb21"
    async with client_for(sim, TokenAuth(TOKEN)) as client:
        with pytest.raises(DrsNotFoundError) as info:
            await client.batch_detail([*good[:2], deleted, never, good[2]])
        assert set(info.value.missing) == {deleted, never}
        assert info.value.missing[deleted][0] == "DRS.M05004"
        assert info.value.missing[never][0] == "DRS.M00289"
        # Isolation: without the named IDs the others are read.
        remaining = [j for j in good if j not in info.value.missing]
        result = await client.batch_detail(remaining)
    assert set(result.jobs) == set(good)


async def test_mixed_items_in_a_200(sim: Simulator) -> None:
    sim.mixed_missing = "items200"
    good = sim.add_job()
    deleted = sim.add_job()
    sim.delete_job(deleted)
    async with client_for(sim, TokenAuth(TOKEN)) as client:
        result = await client.batch_detail([good, deleted])
    assert set(result.jobs) == {good}
    assert result.errors[deleted][0] == "DRS.M05004"


# ----- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ({"throttle_ratio": 1.0, "retry_after": 3}, DrsThrottledError, "APIG.0308"),
        ({"busy_ratio": 1.0}, DrsThrottledError, "DRS.M01503"),
        ({"in_progress_ratio": 1.0}, DrsThrottledError, "DRS.M01504"),
        ({"server_error_ratio": 1.0}, DrsServerError, None),
        ({"malformed_ratio": 1.0}, DrsParseError, None),
        ({"truncated_ratio": 1.0}, DrsParseError, None),
    ],
)
async def test_faults_are_classified(
    sim: Simulator, fault: dict[str, object], error: type[Exception], code: str | None
) -> None:
    sim.faults.update(fault)
    records: list[CallRecord] = []
    async with client_for(sim, TokenAuth(TOKEN), on_call=records.append) as client:
        with pytest.raises(error) as info:
            await client.batch_detail([sim.add_job()])
    if code is not None:
        assert info.value.code == code  # type: ignore[attr-defined]
    if "retry_after" in fault:
        assert info.value.retry_after == 3.0  # type: ignore[attr-defined]
    assert info.value.request_id  # type: ignore[attr-defined]
    assert records[0].outcome != "success"


# ----- token revocation ------------------------------------------------------------------------


async def test_revoked_iam_token_is_refreshed_once(sim: Simulator) -> None:
    outcomes: list[str] = []
    auth = password_auth(sim, on_refresh=outcomes.append)
    job = sim.add_job()
    async with client_for(sim, auth) as client:
        await client.batch_detail([job])
        sim.revoke_tokens()
        result = await client.batch_detail([job])
    await auth.aclose()
    assert job in result.jobs
    assert sim.stats.iam_token_requests == 2
    assert outcomes == ["success", "success"]
    statuses = [r.http_status for r in sim.stats.requests if "batch-detail" in r.path]
    assert statuses == [200, 401, 200]


async def test_expiring_iam_token_is_refreshed_ahead() -> None:
    now = [time.time()]

    def clock() -> float:
        return now[0]

    simulator = Simulator(seed=1, clock=clock, token_ttl=24 * 3600)
    simulator.add_user(name=USER, password=PASSWORD, domain=DOMAIN, project_id=PROJECT)
    job = simulator.add_job()
    async with simulator:
        auth = password_auth(simulator, clock=clock, refresh_margin=3600)
        async with client_for(simulator, auth) as client:
            await client.batch_detail([job])
            now[0] += 23 * 3600 - 60  # still outside the margin: cached
            await client.batch_detail([job])
            now[0] += 120  # inside the last hour: refreshed before use
            await client.batch_detail([job])
            now[0] += 3600  # the first token has expired by now
            await client.batch_detail([job])
        await auth.aclose()
        statuses = [r.http_status for r in simulator.stats.requests if "batch-detail" in r.path]
        assert statuses == [200, 200, 200, 200]  # never refused: refreshed before expiry
        assert simulator.stats.iam_token_requests == 2


async def test_concurrent_calls_share_one_iam_login(sim: Simulator) -> None:
    auth = password_auth(sim)
    ids = [sim.add_job() for _ in range(4)]
    async with client_for(sim, auth) as client:
        await asyncio.gather(*(client.batch_detail([i]) for i in ids * 5))
        sim.revoke_tokens()
        await asyncio.gather(*(client.batch_detail([i]) for i in ids * 5))
    await auth.aclose()
    assert sim.stats.iam_token_requests == 2


# ----- TLS -------------------------------------------------------------------------------------


async def test_tls_verification(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    simulator = Simulator()
    simulator.add_token(TOKEN, project_id=PROJECT)
    job = simulator.add_job()
    await simulator.start(ssl_context=server_context)
    try:
        assert simulator.url.startswith("https://")
        pem_text, pem_file = ssl_verify(ca_pem=cert.read_text()), ssl_verify(ca_file=str(cert))
        for verify in (pem_text, pem_file):  # the Secret's caBundle, then --ca-bundle
            async with client_for(simulator, TokenAuth(TOKEN), verify=verify) as client:
                assert job in (await client.batch_detail([job])).jobs
        async with client_for(simulator, TokenAuth(TOKEN), trust_env=False) as client:
            with pytest.raises(DrsTransportError, match="TLS failure") as info:
                await client.batch_detail([job])
        assert TOKEN not in str(info.value) and "batch-detail" not in str(info.value)
    finally:
        await simulator.stop()


@pytest.mark.parametrize(
    ("env", "trust_env", "through_proxy", "reason"),
    [
        ({"HTTP_PROXY": "{sim}"}, True, True, "HTTP_PROXY is used"),
        ({"ALL_PROXY": "{sim}"}, True, True, "ALL_PROXY is used"),
        ({"HTTP_PROXY": "{sim}", "NO_PROXY": ".example.invalid"}, True, False, "NO_PROXY"),
        ({"HTTP_PROXY": "{sim}"}, False, False, "trust_env=False ignores the environment"),
    ],
)
async def test_requests_go_through_the_proxy_the_environment_names(
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    trust_env: bool,
    through_proxy: bool,
    reason: str,
) -> None:
    """The simulator doubles as a forward proxy: it answers the absolute-form request."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(sim=sim.url))
    job = sim.add_job()
    client = DrsClient(
        endpoint="http://drs.example.invalid",
        project_id=PROJECT,
        auth=TokenAuth(TOKEN),
        trust_env=trust_env,
        timeout=5.0,
    )
    async with client:
        if through_proxy:
            assert job in (await client.batch_detail([job])).jobs, reason
        else:
            with pytest.raises(DrsTransportError, match=r"drs\.example\.invalid"):
                await client.batch_detail([job])
