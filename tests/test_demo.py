"""``drs-operator demo``: its screen fits the terminal, its summary says what happened.

:func:`render_frame` is checked at 120x40 (the size the demo must fit), wider and
narrower; :class:`Tracker` on histories built by hand (two failures, an early
Ctrl-C, a missing task, a lagging status, a leak). The command's error path leaves
no folder anywhere; a short real run in a pseudo-terminal redraws in place (the
alternate screen, every frame within the terminal), keeps its log folder and prints
a summary computed from the run.
"""

from __future__ import annotations

import os
import re
import select
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drs_operator import __version__, cli
from drs_operator.cli.demo import ENTER_SCREEN, HOME, LEAVE_SCREEN
from drs_operator.cli.demo_view import Counts, Header, Tracker, render_frame
from drs_operator.domain.crd import load_crd
from drs_operator.domain.printing import columns_from_crd

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
COLUMNS = columns_from_crd(load_crd())
HEADER = Header(
    simulator_url="http://127.0.0.1:45011",
    kube_url="http://127.0.0.1:46645",
    namespace="demo",
    log_dir="/home/someone/.local/state/drs-operator/demo/20260102-030405",
    kubeconfig="/home/someone/.local/state/drs-operator/demo/20260102-030405/kubeconfig",
    tasks=12,
    pid=4242,
)
LONG_STATUS = "RELEASE_RESOURCE_COMPLETE"


def drsjob(
    name: str,
    task_status: str | None = "INCRE_TRANSFER_STARTED",
    *,
    phase: str = "Running",
    synced: tuple[str, str] = ("True", "Refreshed"),
    **status: Any,
) -> dict[str, Any]:
    created = (NOW - timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {"type": "Ready", "status": "False" if phase == "Failed" else "True"},
        {"type": "Synced", "status": synced[0], "reason": synced[1]},
        {"type": "Stalled", "status": "True" if phase == "Failed" else "False"},
    ]
    body: dict[str, Any] = {"phase": phase, "conditions": conditions, **status}
    if task_status is not None:
        body["taskStatus"] = task_status
    body.setdefault("sourceEndpoint", {"address": "192.168.255.218:3306"})
    body.setdefault("targetEndpoint", {"address": "192.168.201.152:3306"})
    return {
        "metadata": {"name": name, "namespace": "demo", "creationTimestamp": created},
        "spec": {"jobId": "a2da95a8-3ec3-3dd6-887e-840043e5jb21"},
        "status": body,
    }


def thirteen() -> list[dict[str, Any]]:
    jobs = [drsjob(f"inventory-migration-{i:02d}", LONG_STATUS) for i in range(12)]
    jobs.append(drsjob("ghost-task", None, phase="Deleted", synced=("False", "NotFound")))
    return jobs


def events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "Normal",
            "reason": "TaskStatusChanged",
            "message": f"Task status changed from FULL_TRANSFER_STARTED to {LONG_STATUS} #{i}",
            "involvedObject": {"name": f"inventory-migration-{i % 12:02d}"},
        }
        for i in range(count)
    ]


def frame(width: int, height: int, objects: Sequence[dict[str, Any]] | None = None) -> list[str]:
    return render_frame(
        header=HEADER,
        objects=thirteen() if objects is None else objects,
        events=events(30),
        counts=Counts(calls=42, ids=171, writes=22),
        columns=COLUMNS,
        elapsed=23.4,
        duration=60,
        now=NOW,
        width=width,
        height=height,
    )


def test_a_frame_fits_120_by_40_with_the_header_on_top() -> None:
    lines = frame(120, 40)
    assert len(lines) <= 40 and max(map(len, lines)) <= 120
    assert lines[0].startswith("drs-operator demo · t=23s of 60s")
    text = "\n".join(lines)
    assert "not a kubectl target" in text
    unwrapped = " ".join(text.split())  # long header lines are wrapped, never cut
    assert f"drs-operator get --kubeconfig {HEADER.kubeconfig} -n demo" in unwrapped
    assert HEADER.log_dir in text
    assert "JOB ID" not in text, "-o wide does not fit 120 columns"
    assert all(f"inventory-migration-{i:02d}" in text for i in range(12)) and "ghost-task" in text
    assert "Latest events" in text


