"""``make bench``: how the operator's cost grows with the number of DrsJobs, against a naive peer.

For each N (default 1,000 and 10,000) it starts, in this process's event
loop, the DRS simulator and the Kubernetes API emulator (a fresh pair per
run), then the operator as a separate process (``drs-operator run``), creates
N DrsJobs whose tasks are in steady incremental sync, and measures:

- convergence: time from the first create until every DrsJob has a status;
- refresh cycle: over one steady cadence, batch-detail calls against the
  ideal ceil(IDs due / batch size), and IDs per call (mean, max);
- quiet window: status writes over that cadence with no cloud change (0);
- K cloud-side changes spread over one cadence: status writes (K) and the
  propagation latency, change → status patch received (p50, p99);
- operator CPU seconds (user + system, from the OS) per 1,000 job-refreshes
  over the steady windows, and its peak RSS (VmHWM);
- the emulator's own cost (time in its request handler, requests per second)
  and the bench process's CPU, to show it is not the bottleneck.

Then the naive peer (``bench/naive_operator.py``: one kopf timer per DrsJob,
one ID per call, status written every tick) on the same N and a fresh
simulator/emulator pair, measured over a fixed window after its convergence
(or after a time limit), per job-refresh; and the ratios ours / naive.

Then the small-cluster section (:mod:`small`): several connections of a few
dozen DrsJobs on the adaptive cadence scaled down, and a case where every
DrsJob sets ``refreshInterval``, ours and the naive peer side by side.

It prints the tables and regenerates ``docs/performance.md`` (every section;
not with ``--only``).
Options: ``--sizes 1000,10000 --naive-sizes 1000,10000 --changes 100 --no-docs
--docs-to FILE``;
``--only large|small``; for the small section ``--small-window 240
--small-interval-window 120 --small-changes 40 --small-spread 15 --small-scale 0.25
--small-dump FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import small  # noqa: E402
from drs_operator.sandbox.objects import secret  # noqa: E402
from drs_operator.sandbox.simulator import Simulator  # noqa: E402
from harness import (  # noqa: E402
    ProcessProbe,
    TimedCluster,
    free_port,
    machine,
    own_cpu,
    percentile,
)
from report import Row, render_markdown, render_text  # noqa: E402
from report import fmt as _f  # noqa: E402
from report import ratio as _ratio  # noqa: E402
from report import verdict as _met  # noqa: E402

NAMESPACE = "bench"
SECRET = "drs-credentials"
TOKEN = "bench-token"
PROJECT = "0c4b8a1f2e3d4c5b6a7980e1f2a3b4c5"
STEADY = "INCRE_TRANSFER_STARTED"
CHANGED = "PAUSING"  # steady too: one write per change, same cadence afterwards
BATCH_SIZE = 10
CADENCE_STEADY = 20.0
CADENCE_IN_PROGRESS = 10.0
JITTER = 0.1
RATE_LIMIT = 100.0  # calls/s per connection: the default 5/s caps 10,000 jobs at 50 jobs/s
RATE_BURST = 10
CREATE_CHUNK = 500
OPERATOR_ARGS = [
    "--batch-size", str(BATCH_SIZE),
    "--cadence-steady", f"{CADENCE_STEADY:g}s",
    "--cadence-in-progress", f"{CADENCE_IN_PROGRESS:g}s",
    "--cadence-failed", "60s",
    "--jitter", str(JITTER),
    "--rate-limit", f"{RATE_LIMIT:g}",
    "--rate-burst", str(RATE_BURST),
]  # fmt: skip
CONVERGENCE_TIMEOUT = 240.0
NAIVE_CONVERGENCE_TIMEOUT = {1000: 60.0, 10000: 100.0}


@dataclass
class Figures:
    """What one run measured (NaN/None when not measured)."""

    who: str
    n: int
    converge_s: float = math.nan
    converged: int = 0
    create_s: float = math.nan
    conv_calls: int = 0
    conv_ids: int = 0
    conv_cpu: float = math.nan
    cycle_calls: int = 0
    cycle_ids: int = 0
    cycle_window_s: float = math.nan
    ids_mean: float = math.nan
    ids_max: int = 0
    quiet_writes: int = -1
    quiet_window_s: float = math.nan
    changes: int = 0
    change_writes: int = -1
    change_writes_other: int = 0
    latencies: list[float] = field(default_factory=list)
    quiet_cpu: float = math.nan
    steady_cpu: float = math.nan
    steady_refreshes: int = 0
    steady_writes: int = 0
    steady_window_s: float = math.nan
    peak_rss_mb: float = math.nan
    end_rss_mb: float = math.nan
    exit_code: int | None = None
    emulator_served: int = 0
    emulator_seconds: float = 0.0
    bench_cpu: float = math.nan
    bench_wall: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def ideal_calls(self) -> int:
        return math.ceil(self.cycle_ids / BATCH_SIZE) if self.cycle_ids else 0

    @property
    def call_ratio(self) -> float:
        return self.cycle_calls / self.ideal_calls if self.ideal_calls else math.nan

    @property
    def cpu_per_1000(self) -> float:
        """Over the quiet window (one cadence, no cloud change)."""
        if not self.cycle_ids:
            return math.nan
        return self.quiet_cpu / self.cycle_ids * 1000

    @property
    def cpu_per_1000_steady(self) -> float:
        """Over the quiet and change windows together."""
        if not self.steady_refreshes:
            return math.nan
        return self.steady_cpu / self.steady_refreshes * 1000

    @property
    def conv_cpu_per_1000(self) -> float:
        return self.conv_cpu / self.conv_ids * 1000 if self.conv_ids else math.nan

    @property
    def calls_per_refresh(self) -> float:
        return self.cycle_calls / self.cycle_ids if self.cycle_ids else math.nan

    @property
    def writes_per_refresh(self) -> float:
        return self.steady_writes / self.steady_refreshes if self.steady_refreshes else math.nan


def _name(index: int) -> str:
    return f"job-{index:05d}"


class Stage:
    """A fresh simulator + emulator pair, N tasks and their DrsJobs, and the process under test."""

    def __init__(self, n: int, workdir: Path, *, seed: int) -> None:
        self.n = n
        self.workdir = workdir
        self.sim = Simulator(seed=seed)
        self.cluster = TimedCluster()
        self.ids: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self.probe: ProcessProbe | None = None
        self.log_path = workdir / "process.log"

    async def __aenter__(self) -> Stage:
        self.sim.add_token(TOKEN, project_id=PROJECT)
        self.sim_url = await self.sim.start()
        await self.cluster.start()
        self.kubeconfig = self.cluster.write_kubeconfig(
            self.workdir / "kubeconfig", namespace=NAMESPACE
        )
        data = {"endpoint": self.sim_url, "projectId": PROJECT, "token": TOKEN}
        self.cluster.create(secret(SECRET, NAMESPACE, data))
        # Task 0 is the canary (created first, to know the process is watching).
        self.ids = [self.sim.add_job(status=STEADY, project_id=PROJECT) for _ in range(self.n + 1)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_process()
        await self.cluster.stop()
        await self.sim.stop()

    def create(self, index: int) -> None:
        self.cluster.create(
            {
                "apiVersion": "drs.operators.dev/v1alpha1",
                "kind": "DrsJob",
                "metadata": {"name": _name(index), "namespace": NAMESPACE},
                "spec": {"jobId": self.ids[index]},
            },
            validate=True,  # defaulted as a real API server stores it
        )

    async def create_all(self) -> None:
        for start in range(1, self.n + 1, CREATE_CHUNK):
            for index in range(start, min(start + CREATE_CHUNK, self.n + 1)):
                self.create(index)
            await asyncio.sleep(0)  # keep serving the operator meanwhile

    async def start_process(self, argv: list[str]) -> None:
        log = open(self.log_path, "wb")  # noqa: ASYNC230 (closed with the process)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=ROOT
        )
        log.close()
        self.probe = ProcessProbe(self.process.pid)

    async def stop_process(self) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.process = None
        return process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def batch_calls(self, start: float, end: float) -> list[tuple[str, ...]]:
        return [
            r.ids
            for r in self.sim.stats.requests
            if start <= r.time < end and r.path.endswith("/jobs/batch-detail")
        ]

    async def wait_for(
        self, done: Callable[[], bool], *, timeout: float, poll: float = 0.1
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline or not self.alive():
                return False
            await asyncio.sleep(poll)
        return True

    async def canary(self, timeout: float = 60.0) -> bool:
        self.create(0)
        return await self.wait_for(lambda: _name(0) in self.cluster.first_status, timeout=timeout)

    def converged_count(self) -> int:
        first = self.cluster.first_status
        return sum(1 for i in range(1, self.n + 1) if _name(i) in first)


async def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def converge(stage: Stage, figures: Figures, timeout: float) -> float:
    """Create the N DrsJobs; wait until all have a status. Returns the start time."""
    assert stage.probe is not None
    cpu0, bench0, served0, secs0 = stage.probe.cpu(), own_cpu(), stage.cluster.served, 0.0
    secs0 = stage.cluster.serving_seconds
    t0 = time.time()
    await stage.create_all()
    figures.create_s = time.time() - t0
    names = {_name(i) for i in range(1, stage.n + 1)}
    first = stage.cluster.first_status
    ok = await stage.wait_for(lambda: len(names.intersection(first)) >= stage.n, timeout=timeout)
    t1 = time.time()
    figures.converged = stage.converged_count()
    if ok:
        figures.converge_s = max(first[name] for name in names) - t0
    else:
        figures.notes.append(
            f"not converged within {timeout:.0f}s: {figures.converged}/{stage.n} had a status"
        )
    calls = stage.batch_calls(t0, t1)
    figures.conv_calls = len(calls)
    figures.conv_ids = sum(len(c) for c in calls)
    figures.conv_cpu = stage.probe.cpu() - cpu0
    figures.emulator_served = stage.cluster.served - served0
    figures.emulator_seconds = stage.cluster.serving_seconds - secs0
    figures.bench_cpu = own_cpu() - bench0
    figures.bench_wall = t1 - t0
    return t0


def steady_window(stage: Stage, figures: Figures, start: float, end: float, cpu: float) -> None:
    calls = stage.batch_calls(start, end)
    figures.steady_refreshes = sum(len(c) for c in calls)
    figures.steady_cpu = cpu
    figures.steady_window_s = end - start
    figures.steady_writes = len(stage.cluster.writes_between(start, end, status_only=False))
    sizes = [len(c) for c in calls]
    figures.ids_mean = sum(sizes) / len(sizes) if sizes else math.nan
    figures.ids_max = max(sizes, default=0)


async def quiet_window(
    stage: Stage, figures: Figures, *, settle: float
) -> tuple[float, float, float]:
    """One steady cadence with no cloud change, ``settle`` s from now: calls, IDs, writes
    and CPU into ``figures``; returns start, end and the CPU reading at the start."""
    assert stage.probe is not None
    start = time.time() + settle
    await sleep_until(start)
    cpu_start = stage.probe.cpu()
    end = start + CADENCE_STEADY
    await sleep_until(end)
    figures.quiet_cpu = stage.probe.cpu() - cpu_start
    calls = stage.batch_calls(start, end)
    figures.cycle_calls = len(calls)
    figures.cycle_ids = sum(len(c) for c in calls)
    figures.cycle_window_s = end - start
    figures.quiet_writes = len(stage.cluster.writes_between(start, end, status_only=False))
    figures.quiet_window_s = end - start
    return start, end, cpu_start


async def run_ours(n: int, changes: int, workdir: Path, say: Callable[[str], None]) -> Figures:
    figures = Figures("ours", n)
    async with Stage(n, workdir, seed=n) as stage:
        metrics_port, health_port = free_port(), free_port()
        # BENCH_OPERATOR_WRAP: a Python script run instead of ``-m drs_operator`` (profiling).
        wrap = os.environ.get("BENCH_OPERATOR_WRAP")
        entry = [wrap] if wrap else ["-m", "drs_operator"]
        argv = [
            sys.executable, *entry, "run", "-n", NAMESPACE, *OPERATOR_ARGS,
            "--metrics-port", str(metrics_port), "--health-port", str(health_port),
            "--bind-address", "127.0.0.1",
        ]  # fmt: skip
        await stage.start_process(argv)
        assert stage.probe is not None
        if not await stage.canary():
            figures.notes.append("the operator never wrote the canary's status")
            say(stage.log_tail())
            return figures
        say(f"  ours N={n}: operator pid {stage.process.pid if stage.process else '?'} ready; "
            f"creating {n} DrsJobs")  # fmt: skip
        await converge(stage, figures, CONVERGENCE_TIMEOUT)
        say(f"  ours N={n}: converged in {figures.converge_s:.1f}s "
            f"({figures.converged}/{n}); quiet window of {CADENCE_STEADY:g}s")  # fmt: skip

        # The quiet window: one steady cadence, all jobs steady, no cloud change.
        ta, tb, cpu_a = await quiet_window(stage, figures, settle=2.0)

        # K changes spread over one cadence, then wait out one (jittered) cadence.
        say(f"  ours N={n}: {changes} cloud-side changes over {CADENCE_STEADY:g}s")
        rng = random.Random(n)
        chosen = rng.sample(range(1, n + 1), changes)
        changed_at: dict[str, float] = {}
        for k, index in enumerate(chosen):
            await sleep_until(tb + k * CADENCE_STEADY / changes)
            stage.sim.set_status(stage.ids[index], CHANGED)
            changed_at[_name(index)] = time.time()
        tc = time.time() + CADENCE_STEADY * (1 + JITTER) + 3.0
        await sleep_until(tc)
        cpu_c = stage.probe.cpu()
        writes = stage.cluster.writes_between(tb, tc, status_only=False)
        figures.changes = changes
        figures.change_writes = len(writes)
        figures.change_writes_other = sum(1 for w in writes if w.name not in changed_at)
        for name, at in changed_at.items():
            after = [w.time for w in writes if w.name == name and w.status and w.time >= at]
            if after:
                figures.latencies.append(min(after) - at)
        missing = changes - len(figures.latencies)
        if missing:
            figures.notes.append(f"{missing} changes never reached a status")
        steady_window(stage, figures, ta, tc, cpu_c - cpu_a)
        figures.peak_rss_mb = stage.probe.peak_rss_mb()
        figures.end_rss_mb = stage.probe.rss_mb()
        figures.notes.extend(await scrape_metrics(metrics_port))
        figures.exit_code = await stage.stop_process()
    return figures


async def scrape_metrics(port: int) -> list[str]:
    """A few of the operator's own counters, as a cross-check line."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.HTTPError:
        return []
    wanted = ("drs_operator_status_writes_total", "drs_operator_jobs_refreshed_total",
              "drs_operator_events_total", "drs_operator_throttled_total")  # fmt: skip
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        if base in wanted:
            sums[name] = sums.get(name, 0.0) + float(value)
    return ["operator metrics: " + ", ".join(f"{k}={v:g}" for k, v in sorted(sums.items()))]


