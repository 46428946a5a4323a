"""Every ``drs-operator`` command rejects bad flags and files with one clear line.

Each case runs the real command in a subprocess (a bad case that were
accepted would start a server: the timeout catches that) and checks: a
non-zero exit (2 for bad usage or input, 1 for a runtime failure), exactly
one line on stderr that starts with the command's name and names the
problem, nothing on stdout, no traceback, and no credential value echoed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

TOKEN = "SNTLcli-token-4e6a8c0b"  # passed to query: must never be echoed
JOB_ID = "a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4jb21"
TIMEOUT = 20.0
QUERY = ("--endpoint", "http://127.0.0.1:9", "--project-id", "p1", "--token", TOKEN)


# A cluster whose API server does not answer (nothing listens on port 9).
DEAD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {token: SNTLcli-token-4e6a8c0b}}]
contexts: [{name: dead, context: {cluster: dead, user: u, namespace: team-a}}]
current-context: dead
"""


def files(tmp: Path) -> dict[str, str]:
    garbage = tmp / "garbage.yaml"
    garbage.write_text("{{{ not: [yaml", encoding="utf-8")
    scenario = tmp / "scenario.yaml"
    scenario.write_text("jobs:\n  - status: 12\n    id: nope\n", encoding="utf-8")
    not_pem = tmp / "not.pem"
    not_pem.write_text("not a certificate\n", encoding="utf-8")
    dead = tmp / "dead-kubeconfig"
    dead.write_text(DEAD_KUBECONFIG, encoding="utf-8")
    return {
        "dead": str(dead),
        "missing": str(tmp / "does-not-exist.yaml"),
        "garbage": str(garbage),
        "scenario": str(scenario),
        "not_pem": str(not_pem),
    }


# (argv, expected exit code, fragment of the one stderr line, why)
CASES: list[tuple[list[str], int, str, str]] = [
    (["run", "--batch-size", "0"], 2, "--batch-size", "a setting out of range"),
    (["run", "--cadence-steady", "soon"], 2, "--cadence-steady", "not a duration"),
    (["run", "--log-level", "loud"], 2, "--log-level", "not one of the choices"),
    (["run", "--backoff-initial", "5s", "--backoff-max", "1s"], 2, "--backoff-max",
     "settings that contradict each other"),
    (["run", "--no-such-flag"], 2, "unrecognized arguments", "an unknown flag"),
    (["run", "-n", "Bad_Namespace!"], 2, "namespace", "not a Kubernetes name"),
    (["run", "--kubeconfig", "{missing}"], 2, "kubeconfig", "a kubeconfig that does not exist"),
    (["run", "--kubeconfig", "{garbage}"], 2, "garbage.yaml is not valid YAML",
     "a kubeconfig that is not YAML (an input error: exit 2, as get)"),
    (["run"], 2, "KUBECONFIG names no existing file", "KUBECONFIG names a missing file"),
    (["run", "--kubeconfig", "{dead}", "--metrics-port", "0", "--health-port", "0"], 1,
     "cannot reach the Kubernetes API at http://127.0.0.1:9: connection refused",
     "an API server that does not answer: one line, not kopf's minute of retries"),
    (["simulate", "--port", "abc"], 2, "--port", "a port that is not a number"),
    (["simulate", "--scenario", "{missing}"], 2, "does-not-exist.yaml", "a missing scenario"),
    (["simulate", "--scenario", "{garbage}"], 2, "garbage.yaml", "a scenario that is not YAML"),
    (["simulate", "--scenario", "{scenario}"], 2, "scenario.yaml", "a scenario with bad fields"),
    (["simulate", "--tls-cert", "{not_pem}"], 2, "--tls-key", "a certificate without its key"),
    (["simulate", "--tls-cert", "{not_pem}", "--tls-key", "{not_pem}"], 2, "TLS certificate",
     "a certificate file that is not PEM (the line does not name the file)"),
    (["simulate", "--mixed-missing", "maybe"], 2, "--mixed-missing", "not one of the choices"),
    (["get", "-A", "some-job"], 2, "all namespaces", "a name across all namespaces"),
    (["get", "-o", "yaml"], 2, "--output", "an output format that does not exist"),
    (["get", "--kubeconfig", "{missing}"], 2, "does-not-exist.yaml", "a missing kubeconfig"),
    (["get"], 2, "KUBECONFIG names no existing file", "KUBECONFIG names a missing file"),
    (["query"], 2, "JOB_ID", "no task ID"),
    (["query", "not-a-task-id", *QUERY], 2, "not-a-task-id", "a malformed task ID"),
    (["query", JOB_ID, "--endpoint", "http://127.0.0.1:9"], 2, "project", "no project ID"),
    (["query", JOB_ID, *QUERY, "--ca-bundle", "{missing}"], 2, "does-not-exist.yaml",
     "a CA bundle that does not exist"),
    (["query", JOB_ID, *QUERY, "--ca-bundle", "{not_pem}"], 2, "not.pem",
     "a CA bundle that is not PEM"),
    (["query", JOB_ID, *QUERY, "--timeout", "soon"], 2, "--timeout", "not a number"),
    (["query", JOB_ID, "--endpoint", "ftp://x", "--project-id", "p1", "--token", TOKEN], 2,
     "endpoint", "an endpoint that is not http(s)"),
    (["demo", "--duration", "-1"], 2, "--duration", "a negative duration"),
    (["demo", "--duration", "abc"], 2, "--duration", "not a number"),
    (["demo", "--scenario", "{missing}", "--duration", "1"], 2, "does-not-exist.yaml",
     "a missing scenario"),
    (["frobnicate"], 2, "frobnicate", "an unknown command"),
]  # fmt: skip