def test_wide_columns_only_when_they_fit() -> None:
    wide = frame(220, 60)
    assert any("JOB ID" in line and "REASON" in line for line in wide)
    assert max(map(len, wide)) <= 220


def test_a_small_terminal_keeps_the_header_and_says_what_is_left_out() -> None:
    lines = frame(80, 20)
    assert len(lines) <= 20 and max(map(len, lines)) <= 80
    assert lines[0].startswith("drs-operator demo")
    assert "Read the table" in "\n".join(lines)
    assert any(re.search(r"… \d+ more rows", line) for line in lines)


# -- the summary ---------------------------------------------------------------------------------


def summary(tracker: Tracker, truth: dict[str, str | None], **kwargs: Any) -> str:
    lines = tracker.summary(
        truth=truth,
        counts=Counts(calls=10, ids=40, writes=8),
        leaks=kwargs.get("leaks", []),
        duration=60,
        width=kwargs.get("width", 120),
    )
    assert max(map(len, lines)) <= kwargs.get("width", 120)
    return " ".join(" ".join(lines).split())


def test_the_summary_names_every_task_that_failed_during_the_run() -> None:
    tracker = Tracker()
    before = [drsjob("billing"), drsjob("orders"), drsjob("logs", "INCRE_TRANSFER_FAILED",
              phase="Failed")]  # fmt: skip
    tracker.observe(before, [], 1)
    after = [
        drsjob("billing", "FULL_TRANSFER_FAILED", phase="Failed", errorCode="DRS.M05009",
               failedReason="table dropped"),
        drsjob("orders", "INCRE_TRANSFER_FAILED", phase="Failed"),
        drsjob("logs", "INCRE_TRANSFER_FAILED", phase="Failed"),
    ]  # fmt: skip
    warning = {"type": "Warning", "involvedObject": {"name": "billing"}}
    tracker.observe(after, [warning], 59.8)
    truth: dict[str, str | None] = {
        "billing": "FULL_TRANSFER_FAILED", "orders": "INCRE_TRANSFER_FAILED",
        "logs": "INCRE_TRANSFER_FAILED",
    }  # fmt: skip
    text = summary(tracker, truth)
    assert "billing failed during the run (FULL_TRANSFER_FAILED DRS.M05009: table dropped)" in text
    assert "Ready=False, Stalled=True, and a Warning event was posted" in text
    assert "orders failed during the run (INCRE_TRANSFER_FAILED)" in text
    assert "1 task was failed from the start: logs." in text
    assert "3 of 3 DrsJobs show their task's current DRS status" in text
    assert "No password, key or token" in text
    assert "the failed task" not in text


def test_an_early_stop_claims_nothing_that_did_not_happen() -> None:
    tracker = Tracker()
    tracker.observe([drsjob("billing", "FULL_TRANSFER_STARTED")], [], 6.2)
    text = summary(tracker, {"billing": "FULL_TRANSFER_STARTED"})
    assert text.startswith("What happened (stopped after 6s of 60s)")
    assert "No task failed while the demo watched." in text
    assert "No task changed state while the demo watched." in text
    assert "does not exist" not in text


def test_a_missing_task_a_lagging_status_and_a_leak_are_reported() -> None:
    tracker = Tracker()
    objects = [
        drsjob("ghost", None, phase="Deleted", synced=("False", "NotFound")),
        drsjob("orders", "FULL_TRANSFER_STARTED"),
        drsjob("payments"),
    ]
    tracker.observe(objects, [], 60)
    truth: dict[str, str | None] = {
        "ghost": None, "orders": "FULL_TRANSFER_COMPLETE", "payments": "INCRE_TRANSFER_STARTED",
    }  # fmt: skip
    text = summary(tracker, truth, leaks=["the operator's log"], width=80)
    assert "ghost names a task that does not exist: Synced=False (NotFound); 2 of the 2" in text
    assert "1 of 2 DrsJobs show their task's current DRS status (orders: changed" in text
    assert "A secret was found in: the operator's log. This is a bug." in text


