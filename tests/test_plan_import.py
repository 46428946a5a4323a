"""``drs-operator plan`` and ``import`` against the DRS simulator (and the emulator).

The commands run in a thread (they run their own event loop) while the
simulator serves here. Checked: every kind of plan line and its exit code,
the JSON shape, batching (500 DrsJobs in at most 60 calls), the round trip
``import`` then ``plan`` (all in sync), the endpoint policy, credentials read
from the cluster, bad input (one line each, nothing crashes), and no secret
in any output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drs_operator.cli import main
from drs_operator.cli.import_ import names
from drs_operator.drs.parsing import parse_batch_detail
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import SECRET_MARKER, Simulator
from tests.test_querycmd import clean_environment

__all__ = ["clean_environment"]  # autouse: no DRS_* variable of the caller leaks in

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "plan-SECRET-token"
MISSING = "00000000-0000-0000-0000-00000000jb21"
STEADY = "INCRE_TRANSFER_STARTED"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(seed=5)
    simulator.add_token(TOKEN, project_id=PROJECT)
    async with simulator:
        yield simulator


def flags(sim: Simulator) -> list[str]:
    return ["--endpoint", sim.url, "--project-id", PROJECT, "--token", TOKEN]


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def drsjob(name: str, job_id: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": name, "namespace": "data"},
        "spec": {"jobId": job_id, **spec},
    }


def write(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


async def test_every_kind_of_line(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = sim.add_job(status=STEADY, name="same", source_endpoint={"db_port": 3306})
    moved = sim.add_job(status=STEADY, name="moved", source_endpoint={"db_port": 3307})
    plain = sim.add_job(status=STEADY, name="plain")
    write(
        tmp_path / "jobs.yaml",
        drsjob("same", same, expect={"sourceEndpoint": {"port": 3306}}),
        drsjob("moved", moved, expect={"sourceEndpoint": {"port": 3306}, "jobName": "moved"}),
        drsjob("plain", plain),
        drsjob("ghost", MISSING, expect={"jobName": "ghost"}),
        drsjob("bad", "NOT-A-UUID"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.yml").write_text("kind: DrsJob\nspec: [unclosed\n")
    (tmp_path / "notes.txt").write_text("not read: not yaml")

    code = await run("plan", "-f", str(tmp_path), *flags(sim), "--detailed-exitcode")
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert code == 2, out + err
    assert f"= data/same ({same}): in sync" in lines
    assert f"~ data/moved ({moved}): modified" in lines
    assert "    ~ sourceEndpoint.port: 3306 -> 3307" in lines
    assert f"? data/plain ({plain}): not checked" in lines
    assert f"- data/ghost ({MISSING}): not found" in lines
    assert "! data/bad (NOT-A-UUID): invalid" in lines
    assert any(line.strip().startswith(f"{tmp_path}/jobs.yaml#5: spec.jobId:") for line in lines)
    assert f"! {tmp_path}/sub/broken.yml:3: not valid YAML" in out
    assert lines[-1] == (
        "Plan: 5 DrsJobs; 1 in sync, 1 modified, 1 not found, 1 not checked, 2 invalid, 1 skipped."
    )
    for secret in (TOKEN, SECRET_MARKER, "db_password"):
        assert secret not in out + err


@pytest.mark.parametrize(
    ("kinds", "detailed", "code", "reason"),
    [
        (["same"], True, 0, "all in sync"),
        (["same", "plain"], True, 0, "nothing declared counts as in sync"),
        (["same", "moved"], True, 2, "drift"),
        (["ghost"], True, 2, "a missing task"),
        (["same", "moved", "ghost"], False, 0, "without the flag a plan that ran is 0"),
        (["bad"], False, 2, "an invalid manifest is bad input"),
    ],
)
async def test_exit_codes(
    sim: Simulator,
    tmp_path: Path,
    kinds: list[str],
    detailed: bool,
    code: int,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = {
        "same": drsjob("same", sim.add_job(status=STEADY, name="same"), expect={"jobName": "same"}),
        "moved": drsjob("moved", sim.add_job(status=STEADY, name="x"), expect={"jobName": "y"}),
        "plain": drsjob("plain", sim.add_job(status=STEADY)),
        "ghost": drsjob("ghost", MISSING),
        "bad": drsjob("bad", "nope"),
    }
    path = write(tmp_path / "m.yaml", *(docs[k] for k in kinds))
    extra = ["--detailed-exitcode"] if detailed else []
    assert await run("plan", "-f", str(path), *flags(sim), *extra) == code, reason


async def test_an_unreachable_service_is_exit_1_with_one_line_per_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "m.yaml", drsjob("a", MISSING, expect={"jobName": "a"}))
    argv = ["--endpoint", "http://127.0.0.1:9", "--project-id", PROJECT, "--token", TOKEN]
    assert await run("plan", "-f", str(path), *argv, "--timeout", "2") == 1
    out = capsys.readouterr().out
    assert f"! data/a ({MISSING}): error" in out and "connection refused" in out.lower()


async def test_json_shape(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = sim.add_job(status=STEADY, name="moved")
    path = write(tmp_path / "m.yaml", drsjob("m", moved, expect={"jobName": "other"}))
    assert await run("plan", "-f", str(path), *flags(sim), "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"version", "summary", "drsJobs", "problems"}
    assert document["version"] == 1
    assert set(document["summary"]) == {
        "in-sync", "modified", "not-found", "not-checked", "invalid", "error", "skipped"
    }  # fmt: skip
    [job] = document["drsJobs"]
    assert job == {
        "source": f"{path}#1", "namespace": "data", "name": "m", "jobId": moved,
        "result": "modified",
        "differences": [{"field": "jobName", "expected": "other", "observed": "moved"}],
        "errors": [],
    }  # fmt: skip


async def test_500_drsjobs_take_at_most_60_calls(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [sim.add_job(status=STEADY, name=f"job-{i}") for i in range(495)]
    docs = [drsjob(f"job-{i}", job_id, expect={"jobName": f"job-{i}"}) for i, job_id in
            enumerate(ids)]  # fmt: skip
    docs += [drsjob(f"ghost-{i}", f"0000000{i}-0000-0000-0000-00000000jb21") for i in range(5)]
    path = write(tmp_path / "many.yaml", *docs)
    before = sim.stats.batch_detail_calls
    assert await run("plan", "-f", str(path), *flags(sim)) == 0
    calls = sim.stats.batch_detail_calls - before
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "Plan: 500 DrsJobs; 495 in sync, 5 not found."
    assert calls <= 60, calls


async def test_import_then_plan_is_all_in_sync(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [
        sim.add_job(status=STEADY, name="Orders Sync!"),
        sim.add_job(status="FULL_TRANSFER_STARTED", name="orders sync"),  # the same DNS name
        sim.add_job(status="PAUSING", name="payments"),
    ]
    listing = tmp_path / "ids.txt"
    listing.write_text(f"# tasks\n{ids[0]}\n\n{ids[1]}  # busy\n{ids[0]}\n{ids[2]}\n")
    code = await run(
        "import", "--ids-from", str(listing), "-n", "data", "--credentials-ref",
        "drs-credentials", "--expect", "all", *flags(sim),
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert [d["metadata"]["name"] for d in docs] == [
        "orders-sync",
        f"orders-sync-{ids[1][:5]}",
        "payments",
    ]
    assert docs[0]["spec"]["expect"]["phases"] == ["Running"]
    assert docs[2]["spec"]["credentialsRef"] == {"name": "drs-credentials"}
    manifests = write(tmp_path / "imported.yaml", *docs)
    assert await run("plan", "-f", str(manifests), *flags(sim), "--detailed-exitcode") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Plan: 3 DrsJobs; 3 in sync."
    sim.set_status(ids[2], "PAUSING", source_endpoint={"db_port": 1234})
    assert await run("plan", "-f", str(manifests), *flags(sim), "--detailed-exitcode") == 2
    assert "~ sourceEndpoint.port: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("expect", "keys"),
    [
        ("none", None),
        ("identity", {"jobName", "taskType", "jobDirection", "sourceEndpoint", "targetEndpoint"}),
        ("all", {"jobName", "taskType", "jobDirection", "sourceEndpoint", "targetEndpoint",
                 "phases"}),
    ],
)  # fmt: skip
async def test_import_expect_levels(
    sim: Simulator, expect: str, keys: set[str] | None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job(status=STEADY, name="orders")
    assert await run("import", job, "--expect", expect, *flags(sim)) == 0
    [doc] = list(yaml.safe_load_all(capsys.readouterr().out))
    declared = doc["spec"].get("expect")
    assert (set(declared) if declared else None) == keys
    assert "namespace" not in doc["metadata"] and "credentialsRef" not in doc["spec"]


async def test_import_names_missing_and_malformed_ids(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job(status=STEADY, name="kept")
    code = await run("import", job, MISSING, "not-an-id", job, *flags(sim))
    out, err = capsys.readouterr()
    assert code == 1, "a missing task wins over a malformed ID"
    assert [d["spec"]["jobId"] for d in yaml.safe_load_all(out)] == [job]
    assert f"drs-operator import: error: DRS task {MISSING} not found" in err
    assert "drs-operator import: error: not a DRS job ID: 'not-an-id'" in err
    assert await run("import", "garbage", *flags(sim)) == 2


def test_collision_suffixes_do_not_depend_on_the_order_of_answers() -> None:
    items = [{"id": f"{c}0000000-0000-0000-0000-00000000jb21", "name": "Same Name"} for c in "abc"]
    jobs = parse_batch_detail({"results": items}).results
    chosen = names(jobs)
    assert chosen == names(list(jobs)), "the same input, the same names"
    assert list(chosen.values()) == ["same-name", "same-name-b0000", "same-name-c0000"]


async def test_a_foreign_spec_endpoint_is_refused_without_a_request(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sim.add_job(status=STEADY)
    path = write(tmp_path / "m.yaml", drsjob("evil", job, endpoint="http://127.0.0.1:9"))
    code = await run("plan", "-f", str(path), *flags(sim))
    out = capsys.readouterr().out
    assert code == 1
    assert "EndpointNotAllowed: spec.endpoint http://127.0.0.1 is not allowed" in out
    assert "--allowed-endpoint-hosts" in out and "no request was sent" in out


async def test_bad_input_is_one_line_each(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (10 * 2**20 + 1))
    folder = tmp_path / "many"
    folder.mkdir()
    job = sim.add_job(status=STEADY, name="one")
    for i in range(2000):
        write(folder / f"f{i:04d}.yaml", {"apiVersion": "v1", "kind": "ConfigMap"})
    write(folder / "job.yaml", drsjob("one", job, expect={"jobName": "one"}))
    bad = write(tmp_path / "bad.yaml", drsjob("x", job, expect={"password": "hunter2"}), [1, 2])
    code = await run("plan", "-f", str(huge), "-f", str(folder), "-f", str(bad),
                     "-f", str(tmp_path / "absent.yaml"), *flags(sim))  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert f"! {huge}: larger than the 10 MB a file may be" in out
    assert f"! {tmp_path}/absent.yaml: no such file or folder" in out
    assert f"! {bad}#2: not a Kubernetes object (a list)" in out
    assert "spec.expect.password" in out and "hunter2" not in out
    assert "= data/one" in out and "2000 skipped" in out.splitlines()[-1]
    assert "Traceback" not in out + err


async def test_stdin_and_credentials_from_the_cluster(sim: Simulator, tmp_path: Path) -> None:
    """plan -f - --kubeconfig: each DrsJob's Secret is read by name in its namespace."""
    cluster = EmulatedCluster()
    await cluster.start()
    try:
        data = {"endpoint": sim.url, "projectId": PROJECT, "token": TOKEN}
        cluster.create({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "drs-credentials", "namespace": "data"},
                        "data": {k: base64.b64encode(v.encode()).decode()
                                 for k, v in data.items()}})  # fmt: skip
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        job = sim.add_job(status=STEADY, name="orders")
        manifests = yaml.safe_dump_all([
            drsjob("orders", job, expect={"jobName": "orders"}),
            drsjob("other-ns", job, expect={"jobName": "orders"}) | {
                "metadata": {"name": "other-ns", "namespace": "nowhere"}},
        ])  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drs_operator", "plan", "-f", "-", "--kubeconfig",
            str(kubeconfig), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(manifests.encode()), 60)
    finally:
        await cluster.stop()
    text = out.decode()
    assert f"= data/orders ({job}): in sync" in text, text + err.decode()
    assert "Secret nowhere/drs-credentials not found" in text
    assert process.returncode == 1
    assert TOKEN not in text + err.decode()


async def test_import_says_no_answer_rather_than_not_found(
    sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ID DRS left unanswered (asked again, still nothing) is not a missing task:
    before, every ID without a job was reported 'not found'."""
    job = sim.add_job(status=STEADY, name="kept")
    sim.faults.update({"empty_results_ratio": 1.0})
    code = await run("import", job, *flags(sim))
    _, err = capsys.readouterr()
    assert code == 1
    assert f"DRS task {job}: DRS did not answer for it" in err
    assert "not found" not in err


async def test_plan_with_half_a_credential_says_which_half(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret key alone: plan says what query says (it answered 'no credentials')."""
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(drsjob("orders", sim.add_job(status=STEADY))))
    code = await run("plan", "-f", str(path), "--endpoint", sim.url, "--project-id", PROJECT,
                     "--secret-key", "half-SECRET")  # fmt: skip
    out, err = capsys.readouterr()
    assert code != 0
    assert "--secret-key given but --access-key missing" in out + err
    assert "half-SECRET" not in out + err
