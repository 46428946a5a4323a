"""Bench plumbing: a timed emulator, process sampling, percentiles, machine facts.

Nothing here knows which operator runs: :mod:`run` drives both ours and the
naive peer through these pieces.

- :class:`TimedCluster` is the project's ``EmulatedCluster`` (not modified)
  with two wrappers: every status write is stamped with the wall-clock time
  at which the emulator received it (for propagation latency and exact write
  counts per window), and the time spent inside its request handler is
  accumulated (watch streams excluded), to show what the emulator costs;
  the time each resource's first watch was opened is kept too (a client is
  watching: DrsJobs created from then on are seen as they come).
- :class:`ProcessProbe` reads a subprocess's CPU seconds (user + system) and
  peak RSS (``VmHWM`` from ``/proc``) from the OS.
"""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from drs_operator.sandbox.emulator import EmulatedCluster, RecordedRequest

STATUS_WRITE_METHODS = frozenset({"PATCH", "PUT"})


@dataclass(frozen=True)
class Write:
    """A write to a DrsJob as the emulator received it."""

    time: float  # time.time()
    name: str
    status: bool  # to the /status subresource


class _TimedHandler:
    """Wraps the emulator's kmock handler: accumulates time spent serving requests."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0  # wall time inside non-watch requests (an upper bound of CPU)
        self.served = 0

    async def __aenter__(self) -> Any:
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: object) -> Any:
        return await self.inner.__aexit__(*exc)

    async def __call__(self, raw: Any) -> Any:
        if raw.query.get("watch") in ("true", "1"):
            return await self.inner(raw)
        start = time.perf_counter()
        try:
            return await self.inner(raw)
        finally:
            self.seconds += time.perf_counter() - start
            self.served += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TimedCluster(EmulatedCluster):
    """``EmulatedCluster`` that timestamps DrsJob writes and measures its own serving time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timed: _TimedHandler | None = None
        self.writes: list[Write] = []
        self.first_status: dict[str, float] = {}  # name -> time of its first status write
        self.watch_opened: dict[str, float] = {}  # resource plural -> time of its first watch
        record = self.log.record

        def stamped(entry: RecordedRequest) -> None:
            record(entry)
            if entry.method == "GET" and entry.query.get("watch") in ("true", "1"):
                self.watch_opened.setdefault(entry.resource or "", time.time())
            if entry.resource == "drsjobs" and entry.method in STATUS_WRITE_METHODS and entry.name:
                now = time.time()
                is_status = entry.subresource == "status"
                self.writes.append(Write(now, entry.name, is_status))
                if is_status:
                    self.first_status.setdefault(entry.name, now)

        self.log.record = stamped  # type: ignore[method-assign]

    @property
    def handler(self) -> Any:
        inner = super().handler
        if self._timed is None:
            self._timed = _TimedHandler(inner)
        return self._timed

    @property
    def serving_seconds(self) -> float:
        return self._timed.seconds if self._timed else 0.0

    @property
    def served(self) -> int:
        return self._timed.served if self._timed else 0

    def writes_between(self, start: float, end: float, *, status_only: bool = True) -> list[Write]:
        return [w for w in self.writes if start <= w.time < end and (w.status or not status_only)]


class ProcessProbe:
    """CPU seconds and peak RSS of one process, from the OS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._process = psutil.Process(pid)
        self.last_cpu = 0.0
        self.last_hwm = 0

    def cpu(self) -> float:
        try:
            times = self._process.cpu_times()
            self.last_cpu = times.user + times.system
        except psutil.Error:
            pass
        return self.last_cpu

    def peak_rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self.last_hwm = int(line.split()[1])  # kB
        except OSError:
            pass
        return self.last_hwm / 1024

    def rss_mb(self) -> float:
        try:
            return float(self._process.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict[str, str]:
    """Cores, memory, CPU model, OS and Python, as facts for the report."""
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    free = subprocess.run(["free", "-m"], capture_output=True, text=True, check=False).stdout
    total_mb = next((line.split()[1] for line in free.splitlines() if line.startswith("Mem:")), "?")
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": cores or str(os.cpu_count()),
        "memory": f"{total_mb} MiB (free -m)",
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
