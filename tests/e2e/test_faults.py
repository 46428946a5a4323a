"""The DRS fault matrix, end to end: one operator process, faults switched at run time.

The real ``drs-operator run`` process watches DrsJobs in the cluster fixture
and reads a simulator whose faults this test switches case by case. Four
connections are in play, each a group of DrsJobs:

``token``  a ready IAM token (four jobs, one batch);
``pwd``    username/password: the operator logs in to IAM itself;
``aksk``   AK/SK signing (the only one the clock-skew check applies to);
``big``    a job of its own project whose answer can be made oversized;
``tls``    a second simulator served over HTTPS with a self-signed certificate.

For every case the test checks, on the objects and the operator's metrics:
the process stays up (same PID, no restart), the last good task status is
kept, ``Synced`` says what went wrong (reason, API code and request ID when
the service sent them), the connection backs off (the ``backoffs`` counter
of the cause rises), and once the fault is cleared every job converges to
the simulator's current state without a restart (each case also moves one
task to a new status while the fault is on, so convergence is proven on
fresh data, not on what was already there).

The outcome table is rendered from the run into ``docs/reliability.md``;
the committed file must be what the run produces (``DRS_REGENERATE_DOCS=1``
rewrites it). Every credential is a distinct sentinel and the simulator's
answers carry its secret marker: at the end nothing secret may appear in any
object, event, log line or metric (:mod:`tests.e2e.test_secret_hygiene`).
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from drs_operator.sandbox.simulator import Simulator
from tests.tls import self_signed_cert

from .conftest import REPO, Cluster, OperatorFactory, OperatorProcess, condition, eventually
from .test_secret_hygiene import SENTINELS, accept_sentinels, assert_no_sentinels

pytestmark = pytest.mark.e2e

DOC = REPO / "docs" / "reliability.md"
REGENERATE_ENV = "DRS_REGENERATE_DOCS"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
BIG_PROJECT = "bigAnswers"  # the CRD allows letters and digits only: a real server checks
FAULT_TIMEOUT = 12.0  # seconds for a fault to show on every job of the group
CONVERGE_TIMEOUT = 15.0  # seconds to converge after the fault is cleared
MAX_BODY = 65536  # --max-body-bytes of the operator under test
REQUEST_TIMEOUT = 1.0  # --request-timeout of the operator under test
HOLD = 1.5  # seconds a tolerated fault must leave every job Synced
#: Faster backoff and failed-job cadence than the harness's, to keep the matrix short.
MATRIX_ARGS = ("--backoff-initial", "200ms", "--backoff-max", "1s", "--cadence-failed", "2s")
GROUP_SIZES = {"token": 4, "pwd": 1, "aksk": 1, "big": 1, "tls": 1}
STEADY, OTHER = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"
REQUEST_ID_RE = re.compile(r"request [0-9a-f]{32}")


# -- helpers shared with the other e2e modules of this helper -------------------------------------


def metric_values(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family from Prometheus text (``""`` = no labels)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            labels = key[len(name) :].strip("{}")
            values[labels] = float(value)
    return values


async def scrape(proc: OperatorProcess) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(proc.metrics_url)
        response.raise_for_status()
        return response.text


# -- the environment ------------------------------------------------------------------------------


@dataclass
class Env:
    cluster: Cluster
    sim: Simulator
    tls_sim: Simulator
    proc: OperatorProcess
    ca_pem: str
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)  # group -> {name: job id}
    token_generation: int = 0

    def sim_of(self, group: str) -> Simulator:
        return self.tls_sim if group == "tls" else self.sim

    def names(self, groups: tuple[str, ...] | None = None) -> dict[str, tuple[str, str]]:
        """``{drsjob name: (group, job id)}`` for these groups (all when None)."""
        return {
            name: (group, job_id)
            for group, members in self.jobs.items()
            if groups is None or group in groups
            for name, job_id in members.items()
        }

    async def token_secret(self, token: str) -> None:
        await self.cluster.create_secret(
            "creds-token",
            {"endpoint": self.sim.url, "projectId": PROJECT, "region": "xx-test-1", "token": token},
        )

    async def tls_secret(self, *, with_ca: bool) -> None:
        data = {
            "endpoint": self.tls_sim.url,
            "projectId": PROJECT,
            "region": "xx-test-1",
            "token": SENTINELS["tls_token"],
        }
        if with_ca:
            data["caBundle"] = self.ca_pem
        await self.cluster.create_secret("creds-tls", data)


async def build_env(
    cluster: Cluster,
    simulator: Simulator,
    operator_process: OperatorFactory,
    tmp_path: Path,
    *extra_args: str,
) -> Env:
    """Secrets and DrsJobs of the five groups, the operator started, all jobs Synced."""
    cert, key = self_signed_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls_sim = Simulator(seed=3)
    await tls_sim.start(ssl_context=context)
    sim = simulator
    accept_sentinels(sim)
    tls_sim.add_token(SENTINELS["tls_token"], project_id=None)
    env = Env(
        cluster=cluster,
        sim=sim,
        tls_sim=tls_sim,
        proc=None,
        ca_pem=cert.read_text(),  # type: ignore[arg-type]
    )
    await env.token_secret(SENTINELS["token"])
    common = {"endpoint": sim.url, "projectId": PROJECT, "region": "xx-test-1"}
    await cluster.create_secret(
        "creds-pwd",
        {
            **common,
            "iamEndpoint": sim.url,
            "username": SENTINELS["username"],
            "password": SENTINELS["password"],
            "domain": SENTINELS["domain"],
        },
    )
    await cluster.create_secret(
        "creds-aksk",
        {
            **common,
            "accessKey": SENTINELS["access_key"],
            "secretKey": SENTINELS["secret_key"],
            "securityToken": SENTINELS["security_token"],
        },
    )
    await env.tls_secret(with_ca=True)
    secrets = {"token": "creds-token", "pwd": "creds-pwd", "aksk": "creds-aksk"}
    secrets |= {"big": "creds-token", "tls": "creds-tls"}
    for group, size in GROUP_SIZES.items():
        env.jobs[group] = {}
        for index in range(size):
            project = BIG_PROJECT if group == "big" else PROJECT
            job_id = env.sim_of(group).add_job(status=STEADY, project_id=project)
            name = f"{group}-{index}"
            spec: dict[str, Any] = {"jobId": job_id, "credentialsRef": {"name": secrets[group]}}
            if group == "big":
                spec["projectId"] = BIG_PROJECT
            await cluster.create_drsjob(name, spec)
            env.jobs[group][name] = job_id
    env.proc = await operator_process(
        "--request-timeout", f"{REQUEST_TIMEOUT:g}s",
        "--max-body-bytes", str(MAX_BODY),
        *extra_args,
    )  # fmt: skip
    await converged(env, timeout=30)
    return env


async def converged(env: Env, *, timeout: float = CONVERGE_TIMEOUT) -> None:
    """Every job Synced and showing the simulator's current task status."""

    async def check() -> bool:
        for name, (group, job_id) in env.names().items():
            job = await env.cluster.get_drsjob(name)
            synced = condition(job, "Synced")
            assert synced.get("status") == "True", f"{name}: Synced {synced}"
            want = env.sim_of(group).job(job_id)["status"]
            got = (job or {}).get("status", {}).get("taskStatus")
            assert got == want, f"{name}: taskStatus {got}, simulator {want}"
        return True

    await eventually(check, timeout=timeout, interval=0.2, message="every DrsJob converged")


