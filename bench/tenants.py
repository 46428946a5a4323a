"""One tenant creates 50,000 DrsJobs: what it costs the operator and the other tenants.

A multi-tenant cluster: namespace ``quiet`` holds a few dozen DrsJobs with
credentials of its own; namespace ``noisy`` then creates N DrsJobs (default
50,000) with other credentials (so another DRS connection). One operator
process watches both (``-A``), with the default rate limit (5 calls/s per
connection) and batch size, and the steady cadence scaled to 20 s.

Measured, before and while the noisy backlog exists:

- the quiet tenant's propagation: a cloud-side change of each of its tasks,
  spread over one cadence, until its status shows it (p50 / p99 / max);
- how far the noisy tenant got (DrsJobs with a status) and its calls;
- the operator's CPU and peak RSS (from the OS).

    .venv/bin/python bench/tenants.py [--noisy 50000] [--quiet 30] [--window 60]

It prints the figures; docs/security.md quotes them (resource exhaustion).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drs_operator.sandbox.objects import secret  # noqa: E402
from drs_operator.sandbox.simulator import Simulator  # noqa: E402
from harness import ProcessProbe, TimedCluster, free_port, percentile  # noqa: E402

STEADY, CHANGED = "INCRE_TRANSFER_STARTED", "PAUSING"
CADENCE = 20.0
PROJECT = "0c4b8a1f2e3d4c5b6a7980e1f2a3b4c5"
TENANTS = {"quiet": "quiet-token", "noisy": "noisy-token"}


class Bench:
    def __init__(self, *, quiet: int, noisy: int, workdir: Path) -> None:
        self.sim = Simulator(seed=7)
        self.cluster = TimedCluster()
        self.workdir = workdir
        self.counts = {"quiet": quiet, "noisy": noisy}
        self.ids: dict[str, list[str]] = {}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        url = await self.sim.start()
        await self.cluster.start()
        self.kubeconfig = self.cluster.write_kubeconfig(self.workdir / "kubeconfig")
        for ns, token in TENANTS.items():
            self.sim.add_token(token, project_id=PROJECT)
            data = {"endpoint": url, "projectId": PROJECT, "token": token}
            self.cluster.create(secret("drs-credentials", ns, data))
            self.ids[ns] = [
                self.sim.add_job(status=STEADY, project_id=PROJECT) for _ in range(self.counts[ns])
            ]

    async def create(self, ns: str) -> float:
        started = time.time()
        for i, job_id in enumerate(self.ids[ns]):
            self.cluster.create(
                {
                    "apiVersion": "drs.operators.dev/v1alpha1",
                    "kind": "DrsJob",
                    "metadata": {"name": f"{ns}-{i:05d}", "namespace": ns},
                    "spec": {"jobId": job_id},
                },
                validate=True,  # defaulted as a real API server stores it
            )
            if i % 500 == 499:
                await asyncio.sleep(0)
        return time.time() - started

    async def run_operator(self) -> None:
        argv = [
            sys.executable, "-m", "drs_operator", "run", "-A",
            "--cadence-steady", f"{CADENCE:g}s", "--cadence-in-progress", "5s",
            "--metrics-port", str(free_port()), "--health-port", str(free_port()),
            "--bind-address", "127.0.0.1", "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        log = open(self.workdir / "operator.log", "wb")  # noqa: ASYNC230
        self.process = await asyncio.create_subprocess_exec(
            *argv, stdout=log, stderr=log, env=env, stdin=asyncio.subprocess.DEVNULL
        )
        log.close()
        self.probe = ProcessProbe(self.process.pid)

    def with_status(self, ns: str) -> int:
        return sum(
            1 for i in range(self.counts[ns]) if f"{ns}-{i:05d}" in self.cluster.first_status
        )

    async def changes(self, *, spread: float, settle: float) -> list[float]:
        """Change every quiet task once over ``spread`` s; propagation latencies."""
        changed: dict[str, float] = {}
        n = self.counts["quiet"]
        start = time.time()
        for i, job_id in enumerate(self.ids["quiet"]):
            await asyncio.sleep(max(0.0, start + i * spread / n - time.time()))
            status = CHANGED if self.sim.job(job_id)["status"] == STEADY else STEADY
            self.sim.set_status(job_id, status)
            changed[f"quiet-{i:05d}"] = time.time()
        await asyncio.sleep(settle)
        latencies = []
        for name, at in changed.items():
            after = [w.time for w in self.cluster.writes if w.name == name and w.time >= at]
            latencies.append(min(after) - at if after else float("inf"))
        return latencies

    def calls(self, token: str, since: float) -> int:
        return sum(
            1
            for r in self.sim.stats.requests
            if r.time >= since and r.path.endswith("/batch-detail") and r.auth_mode == "token"
        )

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 20)
        await self.cluster.stop()
        await self.sim.stop()


def line(label: str, latencies: list[float]) -> str:
    finite = [x for x in latencies if x != float("inf")]
    lost = len(latencies) - len(finite)
    return (
        f"{label}: p50 {percentile(finite, 50):.1f} s, p99 {percentile(finite, 99):.1f} s, "
        f"max {max(finite, default=float('nan')):.1f} s, not seen {lost} of {len(latencies)}"
    )


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="drs-tenants-") as tmp:
        bench = Bench(quiet=args.quiet, noisy=args.noisy, workdir=Path(tmp))
        try:
            await bench.start()
            await bench.run_operator()
            await bench.create("quiet")
            while bench.with_status("quiet") < args.quiet:  # noqa: ASYNC110 (polls the emulator)
                await asyncio.sleep(0.2)
            print(f"quiet tenant: {args.quiet} DrsJobs with a status; cadence {CADENCE:g} s")
            base = await bench.changes(spread=CADENCE, settle=CADENCE + 5)
            print(line("  alone      ", base))
            cpu0, t0 = bench.probe.cpu(), time.time()
            took = await bench.create("noisy")
            print(f"noisy tenant: created {args.noisy} DrsJobs in {took:.1f} s")
            during = []
            end = time.time() + args.window
            while time.time() < end:
                during += await bench.changes(spread=CADENCE, settle=CADENCE + 5)
            print(line("  quiet while the noisy backlog exists", during))
            elapsed = time.time() - t0
            print(
                f"  noisy DrsJobs with a status after {elapsed:.0f} s: "
                f"{bench.with_status('noisy')} of {args.noisy}"
            )
            print(
                f"  operator: CPU {bench.probe.cpu() - cpu0:.1f} s over {elapsed:.0f} s, "
                f"peak RSS {bench.probe.peak_rss_mb():.0f} MB"
            )
        finally:
            await bench.stop()
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--noisy", type=int, default=50_000)
    parser.add_argument("--quiet", type=int, default=30)
    parser.add_argument("--window", type=float, default=60.0, help="seconds of noisy backlog")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse(sys.argv[1:]))))
