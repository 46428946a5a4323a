"""Small clusters: a few dozen DrsJobs per connection, several connections, the adaptive cadence.

A section of ``make bench`` (``bench/run.py`` calls :func:`run_section`; ``run.py
--only small`` runs it alone). Two cases, each run for ours and for the naive
peer at the same time, each peer with a simulator and an emulator of its own in
this process's event loop:

- **mixed** (issue 11): three connections (a credentials Secret, token and
  project each) of 5, 16 and 45 DrsJobs; per connection 20 % in progress
  (``FULL_TRANSFER_STARTED``, stays so), 70 % steady (``INCRE_TRANSFER_STARTED``)
  and 10 % failed (``CREATE_FAILED``), each connection having some of each; no
  ``refreshInterval``: the operator's default adaptive cadence scaled by 1/4
  (in progress 3.75 s, steady 15 s, failed 75 s, error 7.5 s) so that the window
  holds several cycles; default jitter and rate limit, batch size 10. The naive
  peer's DrsJobs set ``refreshInterval`` to the scaled cadence of their group
  (its one timer per DrsJob runs on it), so both peers owe the same refreshes.
- **interval**: three connections of 8, 10 and 12 DrsJobs (same mix), every
  DrsJob with ``refreshInterval: 5s``, for both peers.

The DrsJobs are created in random order spread over one steady cadence, so
their refresh phases start spread (as in a cluster where they came one by
one). Once every DrsJob has a status, a window (240 s / 120 s) begins; K
cloud-side changes of steady tasks (``INCRE_TRANSFER_STARTED`` <-> ``PAUSING``,
both steady, so the cadence stays) are spread over it, early enough for each to
be seen within the window. Over the window:

- batch-detail calls, against the lower bound Σ over connections of (refreshes
  needed / batch size), where a job needs window / (its cadence) refreshes, and
  against the floor, what any scheduler that is never late needs
  (:func:`connection_floor`: a connection with an in-progress task needs a call
  every in-progress cadence however few IDs it has, and a connection of 12 jobs
  on one cadence two calls per cadence);
- IDs per call (mean, max; per connection), IDs sent / refreshes needed (early
  refreshes ride in calls made anyway) and early refreshes per job per hour at the
  real cadences (the excess, times the scale factor);
- propagation of the K changes: change -> the first status write for that
  DrsJob after the first call that carried its ID after the change (p50, p99, max);
- status writes in the window, and the process's CPU (from the OS) per 1,000
  job-refreshes (IDs sent).

``--small-dump FILE`` writes every call of the windows (case, peer, time in
the window, connection, size, groups of its IDs, DrsJob names).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drs_operator.sandbox.objects import secret
from drs_operator.sandbox.simulator import Simulator
from harness import ProcessProbe, TimedCluster, free_port, percentile
from report import Row, fmt, ratio, render_markdown, render_text, verdict

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAMESPACE = "bench"
BATCH_SIZE = 10
SCALE = 0.25  # the run's cadences are the defaults times this (--small-scale)
DEFAULTS = {"in_progress": 15.0, "steady": 60.0, "failed": 300.0, "error": 30.0}
STATUS = {
    "in_progress": "FULL_TRANSFER_STARTED",
    "steady": "INCRE_TRANSFER_STARTED",
    "failed": "CREATE_FAILED",
}
CHANGED = "PAUSING"  # steady too: one write per change, same cadence afterwards
LETTER = {"in_progress": "I", "steady": "S", "failed": "F"}
SHARES = {"in_progress": 0.2, "failed": 0.1}  # the rest is steady
READY_TIMEOUT = 60.0
CONVERGENCE_TIMEOUT = 60.0
SETTLE = 2.0  # between the last first status and the window


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    sizes: tuple[int, ...]
    window: float
    changes: int
    refresh_interval: float | None  # every DrsJob's spec.refreshInterval (None: adaptive)
    scale: float  # the operator's cadences are the defaults times this
    bound_target: float | None  # calls <= this x the lower bound
    mean_target: float  # mean IDs per call >= this

    def cadence(self, group: str) -> float:
        return self.refresh_interval or DEFAULTS[group] * self.scale

    @property
    def operator_args(self) -> list[str]:
        return [
            "--batch-size", str(BATCH_SIZE),
            "--cadence-in-progress", _duration(DEFAULTS["in_progress"] * self.scale),
            "--cadence-steady", _duration(DEFAULTS["steady"] * self.scale),
            "--cadence-failed", _duration(DEFAULTS["failed"] * self.scale),
            "--cadence-error", _duration(DEFAULTS["error"] * self.scale),
        ]  # fmt: skip

    @property
    def hour_scale(self) -> float:
        """Early refreshes per hour as run, times this: per hour at the real cadences."""
        return 1.0 if self.refresh_interval else self.scale


def cases(window: float, interval_window: float, changes: int, scale: float) -> list[Case]:
    return [
        Case("mixed", "mixed small regime: adaptive cadence, no refreshInterval",
             (5, 16, 45), window, changes, None, scale, 1.3, 7.0),
        Case("interval", "every DrsJob sets refreshInterval: 5s",
             (8, 10, 12), interval_window, max(1, round(changes * interval_window / window)),
             5.0, scale, None, 7.0),
    ]  # fmt: skip


@dataclass
class Job:
    name: str
    connection: str  # its credentials Secret (one connection each)
    group: str  # in_progress | steady | failed
    cadence: float  # seconds, as run
    job_id: str = ""


def token(connection: str) -> str:
    return f"token-{connection}"


def project(connection: str) -> str:
    return hashlib.md5(connection.encode(), usedforsecurity=False).hexdigest()


def layout(case: Case) -> list[Job]:
    """Per connection: ~20 % in progress, ~10 % failed (at least one each), the rest steady."""
    jobs: list[Job] = []
    for index, size in enumerate(case.sizes):
        connection = f"conn-{chr(ord('a') + index)}"
        counts = {group: max(1, round(size * share)) for group, share in SHARES.items()}
        counts["steady"] = size - sum(counts.values())
        number = 0
        for group in ("in_progress", "steady", "failed"):
            for _ in range(counts[group]):
                name = f"{connection}-{number:02d}"
                jobs.append(Job(name, connection, group, case.cadence(group)))
                number += 1
    return jobs


def describe_layout(case: Case) -> str:
    parts = []
    for connection, jobs in _by_connection(layout(case)).items():
        count = collections.Counter(job.group for job in jobs)
        parts.append(
            f"{connection} {len(jobs)} ({count['in_progress']}/{count['steady']}/{count['failed']})"
        )
    return ", ".join(parts)


def connection_floor(jobs: list[Job], window: float) -> float:
    """The calls one connection needs in ``window`` if no job is ever late.

    In any stretch of time as long as a cadence c, a job on cadence c_j <= c is
    refreshed at least floor(c / c_j) times, so the connection makes at least
    ceil(those IDs / batch size) calls per c; the floor is the largest of these
    over the connection's cadences, and at least the refreshes needed / batch
    size. A connection with one task in progress needs a call every in-progress
    cadence; 12 jobs on one cadence need two calls per cadence, not 1.2.
    """
    best = sum(window / job.cadence for job in jobs) / BATCH_SIZE
    for c in sorted({job.cadence for job in jobs}):
        ids = sum(math.floor(c / job.cadence + 1e-9) for job in jobs if job.cadence <= c)
        best = max(best, window / c * math.ceil(ids / BATCH_SIZE))
    return best


def _by_connection(jobs: list[Job]) -> dict[str, list[Job]]:
    grouped: dict[str, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(job.connection, []).append(job)
    return grouped


@dataclass
class Peer:
    """What one peer did in one case's window."""

    who: str  # ours | naive
    case: Case
    jobs: list[Job]
    window: float = math.nan
    calls: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)  # (t in window, ids)
    failed_calls: int = 0
    cpu: float = math.nan
    latencies: list[float] = field(default_factory=list)
    unseen: int = 0
    changes: int = 0
    status_writes: int = -1
    converge_s: float = math.nan
    code: str = ""  # where the process imported drs_operator's refresher from
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return not math.isnan(self.window)

    @property
    def by_id(self) -> dict[str, Job]:
        return {job.job_id: job for job in self.jobs}

    def needed(self, jobs: list[Job] | None = None) -> float:
        """Refreshes the window needs: window / cadence per job."""
        return sum(self.window / job.cadence for job in (self.jobs if jobs is None else jobs))

    @property
    def lower_bound(self) -> float:
        return sum(self.needed(jobs) / BATCH_SIZE for jobs in _by_connection(self.jobs).values())

    @property
    def floor(self) -> float:
        """What any scheduler that is never late needs: Σ over connections of
        :func:`connection_floor`."""
        return sum(
            connection_floor(jobs, self.window) for jobs in _by_connection(self.jobs).values()
        )

    @property
    def ids_sent(self) -> int:
        return sum(len(ids) for _, ids in self.calls)

    @property
    def sizes(self) -> list[int]:
        return [len(ids) for _, ids in self.calls]

    @property
    def mean_ids(self) -> float:
        return self.ids_sent / len(self.calls) if self.calls else math.nan

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / self.ids_sent * 1000 if self.ids_sent else math.nan

    @property
    def early_per_job_hour(self) -> float:
        """Refreshes beyond the needed ones, per job and hour at the real cadences."""
        if not self.measured or not self.jobs:
            return math.nan
        extra = self.ids_sent - self.needed()
        return extra / len(self.jobs) / (self.window / 3600) * self.case.hour_scale

    def connection_of(self, ids: tuple[str, ...]) -> str:
        jobs = self.by_id
        return jobs[ids[0]].connection if ids and ids[0] in jobs else "?"

    def per_connection(self) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
        calls: dict[str, list[tuple[float, tuple[str, ...]]]] = {
            c: [] for c in _by_connection(self.jobs)
        }
        for call in self.calls:
            calls.setdefault(self.connection_of(call[1]), []).append(call)
        return calls

    def groups(self, ids: tuple[str, ...]) -> str:
        """``I2 S7 F1``: how many IDs of each group a call carried."""
        jobs = self.by_id
        count = collections.Counter(jobs[i].group if i in jobs else "?" for i in ids)
        return " ".join(f"{LETTER.get(g, g)}{count[g]}" for g in (*LETTER, "?") if count.get(g))


