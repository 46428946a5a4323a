"""kopf against the emulated cluster, in-process: watch events, status patches, no kopf writes.

This proves the emulator is a usable stand-in for the operator's end-to-end
tests: kopf lists and watches DrsJobs through the kubeconfig, sees ADDED,
MODIFIED and DELETED, and (configured as the operator is: no scanning, no
posting, standalone, only an event handler) writes nothing to the objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kopf
import pytest

from drs_operator.sandbox.emulator import EmulatedCluster

from .conftest import eventually

pytestmark = pytest.mark.e2e

NS = "smoke"
GROUP, VERSION, PLURAL = "drs.operators.dev", "v1alpha1", "drsjobs"


def drsjob(name: str, job_id: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DrsJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"jobId": job_id},
    }


@contextlib.asynccontextmanager
async def kopf_operator(
    kubeconfig: Path, seen: asyncio.Queue[tuple[str, str]]
) -> AsyncIterator[None]:
    """A tiny kopf operator configured as drs-operator configures kopf."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        # Not kopf's default (the `kubernetes` package), which prefers the in-cluster
        # service account over $KUBECONFIG when it runs inside a pod (e.g. in CI).
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def on_event(type: str | None, name: str, **_: Any) -> None:
        seen.put_nowait((str(type), name))

    settings = kopf.OperatorSettings()
    settings.scanning.disabled = True
    settings.posting.enabled = False
    settings.watching.reconnect_backoff = 0.1
    stop, ready = asyncio.Event(), asyncio.Event()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KUBECONFIG", str(kubeconfig))
        task = asyncio.create_task(
            kopf.operator(
                registry=registry,
                settings=settings,
                standalone=True,
                namespaces=[NS],
                stop_flag=stop,
                ready_flag=ready,
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), timeout=10)
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)


async def next_event(seen: asyncio.Queue[tuple[str, str]], wanted: tuple[str, str]) -> None:
    """Wait for one (type, name) event; other events on the way are fine."""
    got: list[tuple[str, str]] = []
    async with asyncio.timeout(10):
        while True:
            event = await seen.get()
            got.append(event)
            if event == wanted:
                return
    raise AssertionError(f"never saw {wanted}; saw {got}")  # pragma: no cover


async def test_kopf_watches_writes_nothing_and_status_patches_land(tmp_path: Path) -> None:
    logging.getLogger("kopf").setLevel(logging.INFO)
    cluster = EmulatedCluster(bookmark_interval=0.5)
    await cluster.start()
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    try:
        cluster.create(
            drsjob("before", "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaajb21")
        )  # exists before kopf starts: from the list
        async with kopf_operator(kubeconfig, seen):
            await next_event(seen, ("None", "before"))  # kopf's type for listed objects

            cluster.create(drsjob("job-1", "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbjb21"))
            await next_event(seen, ("ADDED", "job-1"))

            cluster.patch_spec("drsjobs", NS, "job-1", {"refreshInterval": "30s"})
            await next_event(seen, ("MODIFIED", "job-1"))
            assert cluster.get("drsjobs", NS, "job-1")["metadata"]["generation"] == 2  # type: ignore[index]

            # A status patch over HTTP, as the operator's status writer sends it.
            async with httpx.AsyncClient(base_url=cluster.url) as http:
                response = await http.patch(
                    f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/job-1/status",
                    json={"status": {"phase": "Running"}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            assert response.status_code == 200, response.text
            await next_event(seen, ("MODIFIED", "job-1"))
            job = cluster.get("drsjobs", NS, "job-1")
            assert job is not None
            assert job["status"] == {"phase": "Running"}
            assert job["metadata"]["generation"] == 2  # a status write is no spec change

            # Bookmarks keep kopf's watch alive and do not reach the handlers.
            await asyncio.sleep(1.2)

            cluster.delete("drsjobs", NS, "job-1")
            await next_event(seen, ("DELETED", "job-1"))

        # kopf wrote nothing on DrsJobs: no finalizers, no annotations, no status of its own.
        writes = [(r.method, r.path) for r in cluster.requests(writes_only=True)]
        assert writes == [
            ("PATCH", f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}/job-1/status")
        ]
        for name in ("before",):
            meta = cluster.get("drsjobs", NS, name)["metadata"]  # type: ignore[index]
            assert "finalizers" not in meta and "annotations" not in meta
        # kopf listed, then watched from the list's resourceVersion.
        watches = cluster.requests(method="GET", resource=PLURAL)
        assert any(
            r.query.get("watch") == "true" and r.query.get("resourceVersion") for r in watches
        )
        assert cluster.store.watch_count == 0  # kopf's streams were closed and unregistered
    finally:
        await cluster.stop()


async def test_harness_cluster_backend_round_trip(cluster: Any) -> None:
    job_id = "cccccccc-cccc-cccc-cccc-ccccccccjb21"  # the CRD's pattern: a real server checks it
    await cluster.create_drsjob("rt", {"jobId": job_id})
    await cluster.patch_drsjob_spec("rt", {"suspend": True})
    job = await cluster.get_drsjob("rt")
    assert job is not None and job["spec"] == {"jobId": job_id, "suspend": True}
    assert job["metadata"]["generation"] == 2
    await cluster.create_secret("creds", {"token": "t"})
    await cluster.create_secret("creds", {"token": "rotated"})  # rotation replaces
    await cluster.delete_secret("creds")
    await cluster.delete_drsjob("rt")

    async def gone() -> bool:
        return await cluster.get_drsjob("rt") is None

    assert await eventually(gone, timeout=10)
    assert await cluster.non_status_writes() == []
    if cluster.counts_requests:
        assert cluster.status_patch_count() == 0

    with pytest.raises(
        AssertionError, match=re.escape("never did not happen within 0.2s; last value: 0")
    ):
        await eventually(lambda: 0, timeout=0.2, interval=0.05, message="never")


async def test_harness_operator_process_reports_bad_flags(operator_process: Any) -> None:
    proc = await operator_process("--batch-size", "0")
    assert await proc.wait(timeout=30) == 2
    assert "--batch-size" in proc.log_text()
