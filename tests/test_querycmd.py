"""``drs-operator query`` against the simulator: exit codes, JSON output, no secrets."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drs_operator.cli import main
from drs_operator.cli.query import ENVIRONMENT
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "query-SECRET-token"
AK, SK = "QUERYAK", "query-SECRET-sk"
USER, PASSWORD, DOMAIN = "bob", "bob-SECRET-pw", "acme"
MISSING = "00000000-0000-0000-0000-00000000jb21"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, _ in ENVIRONMENT.values():
        monkeypatch.delenv(env, raising=False)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(seed=3)
    simulator.add_token(TOKEN, project_id=PROJECT)
    simulator.add_access_key(access_key=AK, secret_key=SK)
    simulator.add_user(name=USER, password=PASSWORD, domain=DOMAIN, project_id=PROJECT)
    async with simulator:
        yield simulator


async def run(*argv: str) -> int:
    # The command runs its own event loop: run it in a thread while the simulator serves here.
    return await asyncio.to_thread(main, ["query", *argv])


def credential_flags(sim: Simulator, mode: str) -> list[str]:
    common = ["--endpoint", sim.url, "--project-id", PROJECT]
    if mode == "token":
        return [*common, "--token", TOKEN]
    if mode == "aksk":
        return [*common, "--access-key", AK, "--secret-key", SK]
    return [
        *common,
        "--iam-endpoint",
        sim.url,
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--domain",
        DOMAIN,
    ]


@pytest.mark.parametrize("mode", ["token", "aksk", "password"])
async def test_query_prints_redacted_json(
    sim: Simulator, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [sim.add_job(status="INCRE_TRANSFER_STARTED") for _ in range(2)]
    sim.mixed_missing = "items200"
    code = await run(*good, MISSING, good[0], *credential_flags(sim, mode))
    out, err = capsys.readouterr()
    assert code == 1, err  # one ID is missing
    data = json.loads(out)
    assert [job["id"] for job in data["jobs"]] == good
    assert data["jobs"][0]["status"] == "INCRE_TRANSFER_STARTED"
    assert data["errors"] == {MISSING: {"code": "DRS.M00289", "message": "The job does not exist."}}
    assert data["missing"] == [MISSING]
    assert data["unanswered"] == []
    assert data["requestId"]
    assert data["count"] == 3
    assert err.startswith(f"drs-operator query: error: 1 of 3 job IDs not found in DRS: {MISSING}")
    for secret in (SECRET_MARKER, TOKEN, SK, PASSWORD, "db_password"):
        assert secret not in out and secret not in err


@pytest.mark.parametrize("mixed", ["error400", "items200"])
async def test_found_jobs_are_printed_and_missing_ones_named(
    sim: Simulator, mixed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """However DRS answers a batch mixing found and missing IDs (one 400 for the whole
    batch by default), every found job is printed and every missing ID is named."""
    found = sim.add_job(status="FULL_TRANSFER_STARTED")
    other = "11111111-2222-3333-4444-55555555jb21"
    sim.mixed_missing = mixed
    code = await run(found, MISSING, other, *credential_flags(sim, "token"))
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 1
    assert [job["id"] for job in data["jobs"]] == [found]
    assert data["missing"] == [MISSING, other]
    line = err.strip()
    assert line.startswith(
        f"drs-operator query: error: 2 of 3 job IDs not found in DRS: {MISSING}, {other} "
        "(DRS.M00289: "
    ), line
    assert "request " in line and err.count("\n") == 1


async def test_query_reads_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job()
    monkeypatch.setenv("DRS_ENDPOINT", sim.url)
    monkeypatch.setenv("DRS_PROJECT_ID", PROJECT)
    monkeypatch.setenv("DRS_TOKEN", TOKEN)
    code = await run(job)
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["jobs"][0]["id"] == job


async def test_flag_wins_over_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job()
    monkeypatch.setenv("DRS_ENDPOINT", sim.url)
    monkeypatch.setenv("DRS_PROJECT_ID", PROJECT)
    monkeypatch.setenv("DRS_TOKEN", "wrong-token")
    assert await run(job, "--token", TOKEN) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("bad-token", "APIG.0301"),
        ("throttled", "APIG.0308"),
        ("not-found", "DRS.M00289"),
    ],
)
async def test_api_errors_exit_1(
    sim: Simulator, setup: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job()
    flags = credential_flags(sim, "token")
    if setup == "bad-token":
        flags[-1] = "other-SECRET-token"
    elif setup == "throttled":
        sim.faults.update({"throttle_ratio": 1.0})
    else:
        job = MISSING
    code = await run(job, *flags)
    out, err = capsys.readouterr()
    assert code == 1
    if setup == "not-found":  # the per-ID outcome is printed, then the line naming the ID
        assert json.loads(out)["missing"] == [MISSING]
    else:
        assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drs-operator query: error: ")
    assert words in lines[0] and "request " in lines[0]
    assert "SECRET" not in err


async def test_unreachable_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = await run(
        MISSING,
        "--endpoint",
        "http://127.0.0.1:9",
        "--project-id",
        PROJECT,
        "--token",
        TOKEN,
        "--timeout",
        "2",
    )
    _, err = capsys.readouterr()
    assert code == 1
    assert "127.0.0.1" in err and TOKEN not in err
    assert err.strip().endswith("connection failed: connection refused"), err


async def test_a_region_that_does_not_exist_says_dns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        """The resolver's answer for a host that does not exist, without the network."""
        if host == "drs.xx-nowhere-9.myhuaweicloud.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    code = await run(MISSING, "--region", "xx-nowhere-9", "--project-id", PROJECT, "--token", TOKEN)
    _, err = capsys.readouterr()
    assert code == 1
    assert "drs.xx-nowhere-9.myhuaweicloud.com" in err and "DNS lookup failed" in err, err
    assert "is 'xx-nowhere-9' a region" in err and TOKEN not in err