# -- one peer in one case ---------------------------------------------------------------------


async def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def operator_code(env: dict[str, str]) -> str:
    """Where a process with ``env`` imports the refresher from (PYTHONPATH checks)."""
    probe = "import drs_operator.engine.refresher as m; print(m.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return result.stdout.strip() or result.stderr.strip()[-300:]


class Stage:
    """A simulator, an emulator, the connections' Secrets and tasks, and one process."""

    def __init__(self, case: Case, who: str, workdir: Path, seed: int) -> None:
        self.case, self.who, self.workdir = case, who, workdir
        self.sim = Simulator(seed=seed)
        self.cluster = TimedCluster()
        self.jobs = layout(case)
        self.connections = list(_by_connection(self.jobs))
        self.process: asyncio.subprocess.Process | None = None
        self.probe: ProcessProbe | None = None
        self.log_path = workdir / f"{who}.log"

    async def __aenter__(self) -> Stage:
        for connection in self.connections:
            self.sim.add_token(token(connection), project_id=project(connection))
        for job in self.jobs:
            job.job_id = self.sim.add_job(
                status=STATUS[job.group], project_id=project(job.connection)
            )
        self.url = await self.sim.start()
        await self.cluster.start()
        self.kubeconfig = self.cluster.write_kubeconfig(
            self.workdir / f"{self.who}.kubeconfig", namespace=NAMESPACE
        )
        for connection in self.connections:
            data = {"endpoint": self.url, "projectId": project(connection),
                    "token": token(connection)}  # fmt: skip
            self.cluster.create(secret(connection, NAMESPACE, data))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_process()
        await self.cluster.stop()
        await self.sim.stop()

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}

    def argv(self) -> list[str]:
        if self.who == "ours":
            return [
                sys.executable, "-m", "drs_operator", "run", "-n", NAMESPACE,
                *self.case.operator_args,
                "--metrics-port", str(free_port()), "--health-port", str(free_port()),
                "--bind-address", "127.0.0.1",
            ]  # fmt: skip
        first = self.connections[0]
        argv = [
            sys.executable, str(HERE / "naive_operator.py"), "--namespace", NAMESPACE,
            "--sim-url", self.url, "--token", token(first), "--project", project(first),
            "--refresh-intervals", ",".join(sorted({_duration(j.cadence) for j in self.jobs})),
        ]  # fmt: skip
        for connection in self.connections:
            argv += ["--connection", f"{connection}={token(connection)}@{project(connection)}"]
        return argv

    async def start_process(self) -> None:
        log = open(self.log_path, "wb")  # noqa: ASYNC230 (closed with the process)
        self.process = await asyncio.create_subprocess_exec(
            *self.argv(), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            env=self.env(), cwd=ROOT,
        )  # fmt: skip
        log.close()
        self.probe = ProcessProbe(self.process.pid)

    async def stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or not self.alive():
                return False
            await asyncio.sleep(0.1)
        return True

    def drsjob(self, job: Job) -> dict[str, Any]:
        spec: dict[str, Any] = {"jobId": job.job_id, "credentialsRef": {"name": job.connection}}
        if self.who == "naive" or self.case.refresh_interval:
            spec["refreshInterval"] = _duration(job.cadence)
        return {
            "apiVersion": "drs.operators.dev/v1alpha1",
            "kind": "DrsJob",
            "metadata": {"name": job.name, "namespace": NAMESPACE},
            "spec": spec,
        }

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


