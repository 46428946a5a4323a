"""The operator process end to end: a cluster, the DRS simulator, ``drs-operator run``.

Every test starts the real operator (``python -m drs_operator run``) with the
harness's fast cadences (in progress 1s, steady 2s, failed 5s, error 1s, no
jitter) against the Kubernetes API emulator (or a real cluster when
``DRS_E2E_KUBECONFIG`` is set) and the DRS simulator on loopback. What is
checked is what a user sees: statuses, conditions and events on the DrsJobs,
the calls the DRS service receives, the operator's log and metrics. Only the
assertions that count status PATCH requests skip on a real cluster (through
the ``cluster.status_patch_count`` fixture method) when the real cluster's audit
log is not at hand (it is for the session's control plane).

Figures the closing note of issue 3 quotes are printed (run with ``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest

from drs_operator.sandbox.simulator import SECRET_MARKER

from .conftest import Cluster, OperatorFactory, eventually, metric_value

pytestmark = pytest.mark.e2e

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REGION = "cn-north-4"
CREDENTIALS = "drs-credentials"  # the operator's default Secret name
BATCH_DETAIL = f"/v3/{PROJECT}/jobs/batch-detail"

STEADY = 2.0  # --cadence-steady in the harness's FAST_ARGS
IN_PROGRESS = 1.0  # --cadence-in-progress
CONVERGE = 15.0  # first statuses: process start (imports, kopf login, list) + one pass
SLACK = 2.0  # what a cloud-side change may take beyond one cadence

# Distinct credential values, each planted in a Secret and searched for everywhere afterwards.
TOKEN = "tok-e2e-4f1c9a0b7d2e"
ACCESS_KEY = "AKE2E7QW3RT5YU8IOP1A"
SECRET_KEY = "sk-e2e-9d8c7b6a5f4e3d2c1b0a"
SECURITY_TOKEN = "sts-e2e-6b5a4c3d2e1f0a9b"
USERNAME = "e2e-user"
PASSWORD = "pw-e2e-3e2d1c0b9a8f"
DOMAIN = "e2e-domain"
BAD_TOKEN = "tok-e2e-rejected-77a6b5c4d3"  # a token the service refuses: an error path


# -- helpers ---------------------------------------------------------------------------------------


def secret_data(simulator: Any, mode: str) -> dict[str, str]:
    """Register credentials of one auth mode with the simulator; the Secret's data."""
    base = {
        "endpoint": simulator.url,
        "iamEndpoint": simulator.url,
        "region": REGION,
        "projectId": PROJECT,
    }
    if mode == "token":
        simulator.add_token(TOKEN, project_id=PROJECT)
        return {**base, "token": TOKEN}
    if mode == "aksk":
        simulator.add_access_key(
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, security_token=SECURITY_TOKEN
        )
        return {
            **base,
            "accessKey": ACCESS_KEY,
            "secretKey": SECRET_KEY,
            "securityToken": SECURITY_TOKEN,
        }
    if mode == "password":
        simulator.add_user(name=USERNAME, password=PASSWORD, domain=DOMAIN, project_id=PROJECT)
        return {**base, "username": USERNAME, "password": PASSWORD, "domain": DOMAIN}
    if mode == "bad-token":
        return {**base, "token": BAD_TOKEN}
    raise ValueError(mode)


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for entry in status.get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    raise AssertionError(f"no {kind} condition in {status.get('conditions')!r}")


async def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = await cluster.get_drsjob(name)
    assert obj is not None, f"DrsJob {name} is gone"
    return dict(obj.get("status") or {})


async def wait_synced(
    cluster: Cluster,
    names: Iterable[str],
    *,
    timeout: float = CONVERGE,
    task_status: Mapping[str, str] | None = None,
) -> None:
    """Every named DrsJob is Synced True (and shows the wanted taskStatus, if given)."""
    wanted = list(names)

    async def all_synced() -> bool:
        for name in wanted:
            st = await status_of(cluster, name)
            assert condition(st, "Synced")["status"] == "True", (name, st.get("conditions"))
            if task_status and name in task_status:
                assert st.get("taskStatus") == task_status[name], (name, st.get("taskStatus"))
        return True

    await eventually(all_synced, timeout=timeout, interval=0.1, message="every DrsJob synced")