async def run_naive(n: int, workdir: Path, say: Callable[[str], None]) -> Figures:
    figures = Figures("naive", n)
    async with Stage(n, workdir, seed=n + 1) as stage:
        argv = [
            sys.executable, str(HERE / "naive_operator.py"), "--namespace", NAMESPACE,
            "--sim-url", stage.sim_url, "--token", TOKEN, "--project", PROJECT,
            "--interval", f"{CADENCE_STEADY:g}",
        ]  # fmt: skip
        await stage.start_process(argv)
        assert stage.probe is not None
        if not await stage.canary():
            figures.notes.append("the naive peer never wrote the canary's status")
            say(stage.log_tail())
            return figures
        say(f"  naive N={n}: peer ready; creating {n} DrsJobs")
        timeout = NAIVE_CONVERGENCE_TIMEOUT.get(n, 100.0)
        await converge(stage, figures, timeout)
        say(f"  naive N={n}: {figures.converged}/{n} with a status after "
            f"{figures.bench_wall:.1f}s; one {CADENCE_STEADY:g}s tick window")  # fmt: skip
        ta, tb, _ = await quiet_window(stage, figures, settle=1.0)
        steady_window(stage, figures, ta, tb, figures.quiet_cpu)
        figures.peak_rss_mb = stage.probe.peak_rss_mb()
        figures.end_rss_mb = stage.probe.rss_mb()
        figures.exit_code = await stage.stop_process()
    return figures


