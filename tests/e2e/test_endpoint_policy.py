"""A DrsJob cannot send its namespace's DRS credentials to a host of its choosing.

One operator process, one namespace holding a token Secret, an IAM-password
Secret and an AK/SK Secret (sentinel values, as in the hygiene tests). In it,
for each auth mode, an honest DrsJob and one whose ``spec.endpoint`` points at
a **capture listener** of the DrsJob author's (it records every request it
receives). Also: a ``spec.endpoint`` equal to the Secret's own endpoint, one
that the operator's ``--allowed-endpoint-hosts`` allows (a second simulator),
and Secrets whose DRS or IAM endpoint answers with a redirect to the capture
listener.

Checked: the capture listener receives **zero** requests; the foreign
endpoints show ``Synced`` False ``EndpointNotAllowed`` (message naming the host
and the flag) with a Warning event and a log line; the honest and allowed
DrsJobs in the same namespace work; redirects are reported, never followed;
no sentinel reaches a status, event, log line or metric.

The outcome table is rendered into ``docs/security.md`` (between the
generated-table markers); ``DRS_REGENERATE_DOCS=1`` rewrites it, otherwise the
test fails when the committed table differs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from drs_operator.sandbox.simulator import Simulator

from .conftest import Cluster, OperatorFactory, condition, eventually
from .test_secret_hygiene import PROJECT, SENTINELS, accept_sentinels, assert_no_sentinels

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "security.md"
REGENERATE_ENV = "DRS_REGENERATE_DOCS"
BEGIN, END = "<!-- begin: tests/e2e/test_endpoint_policy.py -->", "<!-- end -->"
TIMEOUT = 30.0


@dataclass
class Capture:
    """A listener of the DrsJob author's: records whatever reaches it."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    found = Capture()

    async def record(request: web.Request) -> web.Response:
        found.requests.append((request.method, request.path, dict(request.headers)))
        return web.json_response({"count": 0, "results": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


@pytest.fixture
async def redirector(capture: Capture) -> AsyncIterator[str]:
    """An endpoint (named by a Secret) that answers every request with a 307 to the capture."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(capture.url + request.path)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def credentials(mode: str, *, endpoint: str, iam: str) -> dict[str, str]:
    base = {"endpoint": endpoint, "iamEndpoint": iam, "projectId": PROJECT}
    if mode == "token":
        return {**base, "token": SENTINELS["token"]}
    if mode == "password":
        return {
            **base,
            "username": SENTINELS["username"],
            "password": SENTINELS["password"],
            "domain": SENTINELS["domain"],
        }
    return {
        **base,
        "accessKey": SENTINELS["access_key"],
        "secretKey": SENTINELS["secret_key"],
        "securityToken": SENTINELS["security_token"],
    }


@dataclass(frozen=True)
class Case:
    name: str  # the DrsJob
    mode: str
    secret: str
    endpoint: str | None  # spec.endpoint: a placeholder resolved at run time
    synced: str  # "True" or the expected False reason
    what: str


MODES = ("token", "password", "aksk")
CASES: tuple[Case, ...] = (
    *(Case(f"honest-{m}", m, f"cred-{m}", None, "True", "no spec.endpoint") for m in MODES),
    *(
        Case(f"foreign-{m}", m, f"cred-{m}", "{capture}", "EndpointNotAllowed",
             "spec.endpoint: the author's listener")
        for m in MODES
    ),
    Case("own-endpoint", "token", "cred-token", "{sim}", "True",
         "spec.endpoint equal to the Secret's endpoint"),
    Case("allow-listed", "token", "cred-token", "{sim2}", "True",
         "spec.endpoint matching --allowed-endpoint-hosts"),
    Case("drs-redirect", "token", "cred-redirect-drs", None, "ApiError",
         "the Secret's DRS endpoint redirects to the listener"),
    Case("iam-redirect", "password", "cred-redirect-iam", None, "ApiError",
         "the Secret's IAM endpoint redirects to the listener"),
)  # fmt: skip


async def test_a_drsjob_cannot_send_credentials_to_a_host_of_its_choosing(
    cluster: Cluster,
    simulator: Simulator,
    operator_process: OperatorFactory,
    capture: Capture,
    redirector: str,
) -> None:
    accept_sentinels(simulator)
    sim2 = Simulator(seed=3)
    accept_sentinels(sim2)
    await sim2.start()
    try:
        for mode in MODES:
            await cluster.create_secret(
                f"cred-{mode}", credentials(mode, endpoint=simulator.url, iam=simulator.url)
            )
        await cluster.create_secret(
            "cred-redirect-drs", credentials("token", endpoint=redirector, iam=simulator.url)
        )
        await cluster.create_secret(
            "cred-redirect-iam", credentials("password", endpoint=simulator.url, iam=redirector)
        )
        urls = {"capture": capture.url, "sim": simulator.url, "sim2": sim2.url}
        for case in CASES:
            job_id = (sim2 if case.endpoint == "{sim2}" else simulator).add_job()
            spec: dict[str, Any] = {"jobId": job_id, "credentialsRef": {"name": case.secret}}
            if case.endpoint:
                spec["endpoint"] = case.endpoint.format(**urls)
            await cluster.create_drsjob(case.name, spec)

        proc = await operator_process(
            "--allowed-endpoint-hosts", f"drs.*.myhuaweicloud.com,{sim2.url}"
        )

        async def settled() -> dict[str, dict[str, Any]]:
            seen = {}
            for case in CASES:
                synced = condition(await cluster.get_drsjob(case.name), "Synced")
                got = "True" if synced.get("status") == "True" else synced.get("reason")
                assert got == case.synced, (case.name, synced)
                seen[case.name] = synced
            return seen

        synced = await eventually(settled, timeout=TIMEOUT)
        # A few more refresh cycles: a refused job is never retried towards the listener.
        await eventually(lambda: simulator.stats.batch_detail_calls >= 8, timeout=TIMEOUT)

        assert capture.requests == [], f"the listener received {len(capture.requests)} requests"
        for case in CASES:
            message = synced[case.name]["message"]
            if case.synced == "EndpointNotAllowed":
                assert capture.url.removeprefix("http://").split(":")[0] in message
                assert "--allowed-endpoint-hosts" in message, message
                events = await cluster.list_events(case.name)
                assert any(
                    e.get("type") == "Warning" and "EndpointNotAllowed" in e.get("message", "")
                    for e in events
                ), events
                assert f"{cluster.namespace}/{case.name}: " in proc.log_text()
            if case.name.endswith("redirect"):
                assert "redirect, which is not followed" in message, message
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(proc.metrics_url)).text
        await assert_no_sentinels(cluster, proc, metrics_text=metrics, sims=(simulator, sim2))
        render_table(synced, len(capture.requests))
    finally:
        await sim2.stop()


def render_table(synced: dict[str, dict[str, Any]], captured: int) -> None:
    rows = [
        "| DrsJob | auth mode | what it tries | requests to the listener | Synced |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        state = synced[case.name]
        shown = "True" if state["status"] == "True" else f"False {state['reason']}"
        rows.append(f"| {case.name} | {case.mode} | {case.what} | {captured} | {shown} |")
    table = "\n".join(rows)
    text = DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    rendered = f"{head}{BEGIN}\n{table}\n{END}{tail}"
    if os.environ.get(REGENERATE_ENV):
        DOC.write_text(rendered, encoding="utf-8")
        return
    assert text == rendered, (
        f"{DOC}'s table is not what this test produces; rerun with {REGENERATE_ENV}=1 and commit"
    )