async def run_peer(
    case: Case, who: str, workdir: Path, say: Callable[[str], None], *, spread: float, seed: int
) -> Peer:
    async with Stage(case, who, workdir, seed) as stage:
        peer = Peer(who, case, stage.jobs)
        if who == "ours":
            peer.code = await asyncio.to_thread(operator_code, stage.env())
            say(f"  {case.key}/ours: the operator imports {peer.code}")
        await stage.start_process()
        assert stage.probe is not None and stage.process is not None
        cluster = stage.cluster
        if not await stage.wait_for(lambda: "drsjobs" in cluster.watch_opened, READY_TIMEOUT):
            peer.notes.append(f"{who} never watched DrsJobs: {stage.log_tail()}")
            return peer
        await asyncio.sleep(0.5)
        say(f"  {case.key}/{who}: pid {stage.process.pid} watching; creating "
            f"{len(stage.jobs)} DrsJobs over {spread:g}s")  # fmt: skip
        rng = random.Random(seed)
        order = rng.sample(stage.jobs, len(stage.jobs))
        t0 = time.time()
        for k, job in enumerate(order):
            await sleep_until(t0 + k * spread / len(order))
            cluster.create(stage.drsjob(job), validate=True)  # defaulted, as a server would
        names = [job.name for job in stage.jobs]
        first = cluster.first_status
        if not await stage.wait_for(lambda: all(n in first for n in names), CONVERGENCE_TIMEOUT):
            seen = sum(1 for n in names if n in first)
            peer.notes.append(f"{who}: {seen}/{len(names)} DrsJobs had a status; "
                              f"{stage.log_tail()}")  # fmt: skip
            return peer
        peer.converge_s = max(first[n] for n in names) - t0
        start = time.time() + SETTLE
        await sleep_until(start)
        cpu0 = stage.probe.cpu()
        changed = await change_tasks(stage, random.Random(seed + 1), start)
        end = start + case.window
        await sleep_until(end)
        peer.cpu = stage.probe.cpu() - cpu0
        peer.window = end - start
        requests = [r for r in stage.sim.stats.requests if r.path.endswith("/jobs/batch-detail")]
        inside = [r for r in requests if start <= r.time < end]
        peer.calls = [(r.time - start, r.ids) for r in inside]
        peer.failed_calls = sum(1 for r in inside if r.http_status != 200)
        if peer.failed_calls:
            peer.notes.append(
                f"{who}: {peer.failed_calls} batch-detail calls were not answered 200"
            )
        writes = cluster.writes_between(start, end)
        peer.status_writes = len(writes)
        peer.changes = len(changed)
        for job, at in changed:
            call = next((r.time for r in requests if r.time >= at and job.job_id in r.ids), None)
            seen = (
                next((w.time for w in writes if w.name == job.name and w.time >= call), None)
                if call is not None
                else None
            )
            if seen is None:
                peer.unseen += 1
            else:
                peer.latencies.append(seen - at)
        if stage.process.returncode is not None:
            peer.notes.append(f"{who} exited with {stage.process.returncode}")
    return peer


