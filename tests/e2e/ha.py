"""Helpers of the high-availability end-to-end tests: replicas told apart, DRS calls by replica.

Every replica is a real ``drs-operator run`` process started by the harness's
``operator_process`` factory, with leader election on, ``POD_NAME`` set to
its name (its holder identity, and in its User-Agent), and its own default
credentials Secret naming its own cloud project. The DrsJobs name no
Secret, so each replica's batch-detail calls go to ``/v3/<its project>/``:
the simulator's request log tells which replica made each call, on the
emulator and on a real cluster alike. The tasks themselves belong to no
project, so every project sees them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from drs_operator.sandbox.simulator import RequestRecord, Simulator

from .conftest import Cluster, OperatorFactory, OperatorProcess, metric_value

TOKEN = "ha-token"
STEADY, OTHER = "INCRE_TRANSFER_STARTED", "FULL_TRANSFER_COMPLETE"
LEASE = "drs-operator-ha"


@dataclass
class Replica:
    """One operator process, its holder identity and the project its calls go to."""

    name: str
    project: str
    proc: OperatorProcess

    def calls(self, sim: Simulator, *, after: float = 0.0) -> list[RequestRecord]:
        """Its batch-detail calls the simulator answered (``time`` after ``after``)."""
        return calls_of(sim, self.project, after=after)

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(self.proc.metrics_url)
            response.raise_for_status()
            return response.text

    async def leading(self) -> bool:
        """Whether it says it leads (False while its metrics server is not up yet)."""
        try:
            return metric_value(await self.metrics(), "drs_operator_leader", required=False) == 1.0
        except httpx.TransportError:
            return False

    async def ready(self) -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{self.proc.health_url}/readyz")).status_code


def calls_of(sim: Simulator, project: str, *, after: float = 0.0) -> list[RequestRecord]:
    prefix = f"/v3/{project}/"
    return [
        r
        for r in sim.stats.requests
        if r.path.startswith(prefix) and r.path.endswith("/batch-detail") and r.time > after
    ]


def ids_asked(calls: Iterable[RequestRecord]) -> set[str]:
    return {job_id for call in calls for job_id in call.ids}


def project_of(name: str) -> str:
    """A 32-character project ID of its own for each replica name."""
    return (name.encode().hex() + "0" * 32)[:32]


def lease_args(
    namespace: str,
    *,
    lease: str = LEASE,
    duration: str = "3s",
    deadline: str = "2s",
    retry: str = "0.5s",
) -> tuple[str, ...]:
    return (
        "--leader-election",
        "--lease-namespace", namespace,
        "--lease-name", lease,
        "--lease-duration", duration,
        "--renew-deadline", deadline,
        "--retry-period", retry,
    )  # fmt: skip


async def start_replica(
    cluster: Cluster,
    sim: Simulator,
    operator_process: OperatorFactory,
    name: str,
    *args: str,
) -> Replica:
    """A replica: its credentials Secret (its own project), then its process."""
    project = project_of(name)
    await cluster.create_secret(
        f"creds-{name}",
        {"endpoint": sim.url, "projectId": project, "region": "xx-test-1", "token": TOKEN},
    )
    proc = await operator_process(
        "--default-credentials", f"creds-{name}", *args, env={"POD_NAME": name}
    )
    return Replica(name=name, project=project, proc=proc)


async def add_jobs(
    cluster: Cluster, sim: Simulator, names: Sequence[str], labels: dict[str, str] | None = None
) -> dict[str, str]:
    """One steady task (in no project: every replica sees it) and one DrsJob per name."""
    sim.add_token(TOKEN)  # any project
    jobs = {}
    for name in names:
        jobs[name] = sim.add_job(status=STEADY)
        await cluster.create_drsjob(name, {"jobId": jobs[name]}, labels=labels)
    return jobs


def refresh_times(sim: Simulator, job_id: str) -> list[float]:
    """When the simulator was asked about ``job_id`` (any project), in order."""
    return sorted(
        r.time for r in sim.stats.requests if job_id in r.ids and r.path.endswith("batch-detail")
    )


def now() -> float:
    """The simulator's clock (``time.time``): the times in its request log."""
    return time.time()
