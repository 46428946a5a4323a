"""Auth: token, IAM password (cache, refresh ahead, refresh once, shared refresh), AK/SK."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from drs_operator.domain.credentials import Credentials
from drs_operator.drs import signing
from drs_operator.drs.auth import AkSkAuth, TokenAuth, build_auth
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import (
    DrsAuthError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.iam import IamPasswordAuth

PROJECT = "054ba152d480d55b2f5dc0069e7ddef0"
IAM = "https://iam.example.test"
DRS = "https://drs.example.test"
PASSWORD = "pa55-SECRET-word"
SECRET_KEY = "sk-SECRET-key"
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


class Iam:
    """A fake IAM: issues tok-1, tok-2, ... valid ``lifetime`` seconds; can fail."""

    def __init__(self, clock: Clock, lifetime: float = 24 * 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.bodies: list[dict[str, Any]] = []
        self.fail: httpx.Response | None = None
        self.delay = 0.0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v3/auth/tokens"
        self.bodies.append(json.loads(request.content))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            return self.fail
        token = f"tok-{len(self.bodies)}"
        expires = iso(self.clock() + self.lifetime)
        return httpx.Response(
            201,
            headers={"X-Subject-Token": token, "X-Request-Id": "iam-req"},
            json={"token": {"expires_at": expires, "methods": ["password"]}},
        )

    @property
    def calls(self) -> int:
        return len(self.bodies)


class Drs:
    """A fake DRS that accepts only tokens in ``valid`` (None: accept any)."""

    def __init__(self) -> None:
        self.valid: set[str] | None = None
        self.tokens: list[str | None] = []
        self.refusal = (401, {"error_code": "APIG.0307", "error_msg": "token expired"})

    def handler(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("X-Auth-Token")
        self.tokens.append(token)
        if self.valid is not None and token not in self.valid:
            status, body = self.refusal
            return httpx.Response(status, json=body, headers={"X-Request-Id": "drs-req"})
        return httpx.Response(200, json={"count": 1, "results": [{"id": JOB, "status": "x"}]})


def make(
    *, lifetime: float = 24 * 3600, margin: float = 3600
) -> tuple[IamPasswordAuth, Iam, Drs, DrsClient, Clock, list[str]]:
    clock = Clock()
    iam = Iam(clock, lifetime)
    drs = Drs()
    outcomes: list[str] = []
    auth = IamPasswordAuth(
        iam_endpoint=IAM,
        username="alice",
        password=PASSWORD,
        domain="acme",
        project_id=PROJECT,
        http=httpx.AsyncClient(transport=httpx.MockTransport(iam.handler)),
        refresh_margin=margin,
        clock=clock,
        on_refresh=outcomes.append,
    )
    client = DrsClient(
        endpoint=DRS, project_id=PROJECT, auth=auth, transport=httpx.MockTransport(drs.handler)
    )
    return auth, iam, drs, client, clock, outcomes


async def test_iam_request_body_and_token_use() -> None:
    _, iam, drs, client, _, outcomes = make()
    async with client:
        await client.batch_detail([JOB])
    assert iam.bodies == [
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "alice", "password": PASSWORD, "domain": {"name": "acme"}}
                    },
                },
                "scope": {"project": {"id": PROJECT}},
            }
        }
    ]
    assert drs.tokens == ["tok-1"]
    assert outcomes == ["success"]


async def test_token_is_cached() -> None:
    _, iam, drs, client, clock, _ = make()
    async with client:
        for _ in range(5):
            await client.batch_detail([JOB])
            clock.now += 600
    assert iam.calls == 1
    assert drs.tokens == ["tok-1"] * 5


async def test_refresh_ahead_of_expiry() -> None:
    _, iam, drs, client, clock, _ = make(lifetime=24 * 3600, margin=3600)
    async with client:
        await client.batch_detail([JOB])
        clock.now = T0 + 23 * 3600 - 1  # just before expiry minus margin
        await client.batch_detail([JOB])
        clock.now = T0 + 23 * 3600 + 1  # within the margin: refresh before use
        await client.batch_detail([JOB])
    assert drs.tokens == ["tok-1", "tok-1", "tok-2"]
    assert iam.calls == 2


async def test_short_lived_token_is_not_refreshed_on_every_call() -> None:
    """A token shorter-lived than the margin is refreshed at half its life, not always."""
    _, iam, _, client, clock, _ = make(lifetime=600, margin=3600)
    async with client:
        await client.batch_detail([JOB])
        clock.now += 200
        await client.batch_detail([JOB])
        clock.now += 200  # 400 s > 300 s: refresh
        await client.batch_detail([JOB])
    assert iam.calls == 2


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (401, "APIG.0307", "expired token"),
        (401, None, "401 without a code"),
        (403, "APIG.0301", "invalid token as 403"),
        (403, "DRS.M00100", "DRS auth code as 403"),
    ],
)
async def test_refresh_once_on_refusal_then_succeed(
    status: int, code: str | None, reason: str
) -> None:
    _, iam, drs, client, _, outcomes = make()
    drs.refusal = (status, {"error_code": code} if code else {})
    async with client:
        await client.batch_detail([JOB])  # tok-1 accepted
        drs.valid = {"tok-2"}  # tok-1 revoked
        result = await client.batch_detail([JOB])
    assert JOB in result.jobs, reason
    assert drs.tokens == ["tok-1", "tok-1", "tok-2"]
    assert iam.calls == 2
    assert outcomes == ["success", "success"]


async def test_refresh_only_once_then_report() -> None:
    _, iam, drs, client, _, _ = make()
    drs.valid = set()  # nothing is accepted
    async with client:
        with pytest.raises(DrsAuthError) as info:
            await client.batch_detail([JOB])
    assert drs.tokens == ["tok-1", "tok-2"]
    assert iam.calls == 2
    assert info.value.code == "APIG.0307" and info.value.request_id == "drs-req"


async def test_permission_403_does_not_refresh() -> None:
    _, iam, drs, client, _, _ = make()
    drs.valid = set()
    drs.refusal = (403, {"error_code": "DRS.M00102", "error_msg": "no permission"})
    async with client:
        with pytest.raises(Exception) as info:
            await client.batch_detail([JOB])
    assert type(info.value).__name__ == "DrsPermissionError"
    assert iam.calls == 1 and drs.tokens == ["tok-1"]


async def test_concurrent_calls_share_one_refresh() -> None:
    auth, iam, drs, client, _, _ = make()
    iam.delay = 0.05
    async with client:
        results = await asyncio.gather(*(client.batch_detail([JOB]) for _ in range(20)))
        assert iam.calls == 1
        assert all(JOB in r.jobs for r in results)
        # Revoke: all 20 are refused with tok-1 and must share a single refresh.
        drs.valid = {"tok-2"}
        results = await asyncio.gather(*(client.batch_detail([JOB]) for _ in range(20)))
    assert iam.calls == 2
    assert all(JOB in r.jobs for r in results)
    assert auth.refreshes == 2


async def test_invalidate_forces_a_new_token() -> None:
    auth, _, drs, client, _, _ = make()
    async with client:
        await client.batch_detail([JOB])
        auth.invalidate()
        await client.batch_detail([JOB])
    assert drs.tokens == ["tok-1", "tok-2"]


@pytest.mark.parametrize(
    ("response", "error", "code", "reason"),
    [
        (
            httpx.Response(
                401,
                headers={"X-Request-Id": "iam-1"},
                json={
                    "error": {
                        "code": 401,
                        "message": "The username or password is wrong.",
                        "title": "Unauthorized",
                    }
                },
            ),
            DrsAuthError,
            "401",
            "IAM's own error shape",
        ),
        (
            httpx.Response(
                400,
                headers={"X-Request-Id": "iam-1"},
                json={"error_code": "IAM.0011", "error_msg": "bad request"},
            ),
            DrsAuthError,
            "IAM.0011",
            "APIG-style error",
        ),
        (httpx.Response(503, headers={"X-Request-Id": "iam-1"}), DrsServerError, None, "IAM down"),
        (
            httpx.Response(429, headers={"X-Request-Id": "iam-1"}),
            DrsThrottledError,
            None,
            "IAM throttling",
        ),
        (
            httpx.Response(201, headers={"X-Request-Id": "iam-1"}, json={}),
            DrsAuthError,
            None,
            "no X-Subject-Token header",
        ),
    ],
)
async def test_iam_failures(
    response: httpx.Response, error: type[Exception], code: str | None, reason: str
) -> None:
    _, iam, drs, client, _, outcomes = make()
    iam.fail = response
    async with client:
        with pytest.raises(error) as info:
            await client.batch_detail([JOB])
    assert getattr(info.value, "code", None) == code, reason
    assert getattr(info.value, "request_id", None) == "iam-1"
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert drs.tokens == []  # DRS never called
    assert outcomes == ["failure"]


async def test_iam_transport_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:  # as the transports chain it
        error = httpx.ConnectError("ClientConnectorError")
        error.__cause__ = ConnectionRefusedError(111, "Connect call failed")
        raise error

    auth = IamPasswordAuth(
        iam_endpoint=IAM,
        username="alice",
        password=PASSWORD,
        domain="acme",
        project_id=PROJECT,
        http=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(DrsTransportError) as info:
        await auth.token()
    assert "iam.example.test" in str(info.value)
    assert "connection failed: connection refused" in str(info.value), "the cause, as DRS's"
    assert PASSWORD not in str(info.value)


async def test_expiry_without_expires_at_defaults_to_a_day() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"X-Subject-Token": "t"}, json={"token": {}})

    auth = IamPasswordAuth(
        iam_endpoint=IAM,
        username="u",
        password=PASSWORD,
        domain="d",
        project_id=PROJECT,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        clock=clock,
    )
    await auth.token()
    clock.now += 22 * 3600
    assert auth._valid()
    clock.now += 2 * 3600
    assert not auth._valid()


def test_sync_flow_is_refused() -> None:
    auth = IamPasswordAuth(
        iam_endpoint=IAM, username="u", password=PASSWORD, domain="d", project_id=PROJECT
    )
    with httpx.Client(auth=auth, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        with pytest.raises(RuntimeError):
            c.get("https://x.test/")


# ----- token and AK/SK -------------------------------------------------------------------------


async def test_token_auth_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"results": []})

    async with httpx.AsyncClient(
        auth=TokenAuth("tok-X"), transport=httpx.MockTransport(handler)
    ) as c:
        await c.post("https://x.test/a")
    assert seen[0].headers["X-Auth-Token"] == "tok-X"


@pytest.mark.parametrize("security_token", [None, "sts-SECRET-token"])
async def test_aksk_signs_verifiably(security_token: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 0, "results": []})

    auth = AkSkAuth(
        access_key="AK1",
        secret_key=SECRET_KEY,
        project_id=PROJECT,
        security_token=security_token,
        clock=lambda: 1709633472.0,
    )
    client = DrsClient(
        endpoint=DRS, project_id=PROJECT, auth=auth, transport=httpx.MockTransport(handler)
    )
    async with client:
        await client.batch_detail([JOB])
    request = seen[0]
    headers = request.headers
    assert headers["X-Sdk-Date"] == "20240305T101112Z"
    assert headers["X-Project-Id"] == PROJECT
    assert headers.get("X-Security-Token") == security_token
    assert "X-Auth-Token" not in headers
    auth_value = headers["Authorization"]
    signed = auth_value.split("SignedHeaders=")[1].split(",")[0].split(";")
    expected = {"content-type", "host", "x-language", "x-project-id", "x-sdk-date"}
    if security_token:
        expected.add("x-security-token")
    assert set(signed) == expected
    path, _, query = request.url.raw_path.decode().partition("?")
    accepted = signing.verify(
        authorization=auth_value,
        secret_key_for={"AK1": SECRET_KEY}.get,
        method=request.method,
        path=path,
        query=query,
        headers=dict(headers),
        body=request.content,
        now=1709633472.0,
    )
    assert accepted == "AK1"


def test_no_secret_in_repr() -> None:
    objects = [
        TokenAuth("tok-SECRET"),
        AkSkAuth(
            access_key="AK1", secret_key=SECRET_KEY, project_id=PROJECT, security_token="sts-SECRET"
        ),
        IamPasswordAuth(
            iam_endpoint=IAM, username="u", password=PASSWORD, domain="d", project_id=PROJECT
        ),
    ]
    for obj in objects:
        text = repr(obj)
        assert "SECRET" not in text, text
        assert "redacted" in text


@pytest.mark.parametrize(
    ("credentials", "kind"),
    [
        (Credentials(region="ap-southeast-1", project_id=PROJECT, token="t"), TokenAuth),
        (
            Credentials(
                region="ap-southeast-1", project_id=PROJECT, access_key="a", secret_key="s"
            ),
            AkSkAuth,
        ),
        (
            Credentials(
                region="ap-southeast-1", project_id=PROJECT, username="u", password="p", domain="d"
            ),
            IamPasswordAuth,
        ),
    ],
)
def test_build_auth_by_mode(credentials: Credentials, kind: type[httpx.Auth]) -> None:
    auth = build_auth(credentials)
    assert type(auth) is kind


def test_build_auth_password_endpoint_choice() -> None:
    creds = Credentials(
        region="eu-west-101", project_id=PROJECT, username="u", password="p", domain="d"
    )
    auth = build_auth(creds)
    assert "iam.eu-west-101.myhuaweicloud.eu" in repr(auth)
    auth = build_auth(creds, iam_endpoint="http://127.0.0.1:1234")
    assert "127.0.0.1:1234" in repr(auth)
    explicit = Credentials(
        region="eu-west-101",
        project_id=PROJECT,
        username="u",
        password="p",
        domain="d",
        iam_endpoint="https://iam.proxy.test",
    )
    assert "iam.proxy.test" in repr(build_auth(explicit))