async def change_tasks(stage: Stage, rng: random.Random, start: float) -> list[tuple[Job, float]]:
    """K changes of steady tasks spread so that each can show within the window."""
    case = stage.case
    cadence = case.cadence("steady")
    span = case.window - cadence * 1.1 - 3.0
    steady = [job for job in stage.jobs if job.group == "steady"]
    status = {job.name: STATUS["steady"] for job in steady}
    last: dict[str, float] = {}
    changed: list[tuple[Job, float]] = []
    for k in range(case.changes):
        await sleep_until(start + (k + 0.5) * span / case.changes)
        now = time.time()
        # Not a task whose previous change may not be seen yet: one change, one latency.
        free = [j for j in steady if now - last.get(j.name, -math.inf) > 2 * cadence + 2]
        job = rng.choice(free or steady)
        status[job.name] = CHANGED if status[job.name] == STATUS["steady"] else STATUS["steady"]
        stage.sim.set_status(job.job_id, status[job.name])
        last[job.name] = time.time()
        changed.append((job, last[job.name]))
    return changed


# -- the section --------------------------------------------------------------------------------


@dataclass
class Section:
    runs: list[tuple[Case, Peer, Peer]]
    spread: float
    elapsed: float = 0.0

    def tables(self) -> list[tuple[Case, list[str], list[Row]]]:
        return [(case, *build_rows(case, ours, naive)) for case, ours, naive in self.runs]

    def notes(self) -> list[str]:
        return [f"{case.key}: {note}" for case, ours, naive in self.runs
                for note in (*ours.notes, *naive.notes)]  # fmt: skip

    def settings(self) -> list[str]:
        mixed = next((c for c, _, _ in self.runs if c.key == "mixed"), None)
        interval = next((c for c, _, _ in self.runs if c.key == "interval"), None)
        scale = self.runs[0][0].scale if self.runs else SCALE
        args = " ".join(self.runs[0][0].operator_args) if self.runs else ""
        lines = [
            f"Operator: `drs-operator run -n {NAMESPACE} {args}`: the default cadences (in "
            f"progress {DEFAULTS['in_progress']:g}s, steady {DEFAULTS['steady']:g}s, failed "
            f"{DEFAULTS['failed']:g}s, error {DEFAULTS['error']:g}s) times {scale:g}; "
            "everything else default (jitter 0.1, rate limit 5 calls/s and burst 5 per "
            "connection, --max-concurrency 4). The refresher's lead (1 s, no flag: a pass "
            "made for a due job also takes its connection's jobs due within the next second) "
            "is not scaled, so at these short cadences such refreshes come earlier, relative "
            "to the cadence, than at the real ones.",
            "Connections: one credentials Secret each (own token and project), named by the "
            "DrsJobs' spec.credentialsRef; per connection about 20 % of the tasks in progress "
            f"(`{STATUS['in_progress']}`, stays so), 70 % steady (`{STATUS['steady']}`) and "
            f"10 % failed (`{STATUS['failed']}`), at least one of each.",
        ]
        if mixed:
            lines.append(
                f"Mixed case: {describe_layout(mixed)} DrsJobs (in progress/steady/failed), no "
                f"refreshInterval; window {mixed.window:g}s with K={mixed.changes} changes."
            )
        if interval:
            lines.append(
                f"refreshInterval case: {describe_layout(interval)}, every DrsJob with "
                f"refreshInterval {_duration(interval.refresh_interval or 0)}; window "
                f"{interval.window:g}s with K={interval.changes} changes; early refreshes per "
                "hour are not rescaled (5s is a real interval)."
            )
        lines += [
            f"The DrsJobs are created in random order over {self.spread:g}s (refresh phases "
            f"start spread); the window starts {SETTLE:g}s after every DrsJob has a status. "
            f"The K changes flip steady tasks between `{STATUS['steady']}` and `{CHANGED}` "
            "(both steady), spread over the window less one steady cadence and 3 s, never a "
            "task changed within the last two cadences; propagation = the change to the first "
            "status write for that DrsJob after the first call that carried its ID.",
            "Lower bound = Σ over connections of (refreshes needed / 10), a job needing "
            "window / (its cadence) refreshes. Floor = what any scheduler that is never "
            "late needs: per connection, in any stretch as long as a cadence c, a job on "
            "cadence c_j <= c is refreshed at least floor(c / c_j) times, so at least "
            "ceil(those IDs / 10) calls per c; the largest over the connection's cadences "
            "(a connection with a task in progress needs a call every in-progress cadence "
            "however few IDs it has; 12 jobs on one cadence need two calls per cadence). "
            "Early refreshes = IDs sent - refreshes needed, per job and hour at the real "
            f"cadences (times {scale:g} in the mixed case).",
            "Naive peer: `bench/naive_operator.py` (kopf, one timer per DrsJob, one ID per "
            "call, status patched every tick) with a client per connection; its DrsJobs set "
            "refreshInterval to the cadence of their group as run (3.75s is below the CRD's "
            "5s minimum: the emulator does not check it, and only the naive peer reads it), "
            "its timer interval.",
            "Ours and the naive peer run at the same time, each with its own simulator and "
            "emulator in the bench process; CPU is each process's own (user + system, from the "
            "OS) over the window. The figures are small (a few seconds of CPU) and the "
            "machine is shared: CPU figures are noisy.",
        ]
        return lines

    def text(self) -> str:
        out: list[str] = []
        for case, heads, rows in self.tables():
            out += [f"small clusters, {case.title}:", render_text(heads, rows), ""]
        for case, ours, _ in self.runs:
            out += [f"{case.key}/ours calls per connection ({floor_note(ours)}):",
                    *connection_lines(ours), ""]  # fmt: skip
        return "\n".join(out)

    def markdown(self) -> list[str]:
        body = [
            "## Small clusters: several connections, the adaptive cadence",
            "",
            f"Section run time {self.elapsed / 60:.1f} min (`bench/small.py`; alone: "
            "`.venv/bin/python bench/run.py --only small`).",
            "",
            *[f"- {line}" for line in self.settings()],
            "",
        ]
        for case, heads, rows in self.tables():
            body += [f"### {case.title[0].upper()}{case.title[1:]}", "",
                     render_markdown(heads, rows), ""]  # fmt: skip
            ours = next(o for c, o, _ in self.runs if c is case)
            body += [floor_note(ours), "", "Ours, per connection:", "", connection_table(ours), ""]
        return body


