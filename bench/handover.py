"""``make bench`` (second part): a leader handover, measured.

Two ``drs-operator run --leader-election`` processes (the production lease
settings unless told otherwise: 15 s / 10 s / 2 s) share one Lease, with N
DrsJobs (default 1,000) on a steady cadence (20 s, as ``bench/run.py``), on
the Kubernetes API emulator and the DRS simulator in this process. Each
replica has its own default credentials naming its own cloud project, so the
simulator's request log says which replica made each batch-detail call.

For each scenario (``kill``: SIGKILL of the leader, no release; ``term``:
SIGTERM, the leader finishes its work and releases the Lease) it measures:

- takeover: time from the kill to the first batch-detail call of the new
  leader, and to the moment every DrsJob was refreshed by it;
- the longest time a DrsJob went unrefreshed across the handover;
- DRS calls per refresh cycle around the handover, by replica (before: the
  old leader's cycles; after: the new leader's sweep of every job, then its
  steady cycles), and whether any call of the old leader came after the new
  leader's first (doubled calls);
- the DrsJobs refreshed again within half a cadence of their previous
  refresh (the new leader's first sweep, early for jobs refreshed just before);
- CPU seconds and RSS of the leader and the standby over a steady window
  (what a standby costs).

It prints a table and writes ``docs/handover.md`` (``--no-docs``: print only).
Options: ``--jobs 1000 --cadence 20 --lease 15 --renew 10 --retry 2
--scenarios kill,term``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from drs_operator.sandbox.emulator import EmulatedCluster  # noqa: E402
from drs_operator.sandbox.objects import secret  # noqa: E402
from drs_operator.sandbox.simulator import RequestRecord, Simulator  # noqa: E402
from harness import ProcessProbe, free_port, machine  # noqa: E402

NAMESPACE = "bench"
LEASE = "drs-operator"
TOKEN = "handover-token"
STEADY = "INCRE_TRANSFER_STARTED"
CREATE_CHUNK = 500


@dataclass
class Replica:
    name: str
    project: str
    process: asyncio.subprocess.Process
    metrics_port: int
    log_path: Path
    probe: ProcessProbe

    def calls(self, sim: Simulator) -> list[RequestRecord]:
        prefix = f"/v3/{self.project}/"
        return [
            r
            for r in sim.stats.requests
            if r.path.startswith(prefix) and r.path.endswith("/batch-detail")
        ]

    async def leading(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                text = (await http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        except httpx.TransportError:
            return False
        return any(
            line.startswith("drs_operator_leader{") and line.endswith(" 1.0")
            for line in text.splitlines()
        )


@dataclass
class Result:
    """What one scenario measured."""

    scenario: str
    jobs: int
    cadence: float
    lease: float
    retry: float
    first_call_s: float = math.nan  # kill -> first call of the new leader
    all_refreshed_s: float = math.nan  # kill -> every job refreshed by the new leader
    lease_acquired_s: float = math.nan  # kill -> the new leader's acquireTime
    worst_gap_s: float = math.nan  # longest time a job went unrefreshed across the handover
    # refresh cycles (bursts of calls): start relative to the kill, replica, calls, IDs
    cycles: list[tuple[float, str, int, int]] = field(default_factory=list)
    old_after_new: int = 0  # calls of the old leader after the new leader's first call
    sweep_ids: int = 0  # IDs the new leader asked in its first cycle
    sweep_unique: int = 0
    early: int = 0  # jobs refreshed again within half a cadence of their previous refresh
    leader_cpu: float = math.nan  # CPU s over one steady cadence
    standby_cpu: float = math.nan
    leader_rss: float = math.nan  # MB
    standby_rss: float = math.nan
    exit_code: int | None = None


async def _start(name: str, kubeconfig: Path, workdir: Path, args: argparse.Namespace) -> Replica:
    project = (name.encode().hex() + "0" * 32)[:32]
    metrics_port, health_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "drs_operator", "run", "-n", NAMESPACE,
        "--default-credentials", f"creds-{name}",
        "--leader-election", "--lease-name", LEASE, "--lease-namespace", NAMESPACE,
        "--lease-duration", f"{args.lease:g}s", "--renew-deadline", f"{args.renew:g}s",
        "--retry-period", f"{args.retry:g}s",
        "--cadence-steady", f"{args.cadence:g}s", "--jitter", "0.1",
        "--rate-limit", "100", "--rate-burst", "10",
        "--metrics-port", str(metrics_port), "--health-port", str(health_port),
        "--bind-address", "127.0.0.1", "--log-level", "info",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRS_OPERATOR_")}
    env.update(KUBECONFIG=str(kubeconfig), POD_NAME=name, PYTHONUNBUFFERED="1")
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=log, stderr=asyncio.subprocess.STDOUT, env=env,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    return Replica(name, project, process, metrics_port, log_path, ProcessProbe(process.pid))


async def _until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate() if callable(predicate) else predicate
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(0.1)


async def run_scenario(scenario: str, args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(scenario, args.jobs, args.cadence, args.lease, args.retry)
    sim = Simulator(seed=3)
    sim.add_token(TOKEN)
    await sim.start()
    cluster = EmulatedCluster()
    await cluster.start()
    kubeconfig = cluster.write_kubeconfig(workdir / f"kubeconfig-{scenario}", namespace=NAMESPACE)
    replicas: list[Replica] = []
    try:
        for name in ("op-a", "op-b"):
            project = (name.encode().hex() + "0" * 32)[:32]
            data = {"token": TOKEN, "projectId": project, "endpoint": sim.url, "region": "xx-1"}
            cluster.create(secret(f"creds-{name}", NAMESPACE, data))
        ids = [sim.add_job(status=STEADY) for _ in range(args.jobs)]
        for index, job_id in enumerate(ids):
            cluster.create({
                "apiVersion": "drs.operators.dev/v1alpha1", "kind": "DrsJob",
                "metadata": {"name": f"job-{index:05d}", "namespace": NAMESPACE},
                "spec": {"jobId": job_id},
            }, validate=True)  # defaulted as a real API server stores it  # fmt: skip
            if index % CREATE_CHUNK == 0:
                await asyncio.sleep(0)
        a = await _start("op-a", kubeconfig, workdir, args)
        replicas.append(a)
        await _until(a.leading, 60, "op-a leads")
        b = await _start("op-b", kubeconfig, workdir, args)
        replicas.append(b)

        def converged() -> bool:
            done = sum(1 for o in cluster.list("drsjobs", NAMESPACE) if o.get("status"))
            return done == args.jobs

        await _until(converged, 240, "every DrsJob has a status")
        await _until(lambda: "is held by op-a" in b.log_path.read_text(), 60, "op-b stands by")
        # One steady cadence as the baseline, measuring both processes' cost.
        cpu_a, cpu_b = a.probe.cpu(), b.probe.cpu()
        await asyncio.sleep(args.cadence)
        result.leader_cpu = a.probe.cpu() - cpu_a
        result.standby_cpu = b.probe.cpu() - cpu_b
        result.leader_rss, result.standby_rss = a.probe.rss_mb(), b.probe.rss_mb()
        await asyncio.sleep(args.cadence)

        killed = time.time()
        if scenario == "kill":
            a.process.kill()
        else:
            a.process.send_signal(signal.SIGTERM)
        result.exit_code = await asyncio.wait_for(a.process.wait(), 60)
        await _until(lambda: b.calls(sim), args.lease + 6 * args.cadence, "the new leader calls")
        first = b.calls(sim)[0].time
        result.first_call_s = first - killed

        def swept() -> bool:
            return {i for c in b.calls(sim) for i in c.ids} >= set(ids)

        await _until(swept, 6 * args.cadence, "every job refreshed by the new leader")
        result.all_refreshed_s = (
            max(min(c.time for c in b.calls(sim) if job_id in c.ids) for job_id in ids) - killed
        )
        lease = cluster.get("leases", NAMESPACE, LEASE) or {}
        acquired = (lease.get("spec") or {}).get("acquireTime")
        if acquired:
            from datetime import datetime

            stamp = datetime.fromisoformat(acquired.replace("Z", "+00:00")).timestamp()
            result.lease_acquired_s = stamp - killed
        await asyncio.sleep(3 * args.cadence)

        old_calls, new_calls = a.calls(sim), b.calls(sim)
        result.old_after_new = sum(1 for c in old_calls if c.time >= first)
        sweep = [c for c in new_calls if c.time < first + args.cadence * 0.8]
        asked = [i for c in sweep for i in c.ids]
        result.sweep_ids, result.sweep_unique = len(asked), len(set(asked))
        result.cycles = _cycles(
            [(c, "old") for c in old_calls if c.time >= killed - 2.5 * args.cadence]
            + [(c, "new") for c in new_calls],
            killed,
            gap=args.cadence / 4,
        )
        times: dict[str, list[float]] = {}
        for call in sim.stats.requests:
            for job_id in call.ids:
                times.setdefault(job_id, []).append(call.time)
        gaps = []
        for job_id in ids:
            seen = sorted(times.get(job_id, []))
            before = [t for t in seen if t <= killed]
            after = [t for t in seen if t > killed]
            if before and after:
                gaps.append(after[0] - before[-1])
                if after[0] - before[-1] < args.cadence / 2:
                    result.early += 1
        result.worst_gap_s = max(gaps) if gaps else math.nan
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(replica.process.wait(), 20)
                except TimeoutError:
                    replica.process.kill()
                    await replica.process.wait()
        await cluster.stop()
        await sim.stop()
    return result


def _cycles(
    calls: list[tuple[RequestRecord, str]], origin: float, *, gap: float
) -> list[tuple[float, str, int, int]]:
    """The calls grouped into refresh cycles: bursts separated by more than ``gap`` seconds
    (with 1,000 DrsJobs a cycle's 100 calls take about a second, then none for a cadence)."""
    cycles: list[tuple[float, str, int, int]] = []
    burst: list[tuple[RequestRecord, str]] = []
    for call, who in sorted(calls, key=lambda item: item[0].time):
        if burst and (call.time - burst[-1][0].time > gap or who != burst[-1][1]):
            cycles.append(_summary(burst, origin))
            burst = []
        burst.append((call, who))
    if burst:
        cycles.append(_summary(burst, origin))
    return cycles


def _summary(burst: list[tuple[RequestRecord, str]], origin: float) -> tuple[float, str, int, int]:
    ids = {job_id for call, _ in burst for job_id in call.ids}
    return (burst[0][0].time - origin, burst[0][1], len(burst), len(ids))


def report(results: list[Result], args: argparse.Namespace, took: float) -> str:
    facts = machine()
    lines = [
        "# Leader handover",
        "",
        "<!-- Generated by bench/handover.py (`make bench`); do not edit by hand. -->",
        "",
        f"Command: `.venv/bin/python bench/handover.py --jobs {args.jobs} --cadence "
        f"{args.cadence:g} --lease {args.lease:g} --renew {args.renew:g} --retry "
        f"{args.retry:g}` — run time {took / 60:.1f} min.",
        "",
        f"Machine: {facts['cores']} cores ({facts['cpu']}), {facts['memory']}, {facts['os']}, "
        f"Python {facts['python']}; run on {facts['date']}.",
        "",
        "Two replicas with leader election share one Lease (lease duration "
        f"{args.lease:g} s, renew deadline {args.renew:g} s, retry period {args.retry:g} s); "
        f"{args.jobs:,} DrsJobs whose tasks are steady (cadence {args.cadence:g} s ± 10 %), "
        "batch size 10, rate limit 100 calls/s; the Kubernetes API emulator and the DRS "
        "simulator on loopback. `kill`: SIGKILL of the leader (the Lease must expire); "
        "`term`: SIGTERM (in-flight work finishes, the Lease is released).",
        "",
        "| figure | " + " | ".join(r.scenario for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("old leader's exit code", [str(r.exit_code) for r in results])
    row("kill → Lease acquired by the standby (s)", [f"{r.lease_acquired_s:.2f}" for r in results])
    row("kill → first DRS call of the new leader (s)", [f"{r.first_call_s:.2f}" for r in results])
    row("kill → every DrsJob refreshed by it (s)", [f"{r.all_refreshed_s:.2f}" for r in results])
    row("longest a DrsJob went unrefreshed (s)", [f"{r.worst_gap_s:.2f}" for r in results])
    row("old leader's calls after the new leader's first", [str(r.old_after_new) for r in results])
    row(
        "new leader's first cycle: IDs asked / distinct",
        [f"{r.sweep_ids} / {r.sweep_unique}" for r in results],
    )
    row(
        "DrsJobs refreshed again within half a cadence (the sweep)",
        [f"{r.early} of {r.jobs}" for r in results],
    )
    row("CPU s per cadence: leader / standby", [
        f"{r.leader_cpu:.2f} / {r.standby_cpu:.2f}" for r in results
    ])  # fmt: skip
    row("RSS MB: leader / standby", [
        f"{r.leader_rss:.0f} / {r.standby_rss:.0f}" for r in results
    ])  # fmt: skip
    lines += [
        "",
        "DRS calls per refresh cycle across the handover (a cycle: a burst of calls; its "
        "start relative to the signal, which replica made it, calls, distinct tasks asked):",
        "",
        "| cycle | " + " | ".join(r.scenario for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for index in range(max(len(r.cycles) for r in results)):
        cells = []
        for r in results:
            if index < len(r.cycles):
                start, who, calls, ids = r.cycles[index]
                replica = "old leader" if who == "old" else "new leader"
                cells.append(f"{start:+.1f} s: {replica}, {calls} calls, {ids} tasks")
            else:
                cells.append("")
        row(str(index + 1), cells)
    lines += [
        "",
        f"One steady cycle is ceil({args.jobs:,} / 10) = {math.ceil(args.jobs / 10)} calls. "
        "The new leader refreshes every DrsJob as soon as it leads (a standby refreshes "
        "nothing, so it cannot know which jobs are due): one extra cycle's calls once, at the "
        "handover, which after a SIGTERM refreshes early the jobs the old leader refreshed "
        "within the last half cadence; the old leader makes none after the new leader's "
        "first. Cycles start up to 10 % early (jitter only shortens intervals).",
        "",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="drs-handover-") as tmp:
        for scenario in args.scenarios.split(","):
            print(f"handover: {scenario} ({args.jobs} DrsJobs) ...", flush=True)
            result = await run_scenario(scenario.strip(), args, Path(tmp))
            results.append(result)
            print(
                f"  first call of the new leader {result.first_call_s:.2f}s after the "
                f"{scenario}, every job refreshed after {result.all_refreshed_s:.2f}s, "
                f"longest gap {result.worst_gap_s:.2f}s",
                flush=True,
            )
    text = report(results, args, time.monotonic() - started)
    print(text)
    if not args.no_docs:
        (ROOT / "docs" / "handover.md").write_text(text, encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--cadence", type=float, default=20.0, help="steady cadence, seconds")
    parser.add_argument("--lease", type=float, default=15.0, help="lease duration, seconds")
    parser.add_argument("--renew", type=float, default=10.0, help="renew deadline, seconds")
    parser.add_argument("--retry", type=float, default=2.0, help="retry period, seconds")
    parser.add_argument("--scenarios", default="kill,term")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
