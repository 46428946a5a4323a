"""The DRS simulator over real HTTP on loopback: auth, paging, not-found, faults, admin, CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from drs_operator.drs import signing
from drs_operator.sandbox.simulator import SECRET_MARKER, Scenario, ScenarioError, Simulator
from tests.tls import self_signed_cert

PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"
TOKEN = "static-token"
AK, SK = "TESTACCESSKEY", "test-secret-key"
NEVER = "00000000-0000-0000-0000-00000000jb21"
HEADERS = {"X-Language": "en-us", "Content-Type": "application/json"}
DEMO = Path(__file__).parent.parent / "operator" / "drs_operator" / "data" / "demo-scenario.yaml"


class Clock:
    """An injectable clock for progressions, token expiry and the AK/SK date check."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[Factory]:
    started: list[Simulator] = []

    async def make(**kwargs: Any) -> Simulator:
        sim = Simulator(**kwargs)
        sim.add_token(TOKEN, project_id=PROJECT)
        sim.add_access_key(access_key=AK, secret_key=SK)
        sim.add_user(name="alice", password="pw", domain="acme", project_id=PROJECT)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


async def detail(
    http: httpx.AsyncClient,
    sim: Simulator,
    ids: list[str],
    *,
    page_req: dict[str, Any] | None = None,
    token: str | None = TOKEN,
    project: str = PROJECT,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> httpx.Response:
    payload: Any = {"jobs": ids} if body is None else body
    if page_req is not None:
        payload["page_req"] = page_req
    sent = dict(HEADERS)
    if token is not None:
        sent["X-Auth-Token"] = token
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v != ""}
    return await http.post(
        f"{sim.url}/v3/{project}/jobs/batch-detail", content=json.dumps(payload), headers=sent
    )


def signed_headers(
    sim: Simulator,
    body: bytes,
    *,
    project: str = PROJECT,
    when: float,
    ak: str = AK,
    sk: str = SK,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    url = f"{sim.url}/v3/{project}/jobs/batch-detail"
    headers = {
        **HEADERS,
        "Host": httpx.URL(url).netloc.decode(),
        "X-Project-Id": project,
        "X-Sdk-Date": signing.format_sdk_date(when),
        **(extra or {}),
    }
    headers["Authorization"] = signing.sign(
        access_key=ak, secret_key=sk, method="POST", url=url, headers=headers, body=body
    )
    return headers


def ids_of(response: httpx.Response, key: str = "results") -> list[str]:
    return [item["id"] for item in response.json()[key]]


# --- IAM tokens and token auth ------------------------------------------------------------


def iam_body(
    *, name: str = "alice", password: str = "pw", domain: str = "acme", scope: Any = None
) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": name, "password": password, "domain": {"name": domain}}
                },
            },
            "scope": {"project": scope if scope is not None else {"id": PROJECT}},
        }
    }


async def test_iam_token_issue_use_expire_and_revoke(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    sim = await make_sim(clock=clock, token_ttl=100.0)
    job = sim.add_job()
    issued = await client.post(f"{sim.url}/v3/auth/tokens", json=iam_body())
    assert issued.status_code == 201
    token = issued.headers["X-Subject-Token"]
    assert issued.json()["token"]["project"]["id"] == PROJECT
    assert issued.json()["token"]["expires_at"].startswith("2026-05-28T20:28:20")
    assert (await detail(client, sim, [job], token=token)).status_code == 200

    clock.now += 101  # past expires_at
    expired = await detail(client, sim, [job], token=token)
    assert (expired.status_code, expired.json()["error_code"]) == (401, "APIG.0307")

    fresh = (await client.post(f"{sim.url}/v3/auth/tokens", json=iam_body())).headers[
        "X-Subject-Token"
    ]
    assert (await detail(client, sim, [job], token=fresh)).status_code == 200
    sim.revoke_tokens()
    for revoked in (fresh, TOKEN):  # issued and static tokens alike
        answer = await detail(client, sim, [job], token=revoked)
        assert (answer.status_code, answer.json()["error_code"]) == (401, "APIG.0301")
    assert sim.stats.iam_token_requests == 2


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (iam_body(password="wrong"), 401, "wrong password"),
        (iam_body(name="bob"), 401, "unknown user"),
        (iam_body(domain="other"), 401, "user in another domain"),
        (iam_body(scope={"id": OTHER_PROJECT}), 401, "scope to a project the user lacks"),
        (iam_body(scope={"name": "cn-north-4"}), 401, "scope by a name the user lacks"),
        ({"auth": {}}, 400, "no identity"),
        ({"auth": {"identity": {"methods": ["token"]}}}, 400, "unsupported method"),
    ],
)
async def test_iam_rejects(
    make_sim: Factory, client: httpx.AsyncClient, body: Any, status: int, reason: str
) -> None:
    sim = await make_sim()
    answer = await client.post(f"{sim.url}/v3/auth/tokens", json=body)
    assert answer.status_code == status, reason
    assert answer.json()["error"]["code"] == status
    assert "X-Subject-Token" not in answer.headers
    assert answer.headers["X-Request-Id"]