def build_rows(case: Case, ours: Peer, naive: Peer) -> tuple[list[str], list[Row]]:
    heads = ["ours", "naive", "ours/naive"]
    steady = case.cadence("steady")
    steady_name = "refreshInterval" if case.refresh_interval else "steady cadence"

    def row(
        label: str,
        value: Callable[[Peer], str],
        both: Callable[[Peer], float] | None = None,
        target: str = "",
        check: Callable[[Peer], bool] | None = None,
    ) -> Row:
        cells = [value(p) if p.measured else "n/a" for p in (ours, naive)]
        cells.append(ratio(both(ours), both(naive)) if both and ours.measured and naive.measured
                     else "")  # fmt: skip
        met = verdict(check(ours)) if check and ours.measured else ""
        return Row(label, cells, target, met)

    rows = [
        row("window after convergence (s)", lambda p: fmt(p.window, ".0f")),
        row("batch-detail calls in the window", lambda p: str(len(p.calls)),
            lambda p: len(p.calls)),
        row("lower bound Σ_conn refreshes needed / 10", lambda p: fmt(p.lower_bound)),
        row("calls / lower bound", lambda p: fmt(len(p.calls) / p.lower_bound, ".2f"),
            target=f"≤ {case.bound_target:g}" if case.bound_target else "",
            check=(lambda p: len(p.calls) <= case.bound_target * p.lower_bound)
            if case.bound_target else None),
        row("floor: what a scheduler that is never late needs",
            lambda p: fmt(p.floor)),
        row("calls / floor", lambda p: fmt(len(p.calls) / p.floor, ".2f")),
        row("IDs per call: mean / max", lambda p: f"{fmt(p.mean_ids, '.2f')} / "
            f"{max(p.sizes, default=0)}", lambda p: p.mean_ids,
            target=f"mean ≥ {case.mean_target:g}", check=lambda p: p.mean_ids >= case.mean_target),
        row("calls (mean IDs) per connection",
            lambda p: ", ".join(f"{len(calls)} ({fmt(_mean(calls), '.1f')})"
                                for calls in p.per_connection().values())),
        row("job-refreshes: IDs sent / needed",
            lambda p: f"{p.ids_sent} / {p.needed():.0f} = {fmt(p.ids_sent / p.needed(), '.2f')}",
            lambda p: p.ids_sent),
        row("early refreshes per job per hour (real cadences)",
            lambda p: fmt(p.early_per_job_hour, ".0f")),
        row("status writes in the window", lambda p: f"{p.status_writes} for K={p.changes}",
            lambda p: p.status_writes),
        row("propagation p50 / p99 / max (s)",
            lambda p: f"{fmt(percentile(p.latencies, 50))} / {fmt(percentile(p.latencies, 99))}"
            f" / {fmt(max(p.latencies, default=math.nan))}"
            + (f" ({p.unseen} not seen)" if p.unseen else ""),
            target=f"p99 ≤ {steady + 2:g} s ({steady_name} + 2)",
            check=lambda p: not p.unseen and percentile(p.latencies, 99) <= steady + 2),
        row("process CPU s in the window", lambda p: fmt(p.cpu, ".2f"), lambda p: p.cpu),
        row("CPU s per 1,000 job-refreshes", lambda p: fmt(p.cpu_per_1000, ".3f"),
            lambda p: p.cpu_per_1000),
        row("every DrsJob with a status (s after the first create)",
            lambda p: fmt(p.converge_s)),
    ]  # fmt: skip
    return heads, rows