# -- the report -----------------------------------------------------------------------------------


def _sat(f: Figures, text: str) -> str:
    """A figure of a peer that never converged is marked: it was saturated, not quiet."""
    return text if f.converged == f.n else f"{text} (saturated)"


def build_rows(ours: dict[int, Figures], naive: dict[int, Figures]) -> tuple[list[str], list[Row]]:
    sizes = sorted(ours)
    heads = [f"ours N={n:,}" for n in sizes] + [f"naive N={n:,}" for n in sorted(naive)]
    heads += [f"ours/naive N={n:,}" for n in sizes if n in naive]
    cols = [ours[n] for n in sizes] + [naive[n] for n in sorted(naive)]
    both = [n for n in sizes if n in naive]
    conv_limit = {1000: 20.0, 10000: 120.0}

    def steady(get: Callable[[Figures], float]) -> Callable[[Figures, Figures], str]:
        """Ours / naive of a steady-cycle figure; n/a when the peer never reached one."""
        return lambda a, b: _ratio(get(a), get(b)) if b.converged == b.n else "n/a"

    def row(
        label: str,
        value: Callable[[Figures], str],
        ratio: Callable[[Figures, Figures], str] | None = None,
        target: str = "",
        check: Callable[[Figures], bool | None] | None = None,
    ) -> Row:
        cells = [value(f) for f in cols]
        cells += [ratio(ours[n], naive[n]) if ratio else "" for n in both]
        met = ""
        if check is not None:
            verdicts = [check(ours[n]) for n in sizes]
            known = [v for v in verdicts if v is not None]
            met = _met(all(known)) if known else ""
        return Row(label, cells, target, met)

    rows = [
        row("convergence of N new DrsJobs (s)",
            lambda f: _f(f.converge_s) if f.converged == f.n
            else f"{f.converged}/{f.n} in {_f(f.bench_wall, '.0f')}s",
            target="≤ 20 s (1k), ≤ 120 s (10k)",
            check=lambda f: f.converge_s <= conv_limit.get(f.n, math.inf)),
        row("calls during convergence / ceil(N/10)",
            lambda f: f"{f.conv_calls} / {math.ceil(f.n / BATCH_SIZE)}"),
        row("calls in one steady cycle (one cadence)", lambda f: _sat(f, str(f.cycle_calls)),
            steady(lambda f: f.cycle_calls)),
        row("job-refreshes (IDs) in that cycle", lambda f: _sat(f, str(f.cycle_ids))),
        row("calls / ideal ceil(IDs due / 10)", lambda f: _sat(f, _f(f.call_ratio, ".3f")),
            target="≤ 1.05", check=lambda f: f.call_ratio <= 1.05),
        row("calls per job-refresh", lambda f: _sat(f, _f(f.calls_per_refresh, ".3f")),
            steady(lambda f: f.calls_per_refresh)),
        row("IDs per call: mean / max",
            lambda f: _sat(f, f"{_f(f.ids_mean, '.2f')} / {f.ids_max}"),
            target="mean ≥ 9.5", check=lambda f: f.ids_mean >= 9.5),
        row("status writes in quiet window (one cadence)",
            lambda f: _sat(f, str(f.quiet_writes)),
            steady(lambda f: f.quiet_writes),
            target="0", check=lambda f: f.quiet_writes == 0),
        row("status writes for K cloud changes",
            lambda f: f"{f.change_writes} for K={f.changes}" if f.changes else "n/a",
            target="exactly K",
            check=lambda f: f.change_writes == f.changes and f.change_writes_other == 0),
        row("writes per job-refresh (steady)", lambda f: _sat(f, _f(f.writes_per_refresh, ".4f")),
            steady(lambda f: f.writes_per_refresh)),
        row(f"propagation p50 / p99 (s), cadence {CADENCE_STEADY:g}s",
            lambda f: f"{_f(percentile(f.latencies, 50))} / {_f(percentile(f.latencies, 99))}"
            if f.latencies else "n/a",
            target=f"p99 ≤ {CADENCE_STEADY + 2:g} s",
            check=lambda f: percentile(f.latencies, 99) <= CADENCE_STEADY + 2),
        row("CPU s per 1,000 job-refreshes (quiet window)",
            lambda f: _f(f.cpu_per_1000, ".3f") if f.converged == f.n else "n/a (saturated)",
            steady(lambda f: f.cpu_per_1000),
            target="≤ 1/10 of naive"),
        row("CPU s per 1,000 job-refreshes (quiet + changes)",
            lambda f: _f(f.cpu_per_1000_steady, ".3f") if f.changes else "n/a"),
        row("CPU s / job-refreshes during convergence",
            lambda f: f"{_f(f.conv_cpu, '.1f')} / {f.conv_ids}",
            lambda a, b: _ratio(a.conv_cpu_per_1000, b.conv_cpu_per_1000)),
        row("peak RSS / RSS at end (MB)",
            lambda f: f"{_f(f.peak_rss_mb, '.0f')} / {_f(f.end_rss_mb, '.0f')}",
            lambda a, b: _ratio(a.peak_rss_mb, b.peak_rss_mb, ".2f"),
            target="peak ≤ 200 MB at 10k",
            check=lambda f: f.peak_rss_mb <= 200 if f.n >= 10000 else None),
        row("emulator: requests served during convergence (per s)",
            lambda f: f"{f.emulator_served} ({_f(f.emulator_served / f.bench_wall, '.0f')}/s)"),
        row("bench process: CPU s / wall s during convergence",
            lambda f: f"{_f(f.bench_cpu)} / {_f(f.bench_wall)}"),
        row("bench process CPU ms per emulator request (upper bound)",
            lambda f: _f(f.bench_cpu * 1000 / f.emulator_served, ".2f")
            if f.emulator_served else "n/a"),
    ]  # fmt: skip
    # CPU ratio target checked against the naive peer at the same N.
    cpu_row = next(r for r in rows if r.label.startswith("CPU s per 1,000 job-refreshes (quiet"))
    verdicts = [
        ours[n].cpu_per_1000 <= naive[n].cpu_per_1000 / 10
        for n in both
        if naive[n].converged == n
        and not math.isnan(ours[n].cpu_per_1000)
        and not math.isnan(naive[n].cpu_per_1000)
    ]
    cpu_row.met = _met(all(verdicts)) if verdicts else ""
    return heads, rows