# -- the cases -----------------------------------------------------------------------------------

Action = Callable[[Env], Awaitable[None]]


async def _nothing(env: Env) -> None:
    return None


def faults(**values: Any) -> Action:
    async def apply(env: Env) -> None:
        env.sim.faults.update(values)

    return apply


async def _reset_faults(env: Env) -> None:
    env.sim.faults.reset()
    env.tls_sim.faults.reset()


async def _refuse(env: Env) -> None:
    await env.sim.stop()


async def _serve_again(env: Env) -> None:
    port = httpx.URL(env.sim.url).port
    await env.sim.start(port=port)


async def _revoke(env: Env) -> None:
    env.sim.revoke_tokens()


async def _rotate_token(env: Env) -> None:
    env.token_generation += 1
    token = f"{SENTINELS['rotated_token']}-{env.token_generation}"
    env.sim.add_token(token, project_id=None)
    await env.token_secret(token)


async def _oversize(env: Env) -> None:
    job_id = env.jobs["big"]["big-0"]
    env.sim.set_status(job_id, STEADY, description="x" * (MAX_BODY * 2))


async def _shrink(env: Env) -> None:
    job_id = env.jobs["big"]["big-0"]
    env.sim.set_status(job_id, STEADY, description="small again")


async def _tls_without_ca(env: Env) -> None:
    await env.tls_secret(with_ca=False)


async def _tls_with_ca(env: Env) -> None:
    await env.tls_secret(with_ca=True)


ALL_SIM = ("token", "pwd", "aksk", "big")


