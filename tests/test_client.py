"""DrsClient over httpx.MockTransport: classification, paging, limits, request IDs; endpoints."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from drs_operator import __version__
from drs_operator.drs import endpoints
from drs_operator.drs.auth import TokenAuth
from drs_operator.drs.classify import BatchDetailResult, CallRecord
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import (
    DrsAuthError,
    DrsError,
    DrsNotFoundError,
    DrsParseError,
    DrsPermissionError,
    DrsRedirectError,
    DrsRequestError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.tls import proxy_for

PROJECT = "054ba152d480d55b2f5dc0069e7ddef0"
ENDPOINT = "https://drs.ap-southeast-1.myhuaweicloud.com"
TOKEN = "tok-SECRET-value-123"


def job_id(n: int) -> str:
    return f"{n:08d}-aaaa-bbbb-cccc-{n:08d}jb21"


A, B, C = job_id(1), job_id(2), job_id(3)


def job(identifier: str, status: str = "INCRE_TRANSFER_STARTED") -> dict[str, Any]:
    return {"id": identifier, "status": status, "name": f"job-{identifier[:8]}"}


Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kwargs: Any) -> DrsClient:
    return DrsClient(
        endpoint=ENDPOINT,
        project_id=PROJECT,
        auth=TokenAuth(TOKEN),
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def body_of(request: httpx.Request) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.content)
    return data


# ----- request shape ---------------------------------------------------------------------------


async def test_request_shape_and_dedupe() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 2, "results": [job(A), job(B)]})

    async with make_client(handler, per_page=50, language="zh-cn") as client:
        result = await client.batch_detail([A, B, A, B, A])
    assert len(seen) == 1
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == f"{ENDPOINT}/v3/{PROJECT}/jobs/batch-detail"
    assert request.headers["X-Auth-Token"] == TOKEN
    assert request.headers["X-Language"] == "zh-cn"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == f"drs-operator/{__version__}"
    assert request.headers["Host"] == httpx.URL(ENDPOINT).netloc.decode()
    assert "Cookie" not in request.headers
    assert body_of(request) == {"jobs": [A, B], "page_req": {"cur_page": 1, "per_page": 50}}
    assert set(result.jobs) == {A, B}
    assert result.jobs[A].status == "INCRE_TRANSFER_STARTED"
    assert result.errors == {} and result.unanswered == () and result.calls == 1


async def test_cookies_are_neither_kept_nor_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, headers={"Set-Cookie": "session=abc; Path=/"}, json={"results": [job(A)]}
        )

    async with make_client(handler) as client:
        await client.batch_detail([A])
        await client.batch_detail([A])
    assert len(seen) == 2 and "Cookie" not in seen[1].headers


PROXY_ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.mark.parametrize(
    ("env", "url", "expected", "reason"),
    [
        ({}, "https://drs.example.com", None, "no proxy variables"),
        ({"HTTPS_PROXY": "http://p:3128"}, "https://drs.example.com", "http://p:3128", "https"),
        ({"HTTPS_PROXY": "http://p:3128"}, "http://drs.example.com", None, "scheme differs"),
        ({"HTTP_PROXY": "http://p:80"}, "http://drs.example.com:8443", "http://p:80", "http"),
        ({"ALL_PROXY": "http://all:1"}, "https://drs.example.com", "http://all:1", "fallback"),
        (
            {"HTTPS_PROXY": "http://p:3128", "ALL_PROXY": "http://all:1"},
            "https://drs.example.com",
            "http://p:3128",
            "the scheme's own variable wins over ALL_PROXY",
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.com"},
            "https://drs.example.com",
            None,
            "NO_PROXY covers subdomains",
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "other.com,.example.com"},
            "https://drs.example.com",
            None,
            "NO_PROXY list with a leading dot",
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"},
            "https://drs.example.com",
            None,
            "NO_PROXY star",
        ),
        (
            {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.org"},
            "https://drs.example.com",
            "http://p:3128",
            "NO_PROXY for another domain",
        ),
    ],
)
def test_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    url: str,
    expected: str | None,
    reason: str,
) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(httpx.URL(url)) == expected, reason


async def test_empty_id_list_makes_no_call() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no call expected")

    async with make_client(handler) as client:
        result = await client.batch_detail([])
    assert result == BatchDetailResult(jobs={}, errors={}, unanswered=(), request_id=None, calls=0)


async def test_project_id_is_percent_encoded() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 0, "results": []})

    client = DrsClient(
        endpoint=ENDPOINT + "/",
        project_id="../x?y#z",
        auth=TokenAuth(TOKEN),
        transport=httpx.MockTransport(handler),
    )
    async with client:
        await client.batch_detail([A])
    assert seen[0].url.raw_path == b"/v3/..%2Fx%3Fy%23z/jobs/batch-detail"
    assert seen[0].url.host == "drs.ap-southeast-1.myhuaweicloud.com"


# ----- successful answers ------------------------------------------------------------------------


async def test_item_errors_and_unanswered_and_foreign_ids() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"X-Request-Id": "req-1"},
            json={
                "count": 3,
                "results": [
                    job(A),
                    {"id": B, "error_code": "DRS.M05004", "error_message": "job deleted"},
                    job(job_id(99)),  # not asked for: ignored
                ],
            },
        )

    async with make_client(handler) as client:
        result = await client.batch_detail([A, B, C])
    assert set(result.jobs) == {A}
    assert result.errors == {B: ("DRS.M05004", "job deleted")}
    assert result.unanswered == (C,)
    assert result.request_id == "req-1"


async def test_jobs_key_is_accepted_instead_of_results() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"count": 1, "jobs": [job(A)]})

    async with make_client(handler) as client:
        result = await client.batch_detail([A])
    assert set(result.jobs) == {A}


async def test_secrets_in_items_never_reach_the_result() -> None:
    item = job(A) | {
        "source_endpoint": {"ip": "10.0.0.1", "db_password": "pw-SECRET", "ssl_cert_key": "k"}
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"count": 1, "results": [item]})

    async with make_client(handler) as client:
        result = await client.batch_detail([A])
    dumped = json.dumps(result.jobs[A].model_dump(mode="json"))
    assert "10.0.0.1" in dumped and "pw-SECRET" not in dumped


# ----- paging ------------------------------------------------------------------------------------


def paging_server(
    *,
    default_per_page: int = 5,
    count: Callable[[int, int], int] | None = None,
    ignore_page: bool = False,
) -> tuple[Handler, list[dict[str, Any]]]:
    """A batch-detail server that pages like DRS; ``count(total, page_len)`` may lie."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        bodies.append(body)
        ids = body["jobs"]
        page_req = body.get("page_req") or {}
        per_page = page_req.get("per_page", default_per_page) or len(ids)
        cur = 1 if ignore_page else page_req.get("cur_page", 1)
        chunk = ids[(cur - 1) * per_page : cur * per_page]
        total = count(len(ids), len(chunk)) if count else len(ids)
        return httpx.Response(200, json={"count": total, "results": [job(i) for i in chunk]})

    return handler, bodies