def settings_text(naive_sizes: Iterable[int], changes: int) -> list[str]:
    return [
        f"Operator: `drs-operator run -n {NAMESPACE} {' '.join(OPERATOR_ARGS)}` (everything "
        "else default: --max-concurrency 4, --write-concurrency 8, events on, log level info). "
        f"The rate limit is raised from the default 5 to {RATE_LIMIT:g} calls/s because one "
        f"connection serves all N jobs: at 5 calls/s x {BATCH_SIZE} IDs, 10,000 jobs cannot be "
        "read in under 200 s.",
        f"Tasks: one project, token auth, all in `{STEADY}` (steady, cadence "
        f"{CADENCE_STEADY:g}s ± {JITTER:.0%}); the K={changes} changes set `{CHANGED}` on K "
        f"random tasks, one every {CADENCE_STEADY / changes:.2f}s over one cadence; latency = "
        "the emulator receiving that DrsJob's status patch minus the simulator change.",
        "Naive peer: `bench/naive_operator.py` (kopf, one timer per DrsJob with interval "
        f"{CADENCE_STEADY:g}s, one ID per call, status patched every tick; kopf event posting "
        f"off) on N = {', '.join(f'{n:,}' for n in naive_sizes)} with its own simulator and "
        "emulator; measured over one tick interval after it converged (or after its time "
        "limit), per job-refresh; a peer that did not converge is marked saturated. CPU per "
        "job-refresh is taken over the quiet window (one cadence, no cloud change) for both.",
        "A DrsJob counts as converged at the first status patch the emulator received for it. "
        "Emulator cost: the bench process's CPU (psutil) per request the emulator served during "
        "convergence, an upper bound: the same process also runs the simulator and the driver.",
    ]