@dataclass(frozen=True)
class Case:
    name: str
    fault: str  # what is injected (for the table)
    groups: tuple[str, ...]  # the jobs that must show it
    reason: str | None  # Synced reason while the fault is on; None: stays True
    code: str | None  # regex the Synced message must match (the API code), None: no code
    request_id: bool  # the message names the service's request ID
    backoff: str | None  # the backoff cause that must rise, None: no backoff expected
    apply: Action
    clear: Action = _reset_faults
    kept: str = "yes"  # what of the last good status is kept (for the table)
    why: str = ""
    phase: str | None = None  # expected phase while the fault is on (None: unchanged)
    every: bool = True  # every job of the groups shows it (False: at least one, others Synced)


CASES: tuple[Case, ...] = (
    Case(
        "throttling 429", "429 APIG.0308 on every call", ALL_SIM, "Throttled", r"APIG\.0308",
        True, "throttled", faults(throttle_ratio=1.0),
        why="gateway throttling: back off with jitter, retry, then report",
    ),
    Case(
        "throttling 429 + Retry-After", "429 APIG.0308, Retry-After: 1", ALL_SIM, "Throttled",
        r"APIG\.0308", True, "throttled", faults(throttle_ratio=1.0, retry_after=1.0),
        why="Retry-After is honoured (capped by --backoff-max, 1s here)",
    ),
    Case(
        "operation too frequent", "400 DRS.M01503 on every call", ALL_SIM, "Throttled",
        r"DRS\.M01503", True, "throttled", faults(busy_ratio=1.0),
        why="the service's own throttling code is throttling, not a bad request",
    ),
    Case(
        "another operation in progress", "202 DRS.M01504 on every call", ALL_SIM, "Throttled",
        r"DRS\.M01504", True, "throttled", faults(in_progress_ratio=1.0),
        why="a 2xx carrying an error code is not a result",
    ),
    Case(
        "5xx burst", "500 DRS.M00500 / 503 APIG.0202", ALL_SIM, "ApiError",
        r"DRS\.M00500|APIG\.0202", True, "apierror", faults(server_error_ratio=1.0),
        why="service trouble: back off, keep the last good status",
    ),
    Case(
        "timeout", f"answers slower than --request-timeout ({REQUEST_TIMEOUT:g}s)", ALL_SIM,
        "Unreachable", r"timed out", False, "unreachable",
        faults(latency=REQUEST_TIMEOUT + 0.5),
        why="no answer: nothing to quote but the host",
    ),
    Case(
        "slow responses", f"every answer delayed {REQUEST_TIMEOUT / 2:g}s (under the timeout)",
        ALL_SIM, None, None, False, None, faults(latency=REQUEST_TIMEOUT / 2),
        why="slow is not failed",
    ),
    Case(
        "connection refused", "the DRS endpoint stops listening", ALL_SIM, "Unreachable",
        r"connection failed", False, "unreachable", _refuse, _serve_again,
        why="restarted on the same port: the operator reconnects by itself",
    ),
    Case(
        "malformed JSON", "200 with a body that is not JSON", ALL_SIM, "InvalidResponse",
        None, True, "invalidresponse", faults(malformed_ratio=1.0),
        why="a parse error is service trouble, not news about the task",
    ),
    Case(
        "truncated JSON", "200 with the JSON cut halfway", ALL_SIM, "InvalidResponse",
        None, True, "invalidresponse", faults(truncated_ratio=1.0),
        why="as malformed",
    ),
    Case(
        "oversized answer", f"one job's answer over --max-body-bytes ({MAX_BODY})", ("big",),
        "InvalidResponse", r"exceeds 65536 bytes", True, "invalidresponse", _oversize, _shrink,
        why="bodies are read in chunks and refused past the limit",
    ),
    Case(
        "empty results", "200 with results: [] and count 0", ALL_SIM, "NotFound", None, True,
        None, faults(empty_results_ratio=1.0), kept="task fields; phase Deleted",
        phase="Deleted",
        why="an empty answer is how the service says 'not found' (asked alone to be sure)",
    ),
    Case(
        "results missing IDs", "200 that omits half of the jobs (alone: the one)", ("token",),
        "NotFound", None, True, None, faults(drop_ids_ratio=1.0),
        kept="task fields; phase Deleted (omitted jobs only)", phase="Deleted", every=False,
        why="omitted IDs are re-asked alone before being called missing; the others stay Synced",
    ),
    Case(
        "duplicated items", "200 that repeats an item", ALL_SIM, None, None, False, None,
        faults(duplicate_items_ratio=1.0),
        why="the first item for an ID wins",
    ),
    Case(
        "count larger than items", "count inflated by 7", ALL_SIM, None, None, False, None,
        faults(count_inflate=7),
        why="paging stops when a page adds nothing new",
    ),
    Case(
        "token revocation", "every issued and static token revoked (401 APIG.0301)", ("token",),
        "AuthFailed", r"APIG\.0301", True, None, _revoke, _rotate_token,
        kept="yes; password-mode jobs re-login unseen",
        why="static token: reported until the Secret is rotated; IAM token: refreshed once",
    ),
    Case(
        "clock skew", "server clock 1 h ahead (AK/SK date rejected)", ("aksk",), "AuthFailed",
        r"APIG\.0301", True, None, faults(clock_skew=3600.0),
        why="signature refused: reported, no hot retry",
    ),
    Case(
        "TLS without the CA", "self-signed HTTPS endpoint, no caBundle", ("tls",),
        "Unreachable", r"TLS failure", False, "unreachable", _tls_without_ca, _tls_with_ca,
        why="certificate not trusted: no request is sent",
    ),
    Case(
        "TLS with the CA", "self-signed HTTPS endpoint, caBundle in the Secret", ("tls",),
        None, None, False, None, _tls_with_ca, _tls_with_ca,
        why="the Secret's caBundle is trusted for that connection only",
    ),
)  # fmt: skip