BAD_INPUT = [
    (
        ["not-a-job-id", "--region", "ap-southeast-1", "--project-id", PROJECT, "--token", "t"],
        "not a DRS job ID",
        "job ID format",
    ),
    ([MISSING, "--region", "ap-southeast-1", "--token", "t"], "project ID", "no project"),
    (
        [MISSING, "--project-id", PROJECT, "--token", "t"],
        "region or an endpoint",
        "nowhere to send",
    ),
    (
        [MISSING, "--region", "ap-southeast-1", "--project-id", PROJECT],
        "no credentials",
        "no credentials",
    ),
    (
        [MISSING, "--region", "ap-southeast-1", "--project-id", PROJECT, "--access-key", "a"],
        "--access-key given but --secret-key missing",
        "half an AK/SK pair",
    ),
    (
        [MISSING, "--region", "ap-southeast-1", "--project-id", PROJECT, "--token", "a b"],
        "--token (DRS_TOKEN) must be visible ASCII",
        "a token with a space",
    ),
    (
        [MISSING, "--region", "Evil.com/x", "--project-id", PROJECT, "--token", "t"],
        "region",
        "region that would inject a host",
    ),
    (
        [MISSING, "--endpoint", "ftp://x", "--project-id", PROJECT, "--token", "t"],
        "http",
        "endpoint scheme",
    ),
    (
        [
            MISSING,
            "--region",
            "ap-southeast-1",
            "--project-id",
            PROJECT,
            "--token",
            "t",
            "--timeout",
            "0",
        ],
        "--timeout",
        "timeout not positive",
    ),
    (
        [
            MISSING,
            "--region",
            "ap-southeast-1",
            "--project-id",
            PROJECT,
            "--token",
            "t",
            "--ca-bundle",
            "/nonexistent/ca.pem",
        ],
        "--ca-bundle",
        "missing CA file",
    ),
]


@pytest.mark.parametrize(("argv", "words", "reason"), BAD_INPUT, ids=[b[2] for b in BAD_INPUT])
def test_bad_input_exits_2(
    argv: list[str], words: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["query", *argv])
    out, err = capsys.readouterr()
    assert code == 2, reason
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("drs-operator query: error: ")
    assert words in lines[0]
    assert "Secret " not in lines[0] and " key " not in lines[0], "worded for flags, not a Secret"


def test_no_job_ids_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["query", "--token", "t"])
    assert info.value.code == 2


async def test_insecure_warns(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    job = sim.add_job()
    code = await run(job, "--insecure", *credential_flags(sim, "token"))
    _, err = capsys.readouterr()
    assert code == 0
    assert "TLS certificate verification is disabled" in err