# -- the command -----------------------------------------------------------------------------------


def _tree(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("bad", ["missing", "no-credentials"])
def test_a_bad_scenario_leaves_no_folder_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    state, temp = tmp_path / "state", tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("TMPDIR", str(temp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    scenario = tmp_path / "scenario.yaml"
    if bad == "no-credentials":
        scenario.write_text("jobs: [{status: CREATING}]\n", encoding="utf-8")
    code = cli.main(["demo", "--scenario", str(scenario), "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("drs-operator demo: error: "), err
    assert _tree(state) == [] and _tree(temp) == []


def _run_in_pty(argv: list[str], env: dict[str, str], cols: int, rows: int) -> str:
    import fcntl
    import pty
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, on a terminal of cols x rows
        try:
            os.execvpe(argv[0], argv, env)
        finally:  # never go on running pytest in the child
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                break
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return out.decode("utf-8", errors="replace")


def test_the_demo_redraws_in_place_within_the_terminal_and_keeps_its_log(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    argv = [
        sys.executable,
        "-m",
        "drs_operator",
        "demo",
        "--duration",
        "8",
        "--cluster",
        "emulator",
    ]
    output = _run_in_pty(argv, env, cols=120, rows=40)
    assert output.count(ENTER_SCREEN) == 1 and output.count(LEAVE_SCREEN) == 1, output[-2000:]
    live, after = output.split(ENTER_SCREEN, 1)[1].split(LEAVE_SCREEN, 1)
    frames = [f for f in live.split(HOME) if f.strip()]
    assert len(frames) >= 3
    for text in frames:
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
        lines = plain.split("\n")
        assert len(lines) <= 40 and max(map(len, lines)) <= 120
        assert lines[0].startswith("drs-operator demo · t=")
    folders = list((tmp_path / "state" / "drs-operator" / "demo").iterdir())
    assert len(folders) == 1
    log = folders[0] / "operator.log"
    assert f"drs-operator {__version__} started" in log.read_text(encoding="utf-8")
    after = after.replace("\r", "")
    assert "What happened (" in after and f"\n  {log}\n" in after  # the path whole, to copy
    assert "not a kubectl target" in " ".join(after.split())
    assert f"\n  drs-operator get --kubeconfig {folders[0] / 'kubeconfig'} -n demo\n" in after
    # Within the width, but for the path and the command (never broken: a terminal wraps them).
    assert all(len(line) <= 120 for line in after.splitlines() if str(folders[0]) not in line)


def test_the_summary_names_a_drifted_task_and_its_differences() -> None:
    tracker = Tracker()
    moved = {"state": "Modified", "differences": [
        {"field": "sourceEndpoint.port", "expected": "3306", "observed": "3307"}]}  # fmt: skip
    tracker.observe([drsjob("customers", drift=moved), drsjob("orders", drift={"state": "InSync"})],
                    [], 60)  # fmt: skip
    text = summary(
        tracker, {"customers": "INCRE_TRANSFER_STARTED", "orders": "INCRE_TRANSFER_STARTED"}
    )
    assert "customers drifted from its spec.expect (sourceEndpoint.port: 3306 -> 3307)" in text
    assert "orders drifted" not in text


@pytest.mark.parametrize(
    ("choice", "code", "line"),
    [
        ("apiserver", 1, "drs-operator demo: error: --cluster apiserver: "),
        ("auto", 0, "drs-operator demo: Kubernetes API: the embedded emulator ("),
    ],
)
def test_without_a_built_control_plane(
    choice: str, code: int, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No binaries: --cluster apiserver fails in one line; auto says it uses the emulator."""
    monkeypatch.setenv("DRS_CONTROLPLANE_BIN", str(tmp_path / "empty"))
    done = subprocess.run(
        [sys.executable, "-m", "drs_operator", "demo", "--cluster", choice, "--duration", "2",
         "--interval", "60", "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == code, done.stdout[-1500:] + done.stderr[-1500:]
    assert line in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