async def test_iam_scope_by_project_name(make_sim: Factory, client: httpx.AsyncClient) -> None:
    sim = await make_sim()
    sim.add_user(name="carol", password="pw2", domain="acme", project_id=PROJECT, project_name="r1")
    body = iam_body(name="carol", password="pw2", scope={"name": "r1"})
    answer = await client.post(f"{sim.url}/v3/auth/tokens", json=body)
    assert answer.status_code == 201
    assert answer.json()["token"]["project"]["id"] == PROJECT


@pytest.mark.parametrize(
    ("token", "project", "status", "code", "reason"),
    [
        (TOKEN, PROJECT, 200, None, "static token for its project"),
        ("unknown", PROJECT, 401, "APIG.0301", "unknown token"),
        (TOKEN, OTHER_PROJECT, 403, "DRS.M00261", "token scoped to another project"),
        (None, PROJECT, 401, "APIG.0301", "no credentials at all"),
        ("any-project", OTHER_PROJECT, 200, None, "a token without project works anywhere"),
    ],
)
async def test_token_auth(
    make_sim: Factory,
    client: httpx.AsyncClient,
    token: str | None,
    project: str,
    status: int,
    code: str | None,
    reason: str,
) -> None:
    sim = await make_sim()
    sim.add_token("any-project")
    job = sim.add_job()
    answer = await detail(client, sim, [job], token=token, project=project)
    assert answer.status_code == status, reason
    if code:
        assert answer.json()["error_code"] == code, reason
        assert answer.json()["error_msg"]


# --- AK/SK --------------------------------------------------------------------------------


async def test_aksk_accepted_and_recorded(make_sim: Factory, client: httpx.AsyncClient) -> None:
    clock = Clock()
    sim = await make_sim(clock=clock)
    job = sim.add_job()
    body = json.dumps({"jobs": [job]}).encode()
    headers = signed_headers(sim, body, when=clock.now)
    answer = await client.post(
        f"{sim.url}/v3/{PROJECT}/jobs/batch-detail", content=body, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert ids_of(answer) == [job]
    assert sim.stats.requests[-1].auth_mode == "aksk"


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("tampered body", 401, "signature"),
        ("wrong secret key", 401, "signature"),
        ("unknown access key", 401, "signature"),
        ("date 20 minutes old", 401, "clock skew"),
        ("server clock skewed by fault", 401, "clock skew"),
        ("X-Project-Id of another project", 403, "X-Project-Id"),
        ("temporary key without security token", 401, "security token"),
    ],
)
async def test_aksk_rejected(
    make_sim: Factory, client: httpx.AsyncClient, case: str, status: int, message: str
) -> None:
    clock = Clock()
    sim = await make_sim(clock=clock)
    sim.add_access_key(access_key="TEMPAK", secret_key="temp-sk", security_token="st")
    job = sim.add_job()
    body = json.dumps({"jobs": [job]}).encode()
    sent = body
    kwargs: dict[str, Any] = {"when": clock.now}
    if case == "tampered body":
        sent = json.dumps({"jobs": [job, NEVER]}).encode()
    elif case == "wrong secret key":
        kwargs["sk"] = "other"
    elif case == "unknown access key":
        kwargs["ak"] = "NOSUCHKEY"
    elif case == "date 20 minutes old":
        kwargs["when"] = clock.now - 1200
    elif case == "server clock skewed by fault":
        sim.faults.clock_skew = 3600.0
    elif case == "X-Project-Id of another project":
        kwargs["extra"] = {"X-Project-Id": OTHER_PROJECT}
    elif case == "temporary key without security token":
        kwargs.update(ak="TEMPAK", sk="temp-sk")
    headers = signed_headers(sim, body, **kwargs)
    answer = await client.post(
        f"{sim.url}/v3/{PROJECT}/jobs/batch-detail", content=sent, headers=headers
    )
    assert answer.status_code == status, case
    assert message in answer.json()["error_msg"], case