def batch_calls(simulator: Any, since: float = 0.0) -> list[Any]:
    return [
        r
        for r in simulator.stats.requests
        if r.path.endswith("/jobs/batch-detail") and r.time >= since
    ]


async def resource_versions(cluster: Cluster) -> dict[str, str]:
    return {
        job["metadata"]["name"]: job["metadata"]["resourceVersion"]
        for job in await cluster.list_drsjobs()
    }


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.text


# -- 1. statuses in every auth mode ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "auth_mode"),
    [
        pytest.param("token", "token", id="token: the Secret's token is sent as X-Auth-Token"),
        pytest.param("aksk", "aksk", id="aksk: requests are signed SDK-HMAC-SHA256"),
        pytest.param("password", "token", id="password: an IAM token is obtained, then sent"),
    ],
)
async def test_statuses_appear_in_every_auth_mode(
    cluster: Cluster, simulator: Any, operator_process: Any, mode: str, auth_mode: str
) -> None:
    steady = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    moving = simulator.add_job(status="FULL_TRANSFER_STARTED")
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, mode))
    await cluster.create_drsjob("steady", {"jobId": steady})
    await cluster.create_drsjob("moving", {"jobId": moving})

    proc = await operator_process()
    await wait_synced(
        cluster,
        ["steady", "moving"],
        task_status={"steady": "INCRE_TRANSFER_STARTED", "moving": "FULL_TRANSFER_STARTED"},
    )

    st = await status_of(cluster, "steady")
    assert st["phase"] == "Running"
    assert condition(st, "Synced")["reason"] == "Refreshed"
    assert condition(st, "Ready")["status"] == "True"
    assert condition(st, "Reconciling")["status"] == "False"
    assert condition(st, "Stalled")["status"] == "False"
    assert st["observedGeneration"] == 1
    st = await status_of(cluster, "moving")
    assert st["phase"] == "Running"
    assert condition(st, "Ready")["status"] == "False"
    assert condition(st, "Reconciling")["status"] == "True"
    assert condition(st, "Stalled")["status"] == "False"

    calls = batch_calls(simulator)
    assert calls and all(r.path == BATCH_DETAIL for r in calls)
    assert {r.auth_mode for r in calls} == {auth_mode}
    assert all(r.http_status == 200 for r in calls), [(r.http_status, r.error_code) for r in calls]
    assert (simulator.stats.iam_token_requests > 0) == (mode == "password")
    # kopf writes nothing on DrsJobs or Secrets: no annotations, finalizers, spec writes.
    assert await cluster.non_status_writes() == []
    assert proc.returncode is None


# -- 2. a cloud-side change arrives within one cadence --------------------------------------------