def floor_note(peer: Peer) -> str:
    """How far the floor is above the lower bound, when it is."""
    if not peer.measured or not peer.lower_bound:
        return "not measured"
    return (
        f"the floor is {peer.floor / peer.lower_bound:.2f} x the lower bound: connections "
        "whose cadences ask for more calls than their refreshes fill"
        if peer.floor > peer.lower_bound * 1.001
        else "the floor is the lower bound"
    )


def _mean(calls: list[tuple[float, tuple[str, ...]]]) -> float:
    return sum(len(ids) for _, ids in calls) / len(calls) if calls else math.nan


def _connection_figures(peer: Peer) -> list[list[str]]:
    jobs = _by_connection(peer.jobs)
    lines = []
    for connection, calls in peer.per_connection().items():
        members = jobs.get(connection, [])
        count = collections.Counter(job.group for job in members)
        needed = peer.needed(members)
        sizes = collections.Counter(len(ids) for _, ids in calls)
        without = sum(1 for _, ids in calls if "I" not in peer.groups(ids))
        lines.append([
            connection,
            f"{len(members)} ({count['in_progress']}/{count['steady']}/{count['failed']})",
            str(len(calls)),
            fmt(needed / BATCH_SIZE),
            fmt(connection_floor(members, peer.window)),
            fmt(_mean(calls), ".2f"),
            f"{sum(len(ids) for _, ids in calls)} / {needed:.0f}",
            str(without),
            " ".join(f"{size}:{n}" for size, n in sorted(sizes.items())),
        ])  # fmt: skip
    return lines


