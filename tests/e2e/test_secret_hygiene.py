"""Secret hygiene: no credential and no secret field of a DRS answer leaks anywhere.

Every credential field gets a distinct sentinel value (:data:`SENTINELS`), and
every simulated DRS answer carries secret fields (``db_password``,
``ssl_cert_key``, ``ssl_cert_password``, ``ssl_cert_check_sum``,
``kerberos``) holding the simulator's marker. :func:`assert_no_sentinels`
then searches, raw and base64-encoded, every DrsJob, every Event, the
operator's whole output at DEBUG level (tracebacks and exception texts
included) and its metrics.

The full sweep runs at the end of the fault matrix
(:func:`tests.e2e.test_faults.test_fault_matrix`: all fault cases, all auth
modes, one debug-level operator process). This module adds:

- a short run of its own with JSON logs, auth failures (wrong password, a
  revoked token, a bad signature), a Secret rotation and a deleted task, so
  the error paths' texts are covered in the other log format too (including
  the per-job lines with their fields, the start-up and the shutdown line);
- redaction by construction: the client, auth and error objects of every
  auth mode, driven through the same faults in-process with the operator's
  logging at DEBUG, never put a secret into a log record, an exception text
  or a ``repr``; and the HTTP libraries (whose DEBUG traces carry raw
  headers) stay capped at WARNING whatever the level.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from drs_operator.domain.credentials import parse_credentials
from drs_operator.drs.auth import build_auth
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import DrsError
from drs_operator.engine import logs
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator

from .conftest import Cluster, OperatorFactory, OperatorProcess, eventually

pytestmark = pytest.mark.e2e

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

#: One distinct, recognisable value per credential field (valid for each field).
SENTINELS: dict[str, str] = {
    "token": "SNTLtok-0b3c5e7a91d2",
    "tls_token": "SNTLtlstok-5a7e90c3b1",
    "rotated_token": "SNTLrot-8d4f2a6c0e",
    "username": "SNTLuser-c4e6a8",
    "password": "SNTLpass-2f4b6d8e0a1c",
    "domain": "SNTLdom-7b9d1f3a",
    "access_key": "SNTLAK9E7C5A3B1D",
    "secret_key": "SNTLsk-6e8a0c2e4b6d8f0a",
    "security_token": "SNTLst-1a3c5e7b9d0f2b4d",
}


def accept_sentinels(sim: Simulator, *, security_token: bool = True) -> None:
    """Make ``sim`` accept the sentinel token, IAM user and access key (any project)."""
    sim.add_token(SENTINELS["token"], project_id=None)
    sim.add_user(
        name=SENTINELS["username"],
        password=SENTINELS["password"],
        domain=SENTINELS["domain"],
        project_id=PROJECT,
    )
    sim.add_access_key(
        access_key=SENTINELS["access_key"],
        secret_key=SENTINELS["secret_key"],
        security_token=SENTINELS["security_token"] if security_token else None,
    )


#: Identity, not secret: may be named (e.g. "user X was refused"); still checked in metrics.
IDENTITY_KEYS = frozenset({"username", "domain", "access_key"})
SECRET_FIELDS = frozenset(
    {"db_password", "ssl_cert_key", "ssl_cert_password", "ssl_cert_check_sum", "kerberos"}
)


def _walk_secret_values(value: Any, *, inside: bool = False) -> Iterable[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk_secret_values(item, inside=inside or key in SECRET_FIELDS)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_secret_values(item, inside=inside)
    elif inside and isinstance(value, str) and len(value) >= 6:
        yield value


def simulator_secrets(*sims: Simulator) -> set[str]:
    """The secret field values of every simulated job, and every IAM token it issued."""
    found = {SECRET_MARKER}
    for sim in sims:
        for job_id in sim.job_ids():
            try:
                found.update(_walk_secret_values(sim.job(job_id)))
            except KeyError:  # deleted meanwhile
                continue
        found.update(getattr(sim, "_tokens", {}).keys())  # issued tokens too (test-only peek)
    return found


def needles(extra: Iterable[str] = (), *, identities: bool = False) -> dict[str, str]:
    """``{form: label}``: each secret raw and base64-encoded (as in a Secret's data)."""
    values = {v: k for k, v in SENTINELS.items() if identities or k not in IDENTITY_KEYS}
    values.update({v: "simulator secret" for v in extra})
    forms: dict[str, str] = {}
    for value, label in values.items():
        forms[value] = label
        forms[base64.b64encode(value.encode()).decode()] = f"{label} (base64)"
    return forms


def find_leaks(text: str, forms: Mapping[str, str]) -> list[str]:
    return sorted({f"{label}: {value!r}" for value, label in forms.items() if value in text})


async def assert_no_sentinels(
    cluster: Cluster,
    proc: OperatorProcess,
    *,
    metrics_text: str,
    sims: Iterable[Simulator] = (),
) -> None:
    """No secret in any DrsJob, Event, log line (all levels) or metric."""
    extra = simulator_secrets(*sims)
    forms = needles(extra)
    places = {
        "DrsJobs": json.dumps(await cluster.list_drsjobs()),
        "Events": json.dumps(await cluster.list_events()),
        "operator output": proc.log_text(),
    }
    leaks = {where: find_leaks(text, forms) for where, text in places.items()}
    leaks["metrics"] = find_leaks(metrics_text, needles(extra, identities=True))
    assert not any(leaks.values()), f"secrets leaked: {leaks}"
    assert "DEBUG" in places["operator output"] or '"debug"' in places["operator output"], (
        "the operator did not log at debug level: the sweep would prove little"
    )
    # The lines for the person on call are in the sweep: the start-up line (API server,
    # settings) and the per-job lines with their fields (jobId=... / "jobId": ...).
    assert "started: Kubernetes API" in places["operator output"], "no start-up line swept"
    assert "jobId" in places["operator output"], "no per-job log line swept"


# -- redaction by construction (in-process, every logger at DEBUG) ---------------------------------


@pytest.fixture
async def sim() -> Any:
    simulator = Simulator(seed=11)
    accept_sentinels(simulator)
    await simulator.start()
    yield simulator
    await simulator.stop()


def _secret_values(sim: Simulator, mode: str, *, wrong: bool = False) -> dict[str, str]:
    base = {"endpoint": sim.url, "iamEndpoint": sim.url, "projectId": PROJECT}
    if mode == "token":
        return {**base, "token": SENTINELS["token"] + ("x" if wrong else "")}
    if mode == "password":
        password = SENTINELS["password"] + ("x" if wrong else "")
        return {
            **base,
            "username": SENTINELS["username"],
            "password": password,
            "domain": SENTINELS["domain"],
        }
    secret = SENTINELS["secret_key"] + ("x" if wrong else "")
    return {
        **base,
        "accessKey": SENTINELS["access_key"],
        "secretKey": secret,
        "securityToken": SENTINELS["security_token"],
    }


FAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("none", {}),
    ("throttled", {"throttle_ratio": 1.0}),
    ("server error", {"server_error_ratio": 1.0}),
    ("malformed", {"malformed_ratio": 1.0}),
    ("truncated", {"truncated_ratio": 1.0}),
    ("clock skew", {"clock_skew": 3600.0}),
)