async def test_a_cloud_side_change_reaches_the_status_within_one_cadence(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    await cluster.create_drsjob("sync", {"jobId": job_id})
    await operator_process()
    await wait_synced(cluster, ["sync"], task_status={"sync": "INCRE_TRANSFER_STARTED"})

    simulator.set_status(job_id, "INCRE_TRANSFER_FAILED")
    started = time.monotonic()

    async def arrived() -> bool:
        return (await status_of(cluster, "sync")).get("taskStatus") == "INCRE_TRANSFER_FAILED"

    await eventually(arrived, timeout=STEADY + SLACK + 5, interval=0.05)
    elapsed = time.monotonic() - started
    print(f"\n[e2e] cloud-side change reached the status in {elapsed:.2f}s (cadence {STEADY:g}s)")
    assert elapsed <= STEADY + SLACK

    st = await status_of(cluster, "sync")
    assert st["phase"] == "Failed"
    assert condition(st, "Stalled")["status"] == "True"
    assert condition(st, "Ready")["status"] == "False"
    assert condition(st, "Synced")["status"] == "True"

    async def transition_event() -> bool:
        messages = [e.get("message") or e.get("note") or "" for e in await cluster.list_events()]
        return any("INCRE_TRANSFER_STARTED" in m and "INCRE_TRANSFER_FAILED" in m for m in messages)

    await eventually(transition_event, timeout=5, message="an event with old and new status")


# -- 3. quiet periods write nothing; calls per cycle -----------------------------------------------


async def test_a_quiet_period_writes_nothing_and_batches_are_full(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    # DRS_E2E_QUIET_SECONDS=60 measures a quiet minute (the default keeps the suite fast).
    jobs, batch_size = 25, 10
    window = float(os.environ.get("DRS_E2E_QUIET_SECONDS", "5"))
    ids = [simulator.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(jobs)]
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    names = [f"job-{i:02d}" for i in range(jobs)]
    for name, job_id in zip(names, ids, strict=True):
        await cluster.create_drsjob(name, {"jobId": job_id})
    proc = await operator_process("--batch-size", str(batch_size))
    await wait_synced(cluster, names)
    await asyncio.sleep(STEADY)  # let the first writes and events settle

    versions_before = await resource_versions(cluster)
    writes_before = cluster.status_patch_count() if cluster.counts_requests else 0
    calls_before = simulator.stats.batch_detail_calls
    ids_before = simulator.stats.ids_requested
    started = time.time()
    await asyncio.sleep(window)
    writes = cluster.status_patch_count() - writes_before if cluster.counts_requests else None
    versions_after = await resource_versions(cluster)
    calls = simulator.stats.batch_detail_calls - calls_before
    ids_asked = simulator.stats.ids_requested - ids_before
    window_calls = batch_calls(simulator, since=started)

    cycles = ids_asked / jobs
    per_cycle = calls / cycles if cycles else math.inf
    ideal = math.ceil(jobs / batch_size)
    print(
        f"\n[e2e] quiet window {window:g}s (steady cadence {STEADY:g}s), {jobs} jobs, "
        f"batch size {batch_size}: {calls} batch-detail calls, {ids_asked} IDs "
        f"({cycles:.2f} cycles), {per_cycle:.2f} calls per cycle (ideal {ideal}), "
        f"IDs per call {sorted(len(r.ids) for r in window_calls)}, "
        f"status writes in the window: {writes}"
    )
    assert versions_after == versions_before  # no object changed, on any backend
    assert calls >= ideal * 2  # refreshing went on: at least two cycles in 5 s at 2 s cadence
    assert all(len(r.ids) <= batch_size for r in window_calls)
    assert all(r.http_status == 200 for r in window_calls)
    assert per_cycle <= ideal + 0.5
    text = await scrape(proc.metrics_url)
    assert metric_value(text, "drs_operator_batch_detail_calls_total") >= calls
    if writes is None:
        pytest.skip("status PATCH requests cannot be counted on a real cluster without audit")
    assert writes == 0  # not even a no-op PATCH


# -- 4. a missing task ---------------------------------------------------------------------------


async def test_a_missing_task_is_reported_while_its_batch_mates_resolve(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    ids = [simulator.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(6)]
    ghost = "0000aaaa-1111-2222-3333-44445555jb21"  # never existed
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    names = [f"mate-{i}" for i in range(len(ids))]
    for name, job_id in zip(names, ids, strict=True):
        await cluster.create_drsjob(name, {"jobId": job_id})
    await cluster.create_drsjob("ghost", {"jobId": ghost})
    await operator_process()

    async def ghost_reported() -> bool:
        st = await status_of(cluster, "ghost")
        synced = condition(st, "Synced")
        assert (synced["status"], synced["reason"]) == ("False", "NotFound"), synced
        assert condition(st, "Stalled")["status"] == "True"
        return True

    await eventually(ghost_reported, timeout=CONVERGE)
    await wait_synced(cluster, names, task_status=dict.fromkeys(names, "INCRE_TRANSFER_STARTED"))
    synced = condition(await status_of(cluster, "ghost"), "Synced")
    assert ghost in synced["message"] or "DRS.M00289" in synced["message"], synced
    # The service was asked about the ghost in a batch with others, and the others resolved.
    assert any(ghost in r.ids and len(r.ids) > 1 for r in batch_calls(simulator))


# -- 5. throttling ---------------------------------------------------------------------------------


@pytest.mark.drs_side
async def test_throttling_slows_the_calls_and_the_operator_recovers(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    # One ID per call and in-progress tasks (1 s cadence): the calls are many, so the
    # operator's own rate limit (5/s per connection) sets the unthrottled pace.
    jobs, window = 10, 3.0
    ids = [simulator.add_job(status="FULL_TRANSFER_STARTED") for _ in range(jobs)]
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    names = [f"busy-{i}" for i in range(jobs)]
    for name, job_id in zip(names, ids, strict=True):
        await cluster.create_drsjob(name, {"jobId": job_id})
    proc = await operator_process("--batch-size", "1")
    await wait_synced(cluster, names)

    start = time.time()
    await asyncio.sleep(window)
    normal_rate = len(batch_calls(simulator, since=start)) / window

    simulator.faults.throttle_ratio = 1.0
    await asyncio.sleep(1.0)  # the backoff builds up
    start = time.time()
    await asyncio.sleep(window)
    throttled = batch_calls(simulator, since=start)
    throttled_rate = len(throttled) / window
    assert throttled and all(r.http_status == 429 for r in throttled)

    async def reported_throttled() -> bool:
        for name in names:
            synced = condition(await status_of(cluster, name), "Synced")
            if (synced["status"], synced["reason"]) == ("False", "Throttled"):
                return True
        return False

    await eventually(reported_throttled, timeout=5, message="a job reported Throttled")
    simulator.faults.throttle_ratio = 0.0
    recovery = time.monotonic()
    await wait_synced(cluster, names, timeout=10)
    recovered_in = time.monotonic() - recovery
    print(
        f"\n[e2e] batch-detail calls per second: {normal_rate:.1f} unthrottled, "
        f"{throttled_rate:.1f} while every call was throttled; all {jobs} jobs Synced again "
        f"{recovered_in:.1f}s after the throttling stopped; throttled calls at "
        f"{[round(r.time - start, 2) for r in throttled]}s of the window"
    )
    # Each backoff window (1-2 s with --backoff-max 2s) ends with one probe call, not a
    # burst of every waiting batch, so the throttled rate is about one call per window.
    assert throttled_rate <= 0.5 * normal_rate
    text = await scrape(proc.metrics_url)
    assert metric_value(text, "drs_operator_throttled_total") > 0
    assert metric_value(text, "drs_operator_backoffs_total") > 0
    assert proc.returncode is None


# -- 6. a revoked IAM token ------------------------------------------------------------------------


async def test_a_revoked_iam_token_is_refreshed(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "password"))
    await cluster.create_drsjob("iam", {"jobId": job_id})
    await operator_process()
    await wait_synced(cluster, ["iam"], task_status={"iam": "INCRE_TRANSFER_STARTED"})
    logins = simulator.stats.iam_token_requests
    assert logins >= 1

    simulator.revoke_tokens()
    simulator.set_status(job_id, "PAUSING")

    async def arrived() -> bool:
        st = await status_of(cluster, "iam")
        return st.get("taskStatus") == "PAUSING" and condition(st, "Synced")["status"] == "True"

    await eventually(arrived, timeout=3 * STEADY + SLACK, message="PAUSING after revocation")
    assert simulator.stats.iam_token_requests > logins
    assert (await status_of(cluster, "iam"))["phase"] == "Paused"
    revoked = [r for r in batch_calls(simulator) if r.error_code == "APIG.0301"]
    assert revoked, "the old token was used once and refused"


# -- 7. no secret anywhere -------------------------------------------------------------------------


async def test_no_secret_reaches_objects_events_logs_or_metrics(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    modes = ("token", "aksk", "password", "bad-token")
    for mode in modes:
        await cluster.create_secret(f"creds-{mode}", secret_data(simulator, mode))
        for status in ("INCRE_TRANSFER_STARTED", "FULL_TRANSFER_FAILED"):
            job_id = simulator.add_job(status=status)
            assert SECRET_MARKER in json.dumps(simulator.job(job_id))
            await cluster.create_drsjob(
                f"{mode}-{status.lower().replace('_', '-')}",
                {"jobId": job_id, "credentialsRef": {"name": f"creds-{mode}"}},
            )
    proc = await operator_process("--log-level", "debug")
    good = [j["metadata"]["name"] for j in await cluster.list_drsjobs()]
    good = [n for n in good if not n.startswith("bad-token")]
    await wait_synced(cluster, good)

    async def rejected() -> bool:
        for job in await cluster.list_drsjobs():
            if job["metadata"]["name"].startswith("bad-token"):
                synced = condition(job.get("status") or {}, "Synced")
                assert (synced["status"], synced["reason"]) == ("False", "AuthFailed"), synced
        return True

    await eventually(rejected, timeout=CONVERGE)
    await asyncio.sleep(STEADY)  # a few more cycles of logging, including the auth errors

    secrets = {
        "SECRET_MARKER": SECRET_MARKER,
        "token": TOKEN,
        "rejected token": BAD_TOKEN,
        "access key": ACCESS_KEY,
        "secret key": SECRET_KEY,
        "security token": SECURITY_TOKEN,
        "password": PASSWORD,
    }
    places = {
        "DrsJobs": json.dumps(await cluster.list_drsjobs()),
        "events": json.dumps(await cluster.list_events()),
        "log": proc.log_text(),
        "metrics": await scrape(proc.metrics_url),
    }
    assert "DEBUG" in places["log"] or "debug" in places["log"]
    assert "FULL_TRANSFER_FAILED" in places["DrsJobs"]  # the statuses are really there
    leaks = [
        f"{what} in {where}"
        for what, value in secrets.items()
        for where, text in places.items()
        if value in text
    ]
    assert leaks == []


# -- 8. deletion -----------------------------------------------------------------------------------


async def test_deleting_a_drsjob_is_immediate_and_nothing_is_written_to_it(
    cluster: Cluster, simulator: Any, operator_process: Any
) -> None:
    doomed_id = simulator.add_job(status="FULL_TRANSFER_STARTED")
    kept_id = simulator.add_job(status="FULL_TRANSFER_STARTED")
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    await cluster.create_drsjob("doomed", {"jobId": doomed_id})
    await cluster.create_drsjob("kept", {"jobId": kept_id})
    proc = await operator_process()
    await wait_synced(cluster, ["doomed", "kept"])

    await cluster.delete_drsjob("doomed")
    deleted = time.monotonic()

    async def gone() -> bool:
        return await cluster.get_drsjob("doomed") is None

    await eventually(gone, timeout=1.0, interval=0.05, message="the DrsJob gone (no finalizer)")
    print(f"\n[e2e] a deleted DrsJob was gone after {time.monotonic() - deleted:.2f}s")
    await asyncio.sleep(0.5)  # a write already in flight when the delete landed may finish
    writes_to_doomed = cluster.status_patch_count("doomed") if cluster.counts_requests else 0

    # Both tasks change: the kept one must show it, the deleted one must get no write.
    simulator.set_status(doomed_id, "FULL_TRANSFER_FAILED")
    simulator.set_status(kept_id, "INCRE_TRANSFER_STARTED")
    await wait_synced(
        cluster,
        ["kept"],
        timeout=IN_PROGRESS + SLACK,
        task_status={"kept": "INCRE_TRANSFER_STARTED"},
    )
    await asyncio.sleep(2 * IN_PROGRESS)
    assert await cluster.get_drsjob("doomed") is None
    assert proc.returncode is None
    if cluster.counts_requests:
        assert cluster.status_patch_count("doomed") == writes_to_doomed
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{proc.health_url}/healthz")).status_code == 200
    # The deleted task is no longer asked about.
    assert doomed_id not in {
        i for r in batch_calls(simulator, since=time.time() - 1.5) for i in r.ids
    }


# -- -A, metrics, health ---------------------------------------------------------------------------


async def test_all_namespaces_mode_refreshes_and_serves_metrics(
    cluster: Cluster, simulator: Any, operator_process: OperatorFactory
) -> None:
    job_id = simulator.add_job(status="INCRE_TRANSFER_STARTED")
    await cluster.create_secret(CREDENTIALS, secret_data(simulator, "token"))
    await cluster.create_drsjob("everywhere", {"jobId": job_id})
    proc = await operator_process(scope=("-A",))
    assert "-A" in proc.args and "-n" not in proc.args
    await wait_synced(cluster, ["everywhere"], task_status={"everywhere": "INCRE_TRANSFER_STARTED"})
    text = await scrape(proc.metrics_url)
    assert metric_value(text, "drs_operator_batch_detail_calls_total") >= 1
    assert metric_value(text, "drs_operator_drsjobs", 'phase="Running"') >= 1
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{proc.health_url}/healthz")).status_code == 200
        assert (await http.get(f"{proc.health_url}/readyz")).status_code == 200
    assert await cluster.non_status_writes() == []
    assert proc.returncode is None