def write_docs(
    path: Path,
    *,
    facts: dict[str, str],
    command: str,
    heads: list[str],
    rows: list[Row],
    notes: list[str],
    settings: list[str],
    elapsed: float,
    sections: list[str],
) -> None:
    body = [
        "# Performance",
        "",
        "<!-- Generated by bench/run.py (`make bench`); do not edit by hand. -->",
        "",
        f"Command: `{command}` — total run time {elapsed / 60:.1f} min.",
        "",
        f"Machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory']}, {facts['os']}, "
        f"Python {facts['python']}; run on {facts['date']}.",
        "",
        "Two sections: one connection with 1,000 and 10,000 DrsJobs on one fixed cadence "
        "(Set-up and Results), then small clusters: several connections of a few dozen "
        "DrsJobs on the adaptive cadence.",
        "",
        "## Set-up",
        "",
        *[f"- {line}" for line in settings],
        "",
        "## Results",
        "",
        render_markdown(heads, rows),
        "",
        'Ratios are ours / naive at the same N (lower is better). "MISSED" marks a target '
        "the run did not meet.",
        "",
        *sections,
    ]
    if notes:
        body += ["## Notes from this run", "", *[f"- {n}" for n in notes], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body), encoding="utf-8")


async def main(args: argparse.Namespace, out: TextIO) -> int:
    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    # A peer stopped mid-request makes aiohttp log a traceback: expected, not a finding.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    started = time.monotonic()
    facts = machine()
    say(f"bench: {facts['cores']} cores, {facts['memory']}, Python {facts['python']}")
    workroot = Path(tempfile.mkdtemp(prefix="drs-bench-"))
    large = args.only in (None, "large")
    ours: dict[int, Figures] = {}
    naive: dict[int, Figures] = {}
    section: small.Section | None = None
    try:
        steps = [("ours", n) for n in args.sizes] + [("naive", n) for n in args.naive_sizes]
        for who, n in steps if large else []:
            workdir = workroot / f"{who}-{n}"
            workdir.mkdir()
            say(f"{who} N={n:,}: starting (elapsed {time.monotonic() - started:.0f}s)")
            if who == "ours":
                figures = await run_ours(n, args.changes, workdir, say)
            else:
                figures = await run_naive(n, workdir, say)
            (ours if who == "ours" else naive)[n] = figures
            for note in figures.notes:
                say(f"  note: {note}")
        if args.only in (None, "small"):
            say(f"small clusters: starting (elapsed {time.monotonic() - started:.0f}s)")
            section = await small.run_section(
                window=args.small_window,
                interval_window=args.small_interval_window,
                changes=args.small_changes,
                spread=args.small_spread,
                workroot=workroot,
                say=say,
                dump_to=args.small_dump,
                scale=args.small_scale,
            )
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    elapsed = time.monotonic() - started
    heads, rows = build_rows(ours, naive)
    settings = settings_text(args.naive_sizes, args.changes)
    notes = [f"{f.who} N={f.n:,}: {note}" for f in [*ours.values(), *naive.values()]
             for note in f.notes]  # fmt: skip
    if large:
        say("")
        say(render_text(heads, rows))
        say("")
        for line in settings:
            say("- " + line)
    if section is not None:
        notes += [f"small clusters, {note}" for note in section.notes()]
        say("")
        say(section.text())
        for line in section.settings():
            say("- " + line)
    say(f"total {elapsed / 60:.1f} min")
    if args.docs and large and section is not None:
        command = (
            "make bench  (.venv/bin/python bench/run.py"
            + "".join(" " + part for part in args.shown_argv)
            + ")"
        )
        write_docs(
            args.docs_to,
            facts=facts,
            command=command,
            heads=heads,
            rows=rows,
            notes=notes,
            settings=settings,
            elapsed=elapsed,
            sections=section.markdown(),
        )
        say(f"wrote {args.docs_to}")
    elif args.docs:
        say("docs/performance.md not written: it holds every section (run without --only)")
    return 0


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=[1000, 10000])
    parser.add_argument("--naive-sizes", type=_sizes, default=[1000, 10000])
    parser.add_argument("--changes", type=int, default=100, help="K cloud-side changes")
    parser.add_argument("--no-docs", dest="docs", action="store_false")
    parser.add_argument(
        "--docs-to",
        type=Path,
        default=ROOT / "docs" / "performance.md",
        metavar="FILE",
        help="where the generated page goes (default docs/performance.md)",
    )
    parser.add_argument(
        "--only",
        choices=("large", "small"),
        default=None,
        help="run one section only (docs/performance.md is not written)",
    )
    parser.add_argument(
        "--small-window",
        type=float,
        default=240.0,
        help="seconds of the mixed small regime's window",
    )
    parser.add_argument(
        "--small-interval-window",
        type=float,
        default=120.0,
        help="seconds of the all-refreshInterval small case's window",
    )
    parser.add_argument(
        "--small-changes",
        type=int,
        default=40,
        help="K cloud changes in the mixed window (pro rata in the other)",
    )
    parser.add_argument(
        "--small-spread",
        type=float,
        default=None,
        help="seconds over which the small cases create their DrsJobs "
        "(default one scaled steady cadence: 15)",
    )
    parser.add_argument(
        "--small-scale",
        type=float,
        default=small.SCALE,
        help="the small cases' cadences are the defaults times this",
    )
    parser.add_argument(
        "--small-dump",
        type=Path,
        default=None,
        metavar="FILE",
        help="write every call of the small windows to FILE (TSV)",
    )
    args = parser.parse_args(argv)
    # The command the page names: where the page was written to is not part of the run.
    shown = list(argv)
    for flag in ("--docs-to", "--small-dump"):
        if flag in shown:
            del shown[shown.index(flag) : shown.index(flag) + 2]
    hidden = ("--docs-to=", "--small-dump=")
    args.shown_argv = [part for part in shown if not part.startswith(hidden)]
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]), sys.stdout)))