@dataclass
class Outcome:
    case: Case
    synced: str  # "False <reason>" / "True"
    code: str  # the code(s) or cause the message names, "-" when none
    request_id: str
    backoff: str
    kept: str
    converged: str
    message: str = ""  # one example Synced message (not in the table: request IDs vary)
    calls_per_second: float = 0.0


async def run_case(env: Env, case: Case) -> Outcome:
    members = env.names(case.groups)
    before = {name: await env.cluster.get_drsjob(name) for name in members}
    backoffs_before = metric_values(await scrape(env.proc), "drs_operator_backoffs_total")
    calls_before, started = _calls(env, case.groups), time.monotonic()
    pid = env.proc.pid

    await case.apply(env)
    # A task moves on while the fault is on: convergence must bring the news.
    mover_group, mover_id = next(iter(members.values()))
    env.sim_of(mover_group).set_status(mover_id, OTHER)

    messages: dict[str, str] = {}
    if case.reason is not None:

        async def shows_fault() -> bool:
            messages.clear()
            for name in members:
                job = await env.cluster.get_drsjob(name)
                synced = condition(job, "Synced")
                if not case.every and synced.get("status") == "True":
                    continue
                assert synced.get("status") == "False", f"{name}: {synced}"
                assert synced.get("reason") == case.reason, f"{name}: {synced}"
                messages[name] = str(synced.get("message"))
            return bool(messages)

        await eventually(shows_fault, timeout=FAULT_TIMEOUT, interval=0.2, message=case.name)
        for name, message in messages.items():
            if case.code:
                assert re.search(case.code, message), f"{case.name}: {name}: {message}"
            if case.request_id:
                assert REQUEST_ID_RE.search(message), f"{case.name}: {name}: {message}"
            job = await env.cluster.get_drsjob(name)
            status, old = (job or {}).get("status") or {}, (before[name] or {}).get("status") or {}
            # The last good task fields are kept (the mover's news cannot get through).
            for key in ("taskStatus", "jobName", "sourceEndpoint", "targetEndpoint"):
                assert status.get(key) == old.get(key), f"{case.name}: {name}: {key} changed"
            if case.phase is not None:
                assert status.get("phase") == case.phase, f"{case.name}: {name}"
            else:
                assert status.get("phase") == old.get("phase"), f"{case.name}: {name}: phase"
                assert condition(job, "Ready") == condition(before[name], "Ready"), case.name
    else:
        await _hold_synced(env, members, seconds=HOLD)
    elapsed = time.monotonic() - started
    calls = _calls(env, case.groups) - calls_before
    backoffs_after = metric_values(await scrape(env.proc), "drs_operator_backoffs_total")
    if case.backoff is not None:
        label = f'cause="{case.backoff}"'
        assert backoffs_after.get(label, 0) > backoffs_before.get(label, 0), (
            f"{case.name}: no backoff ({backoffs_after})"
        )

    await case.clear(env)
    await converged(env)
    assert env.proc.returncode is None and env.proc.pid == pid, f"{case.name}: operator died"
    return Outcome(
        case=case,
        synced=f"False {case.reason}" if case.reason else "True (no fault visible)",
        code=case.code.replace("\\", "") if case.code else "-",
        request_id="yes" if case.request_id else "-",
        backoff=case.backoff or "-",
        kept=case.kept if case.reason else "n/a",
        converged="yes",
        message=next(iter(messages.values()), ""),
        calls_per_second=calls / elapsed if elapsed else 0.0,
    )