async def test_aksk_temporary_key_with_security_token(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    sim = await make_sim(clock=clock)
    sim.add_access_key(access_key="TEMPAK", secret_key="temp-sk", security_token="st")
    job = sim.add_job()
    body = json.dumps({"jobs": [job]}).encode()
    headers = signed_headers(
        sim, body, when=clock.now, ak="TEMPAK", sk="temp-sk", extra={"X-Security-Token": "st"}
    )
    answer = await client.post(
        f"{sim.url}/v3/{PROJECT}/jobs/batch-detail", content=body, headers=headers
    )
    assert answer.status_code == 200, answer.text


# --- paging, items, not found -------------------------------------------------------------


async def test_paging_defaults_to_five_and_pages_on(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    jobs = [sim.add_job() for _ in range(12)]
    first = await detail(client, sim, jobs)
    assert (first.json()["count"], ids_of(first)) == (12, jobs[:5])
    third = await detail(client, sim, jobs, page_req={"cur_page": 3, "per_page": 5})
    assert ids_of(third) == jobs[10:]
    beyond = await detail(client, sim, jobs, page_req={"cur_page": 9, "per_page": 5})
    assert (beyond.json()["count"], ids_of(beyond)) == (12, [])
    everything = await detail(client, sim, jobs, page_req={"per_page": 0})
    assert ids_of(everything) == jobs
    assert sim.stats.requests[-1].page is None
    assert sim.stats.requests[-2].page == 9


async def test_item_shape_is_realistic_with_secrets(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    job = sim.add_job(
        status="FULL_TRANSFER_FAILED", name="orders", source_endpoint={"ip": "1.2.3.4"}
    )
    item = (await detail(client, sim, [job])).json()["results"][0]
    assert item["name"] == "orders"
    assert item["source_endpoint"]["ip"] == "1.2.3.4"
    assert SECRET_MARKER in item["source_endpoint"]["db_password"]  # default kept under override
    assert SECRET_MARKER in item["target_endpoint"]["db_password"]
    assert isinstance(item["create_time"], str) and item["create_time"].isdigit()
    assert item["inst_info"]["start_time"] == "0"
    assert item["error_code"] and item["error_message"] and item["failed_reason"]
    node_nums = {type(sim.job(sim.add_job())["node_num"]) for _ in range(3)}
    assert node_nums == {int, str}  # node_num is sometimes a string


async def test_list_key_jobs_variant(make_sim: Factory, client: httpx.AsyncClient) -> None:
    sim = await make_sim(list_key="jobs")
    job = sim.add_job()
    answer = await detail(client, sim, [job])
    assert ids_of(answer, "jobs") == [job]
    assert "results" not in answer.json()


async def test_all_missing_is_400_with_per_item_errors(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    gone = sim.add_job()
    sim.delete_job(gone)
    answer = await detail(client, sim, [gone, NEVER])
    assert answer.status_code == 400
    assert answer.json()["count"] == 2
    assert [(r["id"], r["error_code"]) for r in answer.json()["results"]] == [
        (gone, "DRS.M05004"),
        (NEVER, "DRS.M00289"),
    ]
    assert all(r["error_message"] for r in answer.json()["results"])
    with pytest.raises(KeyError):
        sim.job(gone)


async def test_job_of_another_project_is_not_found(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    sim.add_token("other", project_id=OTHER_PROJECT)
    job = sim.add_job(project_id=PROJECT)
    answer = await detail(client, sim, [job], token="other", project=OTHER_PROJECT)
    assert (answer.status_code, answer.json()["results"][0]["error_code"]) == (400, "DRS.M00289")


@pytest.mark.parametrize(
    ("mode", "status", "expected"),
    [
        ("error400", 400, ["missing"]),  # strict: only the missing ones, caller must split
        ("items200", 200, ["found", "missing", "found"]),  # found items + error items in order
    ],
)
async def test_mixed_batch(
    make_sim: Factory, client: httpx.AsyncClient, mode: str, status: int, expected: list[str]
) -> None:
    sim = await make_sim(mixed_missing=mode)
    a, b = sim.add_job(), sim.add_job()
    answer = await detail(client, sim, [a, NEVER, b])
    assert answer.status_code == status
    results = answer.json()["results"]
    kinds = ["missing" if r.get("error_code") == "DRS.M00289" else "found" for r in results]
    assert kinds == expected
    assert answer.json()["count"] == len(expected)


@pytest.mark.parametrize(
    ("body", "headers", "code", "reason"),
    [
        ({"jobs": []}, {}, "DRS.M00202", "empty list"),
        ({}, {}, "DRS.M00202", "no jobs key"),
        ([1], {}, "DRS.M00202", "body not an object"),
        ({"jobs": "x"}, {}, "DRS.M00202", "jobs not a list"),
        ({"jobs": ["not-a-uuid"]}, {}, "DRS.M00202", "not UUID layout"),
        ({"jobs": [NEVER.upper()]}, {}, "DRS.M00202", "upper case"),
        ({"jobs": [""]}, {}, "DRS.M00202", "empty string"),
        ({"jobs": [NEVER, NEVER]}, {}, "DRS.M00202", "duplicate IDs"),
        ({"jobs": [NEVER], "page_req": {"per_page": 101}}, {}, "DRS.M00202", "per_page > max"),
        ({"jobs": [NEVER], "page_req": {"per_page": -1}}, {}, "DRS.M00202", "per_page < 0"),
        ({"jobs": [NEVER], "page_req": {"cur_page": 0}}, {}, "DRS.M00202", "cur_page < 1"),
        ({"jobs": [NEVER], "page_req": {"cur_page": "1"}}, {}, "DRS.M00202", "cur_page string"),
        ({"jobs": [NEVER], "page_req": []}, {}, "DRS.M00202", "page_req not an object"),
        ({"jobs": [NEVER]}, {"X-Language": ""}, "DRS.M00201", "missing X-Language"),
        ({"jobs": [NEVER]}, {"Content-Type": "text/plain"}, "DRS.M00201", "wrong Content-Type"),
    ],
)
async def test_validation_errors(
    make_sim: Factory,
    client: httpx.AsyncClient,
    body: Any,
    headers: dict[str, str],
    code: str,
    reason: str,
) -> None:
    sim = await make_sim()
    answer = await detail(client, sim, [], body=body, headers=headers)
    assert answer.status_code == 400, reason
    assert answer.json()["error_code"] == code, reason
    assert answer.json()["error_msg"], reason


# --- faults -------------------------------------------------------------------------------


def check_json_ids(expect: Callable[[dict[str, Any], list[str]], bool]) -> Callable[..., bool]:
    def check(response: httpx.Response, jobs: list[str]) -> bool:
        return response.status_code == 200 and expect(response.json(), jobs)

    return check


def not_json(response: httpx.Response, jobs: list[str]) -> bool:
    try:
        response.json()
    except ValueError:
        return response.status_code == 200
    return False


def error(status: int, code: str) -> Callable[..., bool]:
    def check(response: httpx.Response, jobs: list[str]) -> bool:
        return response.status_code == status and response.json()["error_code"] == code

    return check


@pytest.mark.parametrize(
    ("faults", "check", "reason"),
    [
        ({"throttle_ratio": 1.0}, error(429, "APIG.0308"), "gateway throttling"),
        ({"busy_ratio": 1.0}, error(400, "DRS.M01503"), "operation too frequent"),
        ({"in_progress_ratio": 1.0}, error(202, "DRS.M01504"), "operation in progress"),
        ({"malformed_ratio": 1.0}, not_json, "body is not JSON"),
        ({"truncated_ratio": 1.0}, not_json, "body cut off"),
        (
            {"empty_results_ratio": 1.0},
            check_json_ids(lambda b, j: b == {"results": [], "count": 0}),
            "empty results",
        ),
        (
            {"drop_ids_ratio": 1.0},
            check_json_ids(lambda b, j: 0 < len(j) - len(b["results"]) == 2 and b["count"] == 2),
            "some IDs dropped, count adjusted",
        ),
        (
            {"duplicate_items_ratio": 1.0},
            check_json_ids(
                lambda b, j: len(b["results"]) == 5 and len({r["id"] for r in b["results"]}) == 4
            ),
            "one item repeated",
        ),
        (
            {"count_inflate": 3},
            check_json_ids(lambda b, j: b["count"] == 7 and len(b["results"]) == 4),
            "count larger than items",
        ),
        (
            {"ignore_paging": True},
            check_json_ids(lambda b, j: len(b["results"]) == 4),
            "page_req ignored",
        ),
    ],
)
async def test_faults(
    make_sim: Factory,
    client: httpx.AsyncClient,
    faults: dict[str, Any],
    check: Callable[[httpx.Response, list[str]], bool],
    reason: str,
) -> None:
    sim = await make_sim()
    jobs = [sim.add_job() for _ in range(4)]
    sim.faults.update(faults)
    page_req = {"cur_page": 1, "per_page": 2} if "ignore_paging" in faults else None
    answer = await detail(client, sim, jobs, page_req=page_req)
    assert check(answer, jobs), f"{reason}: {answer.status_code} {answer.text[:200]}"
    assert answer.headers["X-Request-Id"]
    sim.faults.reset()
    assert (await detail(client, sim, jobs)).status_code == 200


async def test_server_errors_retry_after_and_latency(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim(seed=7)
    job = sim.add_job()
    sim.faults.server_error_ratio = 1.0
    statuses = {(await detail(client, sim, [job])).status_code for _ in range(12)}
    assert statuses == {500, 503}
    sim.faults.reset()
    sim.faults.update({"throttle_ratio": 1.0, "retry_after": 3})
    assert (await detail(client, sim, [job])).headers["Retry-After"] == "3"
    sim.faults.reset()
    sim.faults.latency = 0.2
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert (await detail(client, sim, [job])).status_code == 200
    assert loop.time() - began >= 0.2


async def test_fault_ratios_are_seeded(make_sim: Factory, client: httpx.AsyncClient) -> None:
    async def pattern(seed: int) -> list[int]:
        sim = await make_sim(seed=seed)
        job = sim.add_job()
        sim.faults.throttle_ratio = 0.5
        return [(await detail(client, sim, [job])).status_code for _ in range(16)]

    first, again = await pattern(3), await pattern(3)
    assert first == again
    assert set(first) == {200, 429}


def test_faults_reject_bad_values() -> None:
    sim = Simulator()
    for bad in ({"throttle_ratio": 1.5}, {"nonsense": 1}, {"ignore_paging": 1}, {"latency": -1}):
        with pytest.raises(ValueError):
            sim.faults.update(bad)
    assert sim.faults.throttle_ratio == 0.0


# --- progressions -------------------------------------------------------------------------


async def test_progression_over_time(make_sim: Factory, client: httpx.AsyncClient) -> None:
    clock = Clock()
    sim = await make_sim(clock=clock)
    start = clock.now
    job = sim.add_job(
        status="CREATING",
        progression=[
            (5, "CONFIGURATION"),
            (10, "STARTJOBING"),
            (15, "FULL_TRANSFER_STARTED"),
            (30, "FULL_TRANSFER_FAILED", {"error_code": "DRS.X1", "error_message": "boom"}),
        ],
    )

    async def read() -> dict[str, Any]:
        answer = await detail(client, sim, [job])
        return dict(answer.json()["results"][0])

    created = await read()
    assert created["status"] == "CREATING" and "error_code" not in created
    clock.now = start + 4.9
    assert (await read())["update_time"] == created["update_time"]  # no change, no new time
    clock.now = start + 12
    item = await read()
    assert item["status"] == "STARTJOBING"
    assert item["update_time"] == str(int((start + 10) * 1000))
    assert item["actual_start_time"] == str(int((start + 10) * 1000))
    clock.now = start + 31
    failed = await read()
    assert failed["status"] == "FULL_TRANSFER_FAILED"
    assert (failed["error_code"], failed["error_message"]) == ("DRS.X1", "boom")
    assert failed["failed_reason"]
    sim.set_status(job, "INCRE_TRANSFER_STARTED")
    healed = await read()
    assert healed["status"] == "INCRE_TRANSFER_STARTED" and "error_code" not in healed
    assert healed["update_time"] == str(int(clock.now * 1000))


async def test_progression_origin_is_start_for_jobs_added_before() -> None:
    clock = Clock()
    sim = Simulator(clock=clock)
    job = sim.add_job(status="CREATING", progression=[(5, "CONFIGURATION")])
    clock.now += 100  # before start: nothing progresses
    assert sim.job(job)["status"] == "CREATING"
    await sim.start()
    try:
        clock.now += 4
        assert sim.job(job)["status"] == "CREATING"
        clock.now += 2
        assert sim.job(job)["status"] == "CONFIGURATION"
    finally:
        await sim.stop()


async def test_a_scenario_step_can_move_an_endpoint_and_keep_its_status() -> None:
    """Drift at run time: a step that changes identity fields only (the demo's customers-sync)."""
    clock = Clock()
    scenario = Scenario.from_dict(
        {"jobs": [{"id": "b938451e-e325-faa6-3340-6bc44dc2jb21", "name": "customers-sync",
                   "status": "INCRE_TRANSFER_STARTED",
                   "source_endpoint": {"ip": "10.10.1.22", "db_port": 3306},
                   "progression": [[35, "INCRE_TRANSFER_STARTED",
                                    {"source_endpoint": {"db_port": 3307}, "name": "moved"}]]}]}
    )  # fmt: skip
    sim = Simulator(clock=clock, scenario=scenario)
    job = scenario.jobs[0].id
    await sim.start()
    try:
        assert sim.job(job)["source_endpoint"]["db_port"] == 3306
        clock.now += 36
        after = sim.job(job)
        assert after["status"] == "INCRE_TRANSFER_STARTED" and after["name"] == "moved"
        assert after["source_endpoint"]["db_port"] == 3307
        assert after["source_endpoint"]["ip"] == "10.10.1.22", "merged one level deep"
    finally:
        await sim.stop()


def test_add_job_rejects_bad_input() -> None:
    sim = Simulator()
    job = sim.add_job()
    for kwargs in (
        {"job_id": "bad"},
        {"job_id": job},
        {"progression": [(5, "A"), (1, "B")]},
        {"progression": [(-1, "A")]},
    ):
        with pytest.raises(ValueError):
            sim.add_job(**kwargs)
    with pytest.raises(KeyError):
        sim.set_status(NEVER, "CREATING")
    with pytest.raises(KeyError):
        sim.delete_job(NEVER)


# --- scenarios ----------------------------------------------------------------------------


async def test_demo_scenario_loads_and_serves(client: httpx.AsyncClient) -> None:
    scenario = Scenario.from_file(DEMO)
    assert len(scenario.jobs) == 12
    assert scenario.absent_jobs and scenario.tokens and scenario.users and scenario.access_keys
    clock = Clock()
    sim = Simulator(scenario=scenario, clock=clock)
    await sim.start()
    try:
        token, project = scenario.tokens[0].token, str(scenario.tokens[0].project_id)
        ids = [str(spec.id) for spec in scenario.jobs]
        answer = await detail(
            client, sim, ids, token=token, project=project, page_req={"per_page": 0}
        )
        assert answer.status_code == 200
        items = answer.json()["results"]
        assert len(items) == 12 and answer.json()["count"] == 12
        assert all(SECRET_MARKER in json.dumps(item["source_endpoint"]) for item in items)
        clock.now += 60
        later = await detail(
            client, sim, ids, token=token, project=project, page_req={"per_page": 0}
        )
        statuses = {item["name"]: item["status"] for item in later.json()["results"]}
        assert statuses["orders-sync"] == "INCRE_TRANSFER_STARTED"
        assert statuses["billing-migration"] == "FULL_TRANSFER_FAILED"
        missing = await detail(client, sim, [scenario.absent_jobs[0]], token=token, project=project)
        assert missing.json()["results"][0]["error_code"] == "DRS.M00289"
    finally:
        await sim.stop()


def test_scenario_options_and_credentials_apply() -> None:
    scenario = Scenario.from_dict(
        {
            "options": {"per_page_default": 3, "mixed_missing": "items200", "list_key": "jobs"},
            "credentials": {"tokens": [{"token": "t"}]},
            "jobs": [{"status": "PAUSING", "progression": [[1, "INCRE_TRANSFER_STARTED"]]}],
            "deleted_jobs": [NEVER],
        }
    )
    sim = Simulator(scenario=scenario)
    assert (sim.per_page_default, sim.mixed_missing, sim.list_key) == (3, "items200", "jobs")
    assert sim.job(sim.job_ids()[0])["status"] == "PAUSING"


@pytest.mark.parametrize(
    ("text", "fragment", "reason"),
    [
        ("jobs: {}", "jobs: must be a list", "jobs not a list"),
        ("jobs: [{id: nope}]", "jobs[0].id", "bad job ID"),
        ("jobs: [{progression: [[5]]}]", "jobs[0].progression[0]", "step too short"),
        ("jobs: [{progression: [[5, A], [2, B]]}]", "jobs[0].progression[1]", "time goes back"),
        ("jobs: [{source_endpoint: 3}]", "jobs[0].source_endpoint", "endpoint not a mapping"),
        ("options: {list_key: items}", "options.list_key", "unknown list key"),
        ("options: {per_page_default: x}", "options.per_page_default", "option type"),
        ("options: {bogus: 1}", "options.bogus", "unknown option"),
        ("credentials: {users: [{name: u}]}", "credentials.users[0].password", "user lacks"),
        ("credentials: {tokens: [{token: ''}]}", "credentials.tokens[0].token", "empty token"),
        ("surprise: 1", "surprise", "unknown top-level key"),
        ("[1, 2]", "(top level)", "not a mapping"),
        (f"jobs: [{{id: {NEVER}}}, {{id: {NEVER}}}]", "jobs[1].id", "duplicate ID"),
        (f"jobs: [{{id: {NEVER}}}]\nabsent_jobs: [{NEVER}]", "absent_jobs[0]", "absent"),
        ("jobs: [", "not valid YAML", "YAML syntax"),
    ],
)
def test_bad_scenarios(tmp_path: Path, text: str, fragment: str, reason: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_file(path)
    assert fragment in str(caught.value), reason
    assert str(path) in str(caught.value), reason


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        Scenario.from_file(tmp_path / "nope.yaml")


# --- stats, request IDs, admin API --------------------------------------------------------


async def test_stats_count_every_call(make_sim: Factory, client: httpx.AsyncClient) -> None:
    sim = await make_sim()
    jobs = [sim.add_job() for _ in range(3)]
    await detail(client, sim, jobs)
    await detail(client, sim, jobs[:1], token="bad")
    sim.faults.throttle_ratio = 1.0
    await detail(client, sim, jobs[:2])
    stats = sim.stats
    assert stats.batch_detail_calls == 3
    assert stats.ids_per_call == [3, 1, 2]
    assert stats.by_status == {200: 1, 401: 1, 429: 1}
    assert [r.error_code for r in stats.requests] == [None, "APIG.0301", "APIG.0308"]
    assert [r.auth_mode for r in stats.requests] == ["token", "token", "token"]
    assert stats.requests[0].ids == tuple(jobs)
    stats.reset()
    assert (stats.batch_detail_calls, stats.requests, stats.by_status) == (0, [], {})


async def test_request_ids_are_unique_everywhere(
    make_sim: Factory, client: httpx.AsyncClient
) -> None:
    sim = await make_sim()
    answers = [
        await detail(client, sim, [NEVER]),
        await detail(client, sim, [NEVER]),
        await client.get(f"{sim.url}/no/such/path"),
        await client.post(f"{sim.url}/v3/auth/tokens", json={}),
    ]
    request_ids = [answer.headers["X-Request-Id"] for answer in answers]
    assert len(set(request_ids)) == len(request_ids)


async def test_admin_api(make_sim: Factory, client: httpx.AsyncClient) -> None:
    sim = await make_sim()
    admin = f"{sim.url}/_sim"
    created = await client.post(f"{admin}/jobs", json={"count": 3, "status": "CREATING"})
    assert created.status_code == 201
    ids = created.json()["ids"]
    assert [sim.job(i)["status"] for i in ids] == ["CREATING"] * 3
    one = await client.post(f"{admin}/jobs", json={"id": NEVER, "name": "n"})
    assert one.json()["ids"] == [NEVER]
    bad = await client.post(f"{admin}/jobs", json={"id": "nope"})
    assert bad.status_code == 400 and "jobs[0].id" in bad.json()["error"]

    changed = await client.post(f"{admin}/jobs/{ids[0]}/status", json={"status": "PAUSING"})
    assert changed.status_code == 200
    assert (await client.get(f"{admin}/jobs/{ids[0]}")).json()["status"] == "PAUSING"
    assert (
        await client.post(f"{admin}/jobs/{'a' * 36}/status", json={"status": "X"})
    ).status_code == 404

    assert (await client.delete(f"{admin}/jobs/{ids[1]}")).status_code == 200
    assert (await client.delete(f"{admin}/jobs/{ids[1]}")).status_code == 404
    gone = await detail(client, sim, [ids[1]])
    assert gone.json()["results"][0]["error_code"] == "DRS.M05004"

    faults = await client.post(f"{admin}/faults", json={"busy_ratio": 1.0})
    assert faults.json()["busy_ratio"] == 1.0
    assert (await detail(client, sim, [ids[0]])).json()["error_code"] == "DRS.M01503"
    assert (await client.post(f"{admin}/faults", json={"nope": 1})).status_code == 400
    assert (await client.post(f"{admin}/faults", json={"reset": True})).json()["busy_ratio"] == 0

    stats = (await client.get(f"{admin}/stats")).json()
    assert stats["batch_detail_calls"] == 2 and stats["jobs"] == 3
    assert stats["by_status"] == {"400": 2}
    assert (await client.post(f"{admin}/reset-stats")).status_code == 200
    assert sim.stats.batch_detail_calls == 0

    listed = (await client.get(f"{admin}/jobs")).json()["jobs"]
    assert [(j["id"], j["status"]) for j in listed] == [
        (ids[0], "PAUSING"), (ids[2], "CREATING"), (NEVER, "INCRE_TRANSFER_STARTED")
    ]  # fmt: skip
    assert listed[2]["name"] == "n"

    await client.post(f"{admin}/tokens", json={"token": "added", "project_id": PROJECT})
    assert (await detail(client, sim, [ids[0]], token="added")).status_code == 200
    await client.post(f"{admin}/revoke-tokens")
    assert (await detail(client, sim, [ids[0]], token="added")).status_code == 401
    assert sim.stats.batch_detail_calls == 2  # admin calls are not counted


async def test_serves_https(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    sim = Simulator()
    sim.add_token(TOKEN)
    job = sim.add_job()
    url = await sim.start(ssl_context=server_ctx)
    try:
        assert url.startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(verify=client_ctx) as http:
            assert (await detail(http, sim, [job])).status_code == 200
    finally:
        await sim.stop()


# --- the standalone command ---------------------------------------------------------------

# The bad-input cases run the subcommand module directly (a faster start than the CLI).
RUN_COMMAND = textwrap.dedent(
    """
    import argparse, sys
    from drs_operator.cli import simulate as command
    parser = argparse.ArgumentParser(prog="drs-operator simulate")
    command.configure(parser)
    sys.exit(command.execute(parser.parse_args(sys.argv[1:])))
    """
)


async def test_simulate_command_serves_until_sigterm(client: httpx.AsyncClient) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drs_operator",  # the real CLI dispatcher
        "simulate",
        "--port",
        "0",
        "--scenario",
        str(DEMO),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert "SIMSECRET" not in line  # no credential values without --show-credentials
        assert "12 jobs" in line and "AK/SK with access key DEMOACCESSKEY0000001" in line
        assert "IAM user demo-user@demo-account" in line and "/_sim/jobs lists the jobs" in line
        url = line.split(" listening on ")[1].split()[0]
        scenario = Scenario.from_file(DEMO)
        token = scenario.tokens[0]
        answer = await client.post(
            f"{url}/v3/{token.project_id}/jobs/batch-detail",
            json={"jobs": [scenario.jobs[1].id]},
            headers={"X-Auth-Token": token.token, "X-Language": "en-us"},
        )
        assert answer.status_code == 200
        assert answer.json()["results"][0]["name"] == "customers-sync"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("args", "fragment", "reason"),
    [
        (["--scenario", "{bad}"], "jobs[0].id", "bad scenario file"),
        (["--scenario", "{missing}"], "cannot read", "missing scenario file"),
        (["--tls-cert", "x.pem"], "--tls-cert and --tls-key", "cert without key"),
        (["--port", "70000"], "--port", "port out of range"),
    ],
)
async def test_simulate_command_bad_input_exits_2(
    tmp_path: Path, args: list[str], fragment: str, reason: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [{id: nope}]\n")
    argv = [a.format(bad=bad, missing=tmp_path / "missing.yaml") for a in args]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_COMMAND,
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2, reason
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], (reason, lines)
    assert out == b""


async def test_show_credentials_prints_every_credential_and_a_command_that_works() -> None:
    """Each printed ``drs-operator query`` command (token, user/password, AK/SK) succeeds."""
    import shlex

    from drs_operator import cli

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drs_operator", "simulate", "--port", "0", "--show-credentials",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        while len([line for line in lines if "drs-operator query" in line]) < 3:
            line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            assert line, f"simulate exited early: {''.join(lines)!r}"
            lines.append(line)
        text = "".join(lines)
        scenario = Scenario.from_file(DEMO)
        for secret in (
            scenario.tokens[0].token,
            scenario.users[0].password,
            scenario.access_keys[0].secret_key,
        ):
            assert secret in text
        commands = [line.strip() for line in lines if line.strip().startswith("drs-operator query")]
        assert len(commands) == 3  # token, user/password, AK/SK
        for command in commands:
            words = shlex.split(command)[1:]
            code = await asyncio.to_thread(cli.main, words)
            assert code == 0, command
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)


def test_simulate_list_prints_the_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    from drs_operator import cli

    assert cli.main(["simulate", "--list", "--scenario", str(DEMO)]) == 0
    out = capsys.readouterr().out.splitlines()
    scenario = Scenario.from_file(DEMO)
    assert out[0].split() == ["ID", "STATUS", "NAME"]
    assert len(out) == 1 + len(scenario.jobs)
    first = scenario.jobs[0]
    assert out[1].split() == [first.id, first.status, first.fields["name"]]
