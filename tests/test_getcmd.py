"""``drs-operator get`` against a small fake Kubernetes API on loopback.

The fake serves DrsJob list/get endpoints from an in-memory set of objects (paged with
``limit``/``continue`` like the real server), can be told to answer an error status, and
records each request, so tests check both what was printed and what was asked.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from drs_operator.cli import get as getcmd

TOKEN = "s3cr3t-bearer-token-value"
PREFIX = "/apis/drs.operators.dev/v1alpha1"


@dataclass
class FakeApi:
    objects: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)
    fail: tuple[int, dict[str, Any]] | None = None
    port: int = 0

    def add(
        self, name: str, namespace: str, *, task_status: str = "INCRE_TRANSFER_STARTED"
    ) -> None:
        created = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.objects.append(
            {
                "apiVersion": "drs.operators.dev/v1alpha1",
                "kind": "DrsJob",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
                "spec": {"jobId": "9a470239-2308-4bb5-a6bc-1040402fjb21"},
                "status": {
                    "taskStatus": task_status,
                    "taskType": "FULL_INCR_TRANS",
                    "sourceEndpoint": {"address": "192.168.0.10:3306"},
                    "targetEndpoint": {"address": "10.0.0.20:3306"},
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "Healthy"},
                        {"type": "Synced", "status": "True", "reason": "Refreshed"},
                    ],
                },
            }
        )

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if self.fail is not None:
            return self.fail
        parts = path[len(PREFIX) :].strip("/").split("/") if path.startswith(PREFIX) else []
        if parts == ["drsjobs"]:
            selected = self.objects
        elif len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "drsjobs":
            selected = [o for o in self.objects if o["metadata"]["namespace"] == parts[1]]
        elif len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "drsjobs":
            for obj in self.objects:
                if (obj["metadata"]["namespace"], obj["metadata"]["name"]) == (parts[1], parts[3]):
                    return 200, obj
            return 404, {"kind": "Status", "reason": "NotFound", "code": 404, "message": "nf"}
        else:
            return 404, {"kind": "Status", "reason": "NotFound", "code": 404}
        start = int(query.get("continue", ["0"])[0])
        limit = int(query.get("limit", ["0"])[0]) or len(selected)
        page = selected[start : start + limit]
        more = start + limit < len(selected)
        meta = {"resourceVersion": "1", **({"continue": str(start + limit)} if more else {})}
        return 200, {"kind": "DrsJobList", "apiVersion": "drs.operators.dev/v1alpha1",
                     "metadata": meta, "items": page}  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            fake.requests.append((url.path, query, self.headers.get("Authorization", "")))
            status, body = fake.answer(url.path, query)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def write_kubeconfig(path: Path, port: int, *, namespace: str | None = "data") -> Path:
    context: dict[str, Any] = {"cluster": "fake", "user": "tester"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}},
            {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}},
        ],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [
            {"name": "main", "context": context},
            {"name": "other", "context": {"cluster": "fake", "user": "tester", "namespace": "ops"}},
            {"name": "plain", "context": {"cluster": "fake", "user": "tester"}},
            {"name": "dead", "context": {"cluster": "dead", "user": "tester"}},
        ],
        "current-context": "main",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drs-operator get")
    getcmd.configure(parser)
    return parser.parse_args(argv)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = getcmd.execute(parse(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kubeconfig(tmp_path: Path, api: FakeApi) -> Path:
    return write_kubeconfig(tmp_path / "config", api.port)


@pytest.fixture(autouse=True)
def _no_ambient_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


EXPECTED_TABLE = """\
NAME          STATUS                   READY   SYNCED   SOURCE              TARGET           AGE
billing-dr    FULL_TRANSFER_FAILED     True    True     192.168.0.10:3306   10.0.0.20:3306   10d
orders-sync   INCRE_TRANSFER_STARTED   True    True     192.168.0.10:3306   10.0.0.20:3306   10d
"""


def test_lists_the_context_namespace_and_prints_the_table(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add("orders-sync", "data")
    api.add("billing-dr", "data", task_status="FULL_TRANSFER_FAILED")
    api.add("elsewhere", "ops")
    code, out, err = run(["--kubeconfig", str(kubeconfig)], capsys)
    assert (code, err) == (0, "")
    assert out == EXPECTED_TABLE
    [(path, query, auth)] = api.requests
    assert path == f"{PREFIX}/namespaces/data/drsjobs"
    assert query["limit"] == ["500"]
    assert auth == f"Bearer {TOKEN}", "the kubeconfig's credentials are used"


def test_namespace_flag_overrides_the_context(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add("elsewhere", "ops")
    code, out, _ = run(["--kubeconfig", str(kubeconfig), "-n", "ops"], capsys)
    assert code == 0 and out.splitlines()[1].startswith("elsewhere ")
    assert api.requests[0][0] == f"{PREFIX}/namespaces/ops/drsjobs"


@pytest.mark.parametrize(
    ("context", "namespace"),
    [("other", "ops"), ("plain", "default"), ("main", "data")],
)
def test_context_flag_picks_the_namespace(
    api: FakeApi,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
    context: str,
    namespace: str,
) -> None:
    code, _, err = run(["--kubeconfig", str(kubeconfig), "--context", context], capsys)
    assert code == 0
    assert err == f"No resources found in {namespace} namespace.\n"
    assert api.requests[0][0] == f"{PREFIX}/namespaces/{namespace}/drsjobs"


def test_kubeconfig_from_the_environment(
    api: FakeApi,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    code, _, err = run([], capsys)
    assert (code, err) == (0, "No resources found in data namespace.\n")
    assert len(api.requests) == 1


def test_all_namespaces_wide(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add("orders-sync", "data")
    api.add("aaa", "ops")
    code, out, _ = run(["--kubeconfig", str(kubeconfig), "-A", "-o", "wide"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAMESPACE", "NAME", "STATUS", "READY", "SYNCED", "SOURCE", "TARGET", "AGE",
        "JOB", "ID", "TYPE", "REASON", "DRIFT",
    ]  # fmt: skip
    assert [line.split()[:2] for line in lines[1:]] == [["data", "orders-sync"], ["ops", "aaa"]]
    assert lines[1].split()[-3:] == [
        "9a470239-2308-4bb5-a6bc-1040402fjb21", "FULL_INCR_TRANS", "Refreshed"
    ]  # fmt: skip
    assert api.requests[0][0] == f"{PREFIX}/drsjobs"


def test_pages_through_a_long_list(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(getcmd.PAGE_SIZE + 3):
        api.add(f"job-{i:04d}", "data")
    code, out, _ = run(["--kubeconfig", str(kubeconfig)], capsys)
    assert code == 0
    assert len(out.splitlines()) == 1 + getcmd.PAGE_SIZE + 3
    assert [q.get("continue") for _, q, _ in api.requests] == [None, [str(getcmd.PAGE_SIZE)]]


def test_one_by_name(api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api.add("orders-sync", "data")
    api.add("other", "data")
    code, out, _ = run(["--kubeconfig", str(kubeconfig), "orders-sync"], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "orders-sync"]
    assert api.requests[0][0] == f"{PREFIX}/namespaces/data/drsjobs/orders-sync"


def test_empty_all_namespaces(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--kubeconfig", str(kubeconfig), "-A"], capsys) == (0, "", "No resources found.\n")


@pytest.mark.parametrize(
    ("argv", "status", "body", "expected"),
    [
        (
            ["missing"],
            404,
            {"kind": "Status", "code": 404, "reason": "NotFound"},
            'drsjobs.drs.operators.dev "missing" not found',
        ),
        (
            [],
            404,
            {"kind": "Status", "code": 404, "reason": "NotFound", "message": "404 page not found"},
            'the server doesn\'t have a resource type "drsjobs" (is the CRD installed?)',
        ),
        (
            [],
            403,
            {
                "kind": "Status",
                "code": 403,
                "reason": "Forbidden",
                "message": 'drsjobs.drs.operators.dev is forbidden: User "tester" cannot list '
                'resource "drsjobs" in API group "drs.operators.dev" in the namespace "data"',
            },
            'drsjobs.drs.operators.dev is forbidden: User "tester" cannot list resource "drsjobs"'
            ' in API group "drs.operators.dev" in the namespace "data"',
        ),
        ([], 403, {}, "forbidden: cannot read drsjobs.drs.operators.dev (HTTP 403)"),
        (
            [],
            401,
            {"kind": "Status", "code": 401},
            "Unauthorized: the server rejected the credentials (HTTP 401)",
        ),
        ([], 500, {"message": "etcd down\nmore"}, "the server answered HTTP 500: etcd down"),
    ],
)
def test_api_errors_are_one_line_and_exit_1(
    api: FakeApi,
    kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    body: dict[str, Any],
    expected: str,
) -> None:
    api.fail = (status, body)
    code, out, err = run(["--kubeconfig", str(kubeconfig), *argv], capsys)
    assert (code, out) == (1, "")
    assert err == f"drs-operator get: error: {expected}\n"
    assert TOKEN not in err


def test_unreachable_api_server(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["--kubeconfig", str(kubeconfig), "--context", "dead"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("drs-operator get: error: cannot reach the Kubernetes API at ")
    assert "127.0.0.1:9" in err and err.count("\n") == 1 and TOKEN not in err
    assert api.requests == []


@pytest.mark.parametrize(
    ("argv", "expected", "exit_code"),
    [
        pytest.param(["--kubeconfig", "/nonexistent/kubeconfig"],
                     "kubeconfig /nonexistent/kubeconfig", 2, id="bad-flag-value-is-usage"),
        pytest.param([], "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create "
                     "~/.kube/config", 2, id="nothing-configured-is-input-too"),
    ],
)  # fmt: skip
def test_no_kubeconfig(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str, exit_code: int
) -> None:
    code, out, err = run(argv, capsys)
    assert (code, out) == (exit_code, "")
    assert err.startswith(f"drs-operator get: error: {expected}")
    assert err.count("\n") == 1


def test_unknown_context(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input error (exit 2), like every kubeconfig problem."""
    code, _, err = run(["--kubeconfig", str(kubeconfig), "--context", "nope"], capsys)
    assert code == 2
    assert err.startswith(f"drs-operator get: error: invalid kubeconfig {kubeconfig}: ")
    assert "nope" in err


def test_garbage_kubeconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.write_text("just a string\n")
    code, _, err = run(["--kubeconfig", str(bad)], capsys)
    assert code == 2 and err.startswith("drs-operator get: error: ") and err.count("\n") == 1


def test_name_across_all_namespaces_is_a_usage_error(
    api: FakeApi, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--kubeconfig", str(kubeconfig), "-A", "x"], capsys)
    assert code == 2
    assert "cannot be retrieved by name across all namespaces" in err
    assert api.requests == []


@pytest.mark.parametrize(
    "argv",
    [["-o", "json"], ["-n", "a", "-A"], ["--bogus"], ["a", "b"]],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