PAGING = [
    ("fits in one page", 3, 10, None, False, 1),
    ("count is the total: pages on", 25, 10, None, False, 3),
    ("exact multiple of per_page", 20, 10, None, False, 2),
    (
        "count is the page size (lies): pages on while pages are full",
        25,
        10,
        lambda total, page: page,
        False,
        3,
    ),
    (
        "count says zero but items came: pages on while pages are full",
        12,
        5,
        lambda total, page: 0,
        False,
        3,
    ),
]


@pytest.mark.parametrize(
    ("reason", "n", "per_page", "count", "ignore", "calls"), PAGING, ids=[p[0] for p in PAGING]
)
async def test_paging(
    reason: str, n: int, per_page: int, count: Any, ignore: bool, calls: int
) -> None:
    handler, bodies = paging_server(count=count, ignore_page=ignore)
    ids = [job_id(i) for i in range(n)]
    async with make_client(handler, per_page=per_page) as client:
        result = await client.batch_detail(ids)
    assert set(result.jobs) == set(ids), reason
    assert result.calls == calls == len(bodies)
    assert [b["page_req"]["cur_page"] for b in bodies] == list(range(1, calls + 1))
    assert all(b["page_req"]["per_page"] == per_page for b in bodies)


async def test_server_ignoring_page_req_stops_after_a_page_with_nothing_new() -> None:
    handler, bodies = paging_server(ignore_page=True)
    ids = [job_id(i) for i in range(25)]
    async with make_client(handler, per_page=10) as client:
        result = await client.batch_detail(ids)
    assert len(bodies) == 2  # page 2 repeated page 1: stop
    assert len(result.jobs) == 10
    assert result.unanswered == tuple(ids[10:])