CONNECTION_HEADS = [
    "connection", "DrsJobs (I/S/F)", "calls", "lower bound", "floor", "mean IDs",
    "IDs sent / needed", "calls without an in-progress ID", "calls by size (size:count)",
]  # fmt: skip


def connection_table(peer: Peer) -> str:
    lines = ["| " + " | ".join(CONNECTION_HEADS) + " |", "|---" * len(CONNECTION_HEADS) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in _connection_figures(peer)]
    return "\n".join(lines)


def connection_lines(peer: Peer) -> list[str]:
    table = [CONNECTION_HEADS, *_connection_figures(peer)]
    widths = [max(len(line[i]) for line in table) for i in range(len(CONNECTION_HEADS))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in table]
    compositions = collections.Counter(
        (peer.connection_of(ids), peer.groups(ids)) for _, ids in peer.calls
    )
    for connection in _by_connection(peer.jobs):
        common = [(g, n) for (c, g), n in compositions.most_common() if c == connection][:6]
        lines.append(f"  {connection} most common calls: "
                     + ", ".join(f"[{g}] x{n}" for g, n in common))  # fmt: skip
    return lines


def dump(section: Section, path: Path) -> None:
    """Every call of the windows: case, peer, t in window, connection, size, groups, names."""
    lines = ["case\tpeer\tt\tconnection\tsize\tgroups\tdrsjobs"]
    for case, ours, naive in section.runs:
        for peer in (ours, naive):
            jobs = peer.by_id
            for t, ids in peer.calls:
                names = ",".join(jobs[i].name if i in jobs else i for i in ids)
                lines.append(f"{case.key}\t{peer.who}\t{t:.2f}\t{peer.connection_of(ids)}\t"
                             f"{len(ids)}\t{peer.groups(ids)}\t{names}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def run_section(
    *,
    window: float,
    interval_window: float,
    changes: int,
    spread: float | None,
    workroot: Path,
    say: Callable[[str], None],
    dump_to: Path | None = None,
    scale: float = SCALE,
) -> Section:
    started = time.monotonic()
    spread = DEFAULTS["steady"] * scale if spread is None else spread
    section = Section([], spread)
    for index, case in enumerate(cases(window, interval_window, changes, scale)):
        workdir = workroot / f"small-{case.key}"
        workdir.mkdir(parents=True, exist_ok=True)
        say(f"small/{case.key}: {describe_layout(case)}; ours and naive side by side, "
            f"window {case.window:g}s")  # fmt: skip
        seed = 1100 + index
        ours, naive = await asyncio.gather(
            run_peer(case, "ours", workdir, say, spread=spread, seed=seed),
            run_peer(case, "naive", workdir, say, spread=spread, seed=seed),
        )
        section.runs.append((case, ours, naive))
        for note in (*ours.notes, *naive.notes):
            say(f"  note: {note}")
    section.elapsed = time.monotonic() - started
    if dump_to is not None:
        dump(section, dump_to)
        say(f"small: wrote every call of the windows to {dump_to}")
    return section