@pytest.mark.parametrize("mode", ["token", "password", "aksk"])
async def test_client_and_auth_never_log_or_raise_secrets(
    sim: Simulator, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator's logging at DEBUG, every fault, right and wrong credentials.

    httpx/httpcore stay capped at WARNING as :func:`drs_operator.engine.logs.configure`
    sets them (at DEBUG httpcore traces raw headers, e.g. IAM's X-Subject-Token:
    the cap is what keeps them out, see the next test).
    """
    caplog.set_level(logging.DEBUG)
    for name in logs.QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    ids = [sim.add_job(project_id=PROJECT) for _ in range(3)]
    texts: list[str] = []
    try:
        for wrong in (False, True):
            credentials = parse_credentials(_secret_values(sim, mode, wrong=wrong), secret_name="s")
            texts.append(repr(credentials))
            for fault, values in FAULTS:
                sim.faults.reset()
                sim.faults.update(values)
                import httpx

                async with httpx.AsyncClient() as iam_http:
                    auth = build_auth(credentials, http=iam_http)
                    texts.append(repr(auth))
                    async with DrsClient(
                        endpoint=sim.url, project_id=PROJECT, auth=auth, timeout=5
                    ) as client:
                        texts.append(repr(client))
                        try:
                            result = await client.batch_detail(ids)
                            texts.append(repr(result))  # models hold no secret fields
                        except DrsError as exc:
                            texts.extend([str(exc), repr(exc), exc.describe(), fault])
    finally:
        sim.faults.reset()
        for name in logs.QUIET:
            logging.getLogger(name).setLevel(logging.NOTSET)
    records = [r.getMessage() for r in caplog.records]
    records += [repr(r.args) for r in caplog.records]
    forms = needles(simulator_secrets(sim))
    assert records, "nothing was logged: the test would prove nothing"
    assert find_leaks("\n".join(records), forms) == []
    assert find_leaks("\n".join(texts), forms) == []


def test_http_libraries_are_capped_at_warning_even_at_debug() -> None:
    """The operator's logging setup keeps httpx/httpcore (headers) quiet by construction."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    try:
        logs.configure(level="debug", fmt="json")
        for name in logs.QUIET:
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in logs.QUIET:
            logging.getLogger(name).setLevel(logging.NOTSET)


# -- a short operator run with JSON logs and the auth error paths ----------------------------------


async def test_operator_run_leaks_nothing_on_auth_errors_and_rotation(
    cluster: Cluster, simulator: Simulator, operator_process: OperatorFactory, tmp_path: Path
) -> None:
    sim = simulator
    accept_sentinels(sim, security_token=False)
    modes = {"tok": "token", "pwd": "password", "ak": "aksk"}
    ids = {}
    for name, mode in modes.items():
        values = _secret_values(sim, mode, wrong=True)  # refused first
        values.pop("securityToken", None)
        await cluster.create_secret(f"s-{name}", values)
        ids[name] = sim.add_job(project_id=PROJECT)
        spec = {"jobId": ids[name], "credentialsRef": {"name": f"s-{name}"}}
        await cluster.create_drsjob(name, spec)
    proc = await operator_process("--log-format", "json")

    async def synced(want: str, reason: str | None = None) -> bool:
        for name in modes:
            for item in (
                ((await cluster.get_drsjob(name)) or {}).get("status", {}).get("conditions", [])
            ):
                if item["type"] == "Synced":
                    assert item["status"] == want, (name, item)
                    assert reason is None or item["reason"] == reason, (name, item)
                    break
            else:
                raise AssertionError(f"{name}: no Synced yet")
        return True

    await eventually(lambda: synced("False", "AuthFailed"), timeout=20)
    for name, mode in modes.items():  # rotation to working credentials
        values = _secret_values(sim, mode)
        values.pop("securityToken", None)
        await cluster.create_secret(f"s-{name}", values)
    await eventually(lambda: synced("True"), timeout=20)
    sim.revoke_tokens()  # the IAM token of the password job and the static token
    sim.delete_job(ids["ak"])  # answered DRS.M05004 from now on

    async def reported() -> bool:
        tok = (await cluster.get_drsjob("tok")) or {}
        ak = (await cluster.get_drsjob("ak")) or {}
        return (
            tok.get("status", {}).get("phase") is not None
            and any(
                c["type"] == "Synced" and c["reason"] == "AuthFailed"
                for c in tok["status"]["conditions"]
            )
            and ak.get("status", {}).get("phase") == "Deleted"
        )

    await eventually(reported, timeout=20)
    import httpx

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(proc.metrics_url)).text
    assert await proc.stop() == 0
    await assert_no_sentinels(cluster, proc, metrics_text=metrics, sims=[sim])
    assert '"level": "debug"' in proc.log_text()
    records = [json.loads(line) for line in proc.log_text().splitlines() if line.strip()]
    refused = [r for r in records if r.get("reason") == "AuthFailed" and r.get("jobId")]
    assert {r["name"] for r in refused} >= set(modes), "the refused credentials' lines"
    assert any("drs-operator stopped after" in r["message"] for r in records)