def _calls(env: Env, groups: tuple[str, ...]) -> int:
    sims = {id(env.sim_of(g)): env.sim_of(g) for g in groups}
    return sum(s.stats.batch_detail_calls for s in sims.values())


async def _hold_synced(env: Env, members: Mapping[str, Any], *, seconds: float) -> None:
    """The fault is tolerated: every job stays Synced True for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in members:
            synced = condition(await env.cluster.get_drsjob(name), "Synced")
            assert synced.get("status") == "True", f"{name}: {synced}"
        await asyncio.sleep(0.25)


# -- the document --------------------------------------------------------------------------------

HEADER = """\
# Reliability: the DRS fault matrix

Generated by `tests/e2e/test_faults.py` from its run (do not edit by hand:
`DRS_REGENERATE_DOCS=1 pytest tests/e2e/test_faults.py` rewrites it, and the
test fails when the committed file differs from what the run produces).

One operator process serves every case; faults are switched at run time in
the DRS simulator. For each case the test checked that the operator process
stayed up (same PID), that `Synced` showed the reason below on every affected
DrsJob (with the API's code and `X-Request-Id` where the service sent an
answer), that the last good task fields were kept, that the connection backed
off (the `drs_operator_backoffs_total` cause below rose), and that after the
fault was cleared every DrsJob converged to the simulator's current state —
including a task that changed status while the fault was on — without a
restart.

"""

COLUMNS = (
    "case", "fault injected", "groups", "Synced during the fault", "message names",
    "request ID", "last good status kept", "backoff cause", "operator up", "converged", "why",
)  # fmt: skip

FOOTER = """
Groups: `token` (ready IAM token, 4 jobs in one batch), `pwd` (IAM password
login), `aksk` (AK/SK signing), `big` (its own project), `tls` (a second
simulator over HTTPS with a self-signed certificate; "cleared" means the
Secret gained `caBundle`). Token revocation is cleared by rotating the token
Secret; the password-mode job gets a new IAM token by itself.

Kubernetes-side faults (API server restarts, dropped watches, 409/422 on
status patches, deletion in flight, Secret rotation and deletion, bursts) are
covered by `tests/e2e/test_kube_faults.py`; restarts and SIGTERM by
`tests/e2e/test_restart_shutdown.py`; secret hygiene over this whole run by
`tests/e2e/test_secret_hygiene.py`; hostile input by
`tests/test_hostile_input.py` and `tests/test_cli_errors.py`.
"""


def render(outcomes: list[Outcome]) -> str:
    lines = [HEADER, "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for o in outcomes:
        row = (
            o.case.name, o.case.fault, ", ".join(o.case.groups), o.synced, o.code,
            o.request_id, o.kept, o.backoff, "yes (same PID)", o.converged, o.case.why,
        )  # fmt: skip
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n" + FOOTER


def check_doc(text: str) -> None:
    if os.environ.get(REGENERATE_ENV):
        DOC.write_text(text, encoding="utf-8")
        return
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert committed == text, (
        f"{DOC} is not what the fault matrix produces; rerun with {REGENERATE_ENV}=1 and commit it"
    )


# -- the test ------------------------------------------------------------------------------------


@pytest.mark.drs_side
async def test_fault_matrix(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory, tmp_path: Path
) -> None:
    env = await build_env(cluster, simulator, operator_process, tmp_path, *MATRIX_ARGS)
    outcomes: list[Outcome] = []
    try:
        for case in CASES:
            outcomes.append(await run_case(env, case))
        async with httpx.AsyncClient(timeout=5) as http:
            health = await http.get(env.proc.health_url + "/healthz")
        assert health.status_code == 200, health.text
        metrics = await scrape(env.proc)
        # Throttling answers were counted per API code.
        throttled = metric_values(metrics, "drs_operator_throttled_total")
        for code in ("APIG.0308", "DRS.M01503", "DRS.M01504"):
            assert throttled.get(f'code="{code}"', 0) > 0, throttled
        # The password-mode job re-logged in after the revocation.
        refreshes = metric_values(metrics, "drs_operator_token_refreshes_total")
        assert sum(refreshes.values()) >= 2, refreshes
        await assert_no_sentinels(
            cluster, env.proc, metrics_text=metrics, sims=[env.sim, env.tls_sim]
        )
    finally:
        await env.tls_sim.stop()
    assert env.proc.returncode is None
    assert await env.proc.stop() == 0
    check_doc(render(outcomes))