async def test_paging_is_capped() -> None:
    """A server that invents new (unrequested) items forever cannot keep us paging."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        ids = body_of(request)["jobs"]
        # Always one new requested ID per page, and a huge count.
        return httpx.Response(200, json={"count": 10**6, "results": [job(ids[calls - 1])]})

    ids = [job_id(i) for i in range(30)]
    async with make_client(handler, per_page=10) as client:
        result = await client.batch_detail(ids)
    assert calls == 4  # ceil(30 / 10) + 1
    assert result.calls == 4 and len(result.jobs) == 4


async def test_paging_stops_on_empty_page() -> None:
    pages: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cur = body_of(request)["page_req"]["cur_page"]
        pages.append(cur)
        results = [job(A)] if cur == 1 else []
        return httpx.Response(200, json={"count": 3, "results": results})

    async with make_client(handler, per_page=1) as client:
        result = await client.batch_detail([A, B, C])
    assert pages == [1, 2]
    assert result.unanswered == (B, C)


# ----- classification ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    reason: str
    status: int
    body: Any
    error: type[DrsError]
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def err(code: str, msg: str = "message") -> dict[str, str]:
    return {"error_code": code, "error_msg": msg}


ROWS = [
    Row("gateway throttling", 429, err("APIG.0308"), DrsThrottledError, "APIG.0308"),
    Row("429 without a body", 429, None, DrsThrottledError),
    Row("operation too frequent", 400, err("DRS.M01503"), DrsThrottledError, "DRS.M01503"),
    Row("another operation in progress", 202, err("DRS.M01504"), DrsThrottledError, "DRS.M01504"),
    Row("token invalid, 401", 401, err("APIG.0301"), DrsAuthError, "APIG.0301"),
    Row("token expired, 401", 401, err("APIG.0307"), DrsAuthError, "APIG.0307"),
    Row("auth code on 403", 403, err("DRS.M00100"), DrsAuthError, "DRS.M00100"),
    Row("APIG.0301 on 403", 403, err("APIG.0301"), DrsAuthError, "APIG.0301"),
    Row("401 without a body", 401, None, DrsAuthError),
    Row("no permission", 403, err("DRS.M00102"), DrsPermissionError, "DRS.M00102"),
    Row("bad project ID", 403, err("DRS.M00261"), DrsPermissionError, "DRS.M00261"),
    Row(
        "403 with an unknown code is still a refusal of permission",
        403,
        err("X.1"),
        DrsPermissionError,
        "X.1",
    ),
    Row("job not found, top level", 400, err("DRS.M00289"), DrsNotFoundError, "DRS.M00289"),
    Row("job deleted, top level", 400, err("DRS.M05004"), DrsNotFoundError, "DRS.M05004"),
    Row("job not found M05003", 400, err("DRS.M05003"), DrsNotFoundError, "DRS.M05003"),
    Row(
        "not found per item in a 400",
        400,
        {"results": [{"id": A, "error_code": "DRS.M05004", "error_message": "gone"}]},
        DrsNotFoundError,
        "DRS.M05004",
    ),
    Row("server error", 500, err("DRS.M00001"), DrsServerError, "DRS.M00001"),
    Row("bad gateway without a body", 502, "<html>bad gateway</html>", DrsServerError),
    Row("service unavailable", 503, None, DrsServerError),
    Row("422 DRS.M00004", 422, err("DRS.M00004"), DrsServerError, "DRS.M00004"),
    Row("other 422", 422, err("DRS.M09999"), DrsRequestError, "DRS.M09999"),
    Row("other 400", 400, err("DRS.M00202"), DrsRequestError, "DRS.M00202"),
    Row("404 from the gateway", 404, err("APIG.0101"), DrsRequestError, "APIG.0101"),
    Row("200 that is not JSON", 200, "<html>", DrsParseError),
    Row("200 JSON without results", 200, {"count": 1}, DrsParseError),
    Row("200 with results not a list", 200, {"results": {"id": A}}, DrsParseError),
    Row("200 with a JSON array", 200, [job(A)], DrsParseError),
    Row("200 empty body", 200, "", DrsParseError),
    Row("200 top-level not-found code", 200, err("DRS.M00289"), DrsNotFoundError, "DRS.M00289"),
    Row("redirect is not followed", 302, None, DrsRedirectError),
]


def response_for(row: Row, request_id: str = "req-42") -> httpx.Response:
    headers = {"X-Request-Id": request_id, **dict(row.headers)}
    if row.body is None:
        return httpx.Response(row.status, headers=headers)
    if isinstance(row.body, str):
        return httpx.Response(row.status, headers=headers, text=row.body)
    return httpx.Response(row.status, headers=headers, json=row.body)


@pytest.mark.parametrize("row", ROWS, ids=[r.reason for r in ROWS])
async def test_classification(row: Row) -> None:
    records: list[CallRecord] = []

    async with make_client(lambda request: response_for(row), on_call=records.append) as client:
        with pytest.raises(DrsError) as info:
            await client.batch_detail([A, B])
    error = info.value
    assert type(error) is row.error, row.reason
    assert error.code == row.code
    assert error.http_status == row.status
    assert error.request_id == "req-42"
    assert "req-42" in str(error)
    assert TOKEN not in str(error)
    assert len(records) == 1 and records[0].http_status == row.status and records[0].ids == 2


def test_every_error_class_is_covered_by_the_table() -> None:
    covered = {row.error for row in ROWS}
    assert covered >= {
        DrsThrottledError,
        DrsAuthError,
        DrsPermissionError,
        DrsNotFoundError,
        DrsServerError,
        DrsParseError,
        DrsRequestError,
    }


async def test_not_found_names_missing_items() -> None:
    body = {
        "results": [
            {"id": A, "error_code": "DRS.M05004", "error_message": "deleted"},
            {"id": B, "error_code": "DRS.M00289", "error_message": "not found"},
            {"id": job_id(77), "error_code": "DRS.M00289"},  # not asked for
            job(C),
        ]
    }

    async with make_client(lambda r: httpx.Response(400, json=body)) as client:
        with pytest.raises(DrsNotFoundError) as info:
            await client.batch_detail([A, B, C])
    assert info.value.missing == {A: ("DRS.M05004", "deleted"), B: ("DRS.M00289", "not found")}


async def test_not_found_top_level_without_items_has_empty_missing() -> None:
    async with make_client(lambda r: httpx.Response(400, json=err("DRS.M00289"))) as client:
        with pytest.raises(DrsNotFoundError) as info:
            await client.batch_detail([A, B])
    assert info.value.missing == {}


@pytest.mark.parametrize(
    ("value", "expected", "reason"),
    [
        ("7", 7.0, "seconds"),
        ("1.5", 1.5, "fractional seconds"),
        (None, None, "absent: the gateway sends none"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None, "HTTP date is not used"),
        ("-3", None, "negative is ignored"),
    ],
)
async def test_retry_after(value: str | None, expected: float | None, reason: str) -> None:
    headers = {"Retry-After": value} if value is not None else {}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=headers, json=err("APIG.0308"))

    async with make_client(handler) as client:
        with pytest.raises(DrsThrottledError) as info:
            await client.batch_detail([A])
    assert info.value.retry_after == expected, reason


# ----- body limit --------------------------------------------------------------------------------


async def test_body_over_limit_declared_length() -> None:
    big = json.dumps({"count": 1, "results": [job(A) | {"description": "x" * 5000}]})

    async with make_client(lambda r: httpx.Response(200, text=big), max_body_bytes=1000) as c:
        with pytest.raises(DrsParseError) as info:
            await c.batch_detail([A])
    assert "exceeds 1000 bytes" in str(info.value)


async def test_body_over_limit_streamed_stops_reading() -> None:
    produced = 0

    async def endless() -> Any:
        nonlocal produced
        for _ in range(10_000):
            produced += 1
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())  # no Content-Length: chunked

    async with make_client(handler, max_body_bytes=10 * 1024) as client:
        with pytest.raises(DrsParseError, match="exceeds 10240 bytes"):
            await client.batch_detail([A])
    assert produced < 20


async def test_body_at_the_limit_is_accepted() -> None:
    content = json.dumps({"count": 1, "results": [job(A)]}).encode()

    async with make_client(
        lambda r: httpx.Response(200, content=content), max_body_bytes=len(content)
    ) as client:
        result = await client.batch_detail([A])
    assert set(result.jobs) == {A}


# ----- transport ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "words"),
    [
        (httpx.ConnectError("refused"), "connection failed"),
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.ConnectTimeout("slow"), "timed out"),
        (httpx.RemoteProtocolError("peer closed"), "failed"),
    ],
)
async def test_transport_errors(exception: Exception, words: str) -> None:
    records: list[CallRecord] = []

    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    async with make_client(handler, on_call=records.append) as client:
        with pytest.raises(DrsTransportError) as info:
            await client.batch_detail([A])
    text = str(info.value)
    assert words in text
    assert "drs.ap-southeast-1.myhuaweicloud.com" in text
    assert PROJECT not in text and "batch-detail" not in text and TOKEN not in text
    assert info.value.http_status is None
    assert records[0].outcome == "transport" and records[0].http_status is None


async def test_tls_failure_is_named() -> None:
    import ssl

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("tls") from cause

    async with make_client(handler) as client:
        with pytest.raises(DrsTransportError, match="TLS failure"):
            await client.batch_detail([A])


async def test_real_connection_refused() -> None:
    client = DrsClient(
        endpoint="http://127.0.0.1:9", project_id=PROJECT, auth=TokenAuth(TOKEN), timeout=2
    )
    async with client:
        with pytest.raises(DrsTransportError, match=r"127\.0\.0\.1"):
            await client.batch_detail([A])


# ----- records and logging -----------------------------------------------------------------------


async def test_call_records_and_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    records: list[CallRecord] = []
    handler, _ = paging_server()

    caplog.set_level(logging.DEBUG, logger="drs_operator.drs")
    async with make_client(handler, per_page=2, on_call=records.append) as client:
        await client.batch_detail([A, B, C])
    assert [r.outcome for r in records] == ["success", "success"]
    assert [r.ids for r in records] == [3, 3]
    assert all(r.http_status == 200 and r.duration >= 0 for r in records)
    lines = [r.getMessage() for r in caplog.records if r.name == "drs_operator.drs"]
    assert len(lines) == 2
    assert all("batch-detail" in line and "200" in line and "3 IDs" in line for line in lines)
    assert not any(TOKEN in line or "INCRE_TRANSFER" in line for line in lines)


async def test_a_failing_on_call_hook_does_not_break_the_call() -> None:
    def hook(record: CallRecord) -> None:
        raise RuntimeError("metrics down")

    handler, _ = paging_server()
    async with make_client(handler, on_call=hook) as client:
        result = await client.batch_detail([A])
    assert set(result.jobs) == {A}


def test_constructor_validation_and_repr() -> None:
    with pytest.raises(ValueError):
        DrsClient(endpoint="ftp://x", project_id=PROJECT, auth=TokenAuth(TOKEN))
    with pytest.raises(ValueError):
        DrsClient(endpoint=ENDPOINT, project_id=PROJECT, auth=TokenAuth(TOKEN), per_page=101)
    with pytest.raises(ValueError):
        DrsClient(endpoint=ENDPOINT, project_id="", auth=TokenAuth(TOKEN))


# ----- endpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "drs", "iam"),
    [
        (
            "ap-southeast-1",
            "https://drs.ap-southeast-1.myhuaweicloud.com",
            "https://iam.ap-southeast-1.myhuaweicloud.com",
        ),
        (
            "eu-west-101",
            "https://drs.eu-west-101.myhuaweicloud.eu",
            "https://iam.eu-west-101.myhuaweicloud.eu",
        ),
        (
            "cn-north-4",
            "https://drs.cn-north-4.myhuaweicloud.com",
            "https://iam.cn-north-4.myhuaweicloud.com",
        ),
    ],
)
def test_region_endpoints(region: str, drs: str, iam: str) -> None:
    assert endpoints.drs_endpoint(region) == drs
    assert endpoints.iam_endpoint(region) == iam
    assert endpoints.resolve(None, region, "drs") == drs
    assert endpoints.resolve(None, region, "iam") == iam


@pytest.mark.parametrize(
    ("region", "reason"),
    [
        ("evil.com/x", "dot and slash would inject a host"),
        ("a@b", "at sign"),
        ("AP-SOUTHEAST-1", "upper case"),
        ("", "empty"),
        ("ap southeast", "space"),
        ("x:80", "port"),
        ("-x", "leading dash"),
        ("a" * 65, "too long"),
    ],
)
def test_bad_regions(region: str, reason: str) -> None:
    with pytest.raises(ValueError):
        endpoints.drs_endpoint(region)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://proxy.example.com/drs/", "https://proxy.example.com/drs"),
    ],
)
def test_explicit_url_wins(url: str, expected: str) -> None:
    assert endpoints.resolve(url, "ap-southeast-1", "drs") == expected
    assert endpoints.resolve(url, None, "iam") == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x.example.com", "scheme"),
        ("https://", "no host"),
        ("https://x.example.com/?a=1", "query"),
        ("https://x.example.com/#f", "fragment"),
        ("https://user:pw@x.example.com", "credentials"),
        ("https://x.example.com:99999", "bad port"),
        ("x.example.com", "no scheme"),
    ],
)
def test_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        endpoints.resolve(url, "ap-southeast-1", "drs")
    assert "pw" not in str(info.value) or reason != "credentials"


def test_resolve_needs_something() -> None:
    with pytest.raises(ValueError, match="region"):
        endpoints.resolve(None, None, "drs")


def test_batch_detail_path_encodes() -> None:
    assert endpoints.batch_detail_path(PROJECT) == f"/v3/{PROJECT}/jobs/batch-detail"
    assert endpoints.batch_detail_path("a/b c") == "/v3/a%2Fb%20c/jobs/batch-detail"
    with pytest.raises(ValueError):
        endpoints.batch_detail_path("")


@pytest.mark.parametrize("project", [".", ".."], ids=["dot", "dot-dot"])
def test_a_project_id_cannot_climb_out_of_the_path(project: str) -> None:
    from drs_operator.drs.endpoints import batch_detail_path

    with pytest.raises(ValueError, match="must not be"):
        batch_detail_path(project)