async def _run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRS_OPERATOR_")}
    env["KUBECONFIG"] = str(cwd / "no-kubeconfig")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drs_operator", *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(cwd),
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, "", f"still running after {TIMEOUT}s: the bad input was accepted"
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# Refused by argparse or by the settings check before anything starts: run in-process
# (a subprocess costs an interpreter start; these cannot hang).
IN_PROCESS = ("--no-such-flag", "abc", "maybe", "yaml", "frobnicate", "soon", "loud", "0",
              "Bad_Namespace!", "1s", "-1")  # fmt: skip


def _in_process(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    import contextlib
    import io

    from drs_operator import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


async def test_bad_flags_and_files_fail_with_one_clear_line(tmp_path: Path) -> None:
    paths = files(tmp_path)
    limit = asyncio.Semaphore(4)

    async def one(argv: list[str]) -> tuple[int, str, str]:
        argv = [a.format(**paths) for a in argv]
        if argv == ["query"] or (argv[-1] in IN_PROCESS and "--kubeconfig" not in argv):
            return _in_process(argv, tmp_path)
        async with limit:
            return await _run(argv, tmp_path)

    results = await asyncio.gather(*(one(argv) for argv, *_ in CASES))
    problems = []
    for (argv, code, fragment, why), (got, out, err) in zip(CASES, results, strict=True):
        lines = [line for line in err.splitlines() if line.strip()]
        checks = {
            f"exit {code}": got == code,
            "one stderr line": len(lines) == 1,
            "starts with the command": bool(lines) and lines[0].startswith("drs-operator"),
            f"names {fragment!r}": fragment.lower() in err.lower(),
            "nothing on stdout": out.strip() == "",
            "no traceback": "Traceback" not in err,
            "no credential echoed": TOKEN not in err + out,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            problems.append(f"{argv} ({why}): {failed}; exit {got}; stderr {err.strip()[:400]!r}")
    assert not problems, "\n".join(problems)


KNOWN_BAD: list[tuple[list[str], int, str, str]] = [
    (["get", "--kubeconfig", "{garbage}"], 2, "garbage.yaml", "a kubeconfig that is not YAML"),
]


async def test_known_bad_inputs_fail_with_one_clear_line(tmp_path: Path) -> None:
    paths = files(tmp_path)
    for argv, code, fragment, why in KNOWN_BAD:
        got, _out, err = await _run([a.format(**paths) for a in argv], tmp_path)
        assert got == code and len(err.strip().splitlines()) == 1, (why, err)
        assert fragment in err and "Traceback" not in err, (why, err)


@pytest.mark.parametrize("command", ["run", "simulate", "demo", "get", "query"])
def test_help_exits_zero(command: str) -> None:
    """The usage text is the one multi-line output, and only when asked for."""
    from drs_operator import cli

    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--help"])
    assert caught.value.code == 0


async def test_run_and_get_say_the_same_without_any_kubeconfig(tmp_path: Path) -> None:
    """No --kubeconfig, no KUBECONFIG, no ~/.kube/config, not in a pod: one line, exit 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRS_OPERATOR_", "KUBE"))}
    env["HOME"] = str(tmp_path)
    said = []
    for command in ("run", "get"):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drs_operator", command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(tmp_path),
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        assert (process.returncode, out) == (2, b""), (command, err)
        prefix = f"drs-operator {command}: error: "
        assert err.decode().startswith(prefix) and err.count(b"\n") == 1, err
        said.append(err.decode()[len(prefix) :])
    assert said[0] == said[1]
    assert said[0].startswith("no kubeconfig: pass --kubeconfig, set KUBECONFIG or create")
