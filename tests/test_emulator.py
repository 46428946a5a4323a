"""Unit tests of the embedded Kubernetes API emulator (drs_operator.sandbox.emulator)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drs_operator.sandbox.emulator import KMOCK_LOG_LIMIT, EmulatedCluster

NS = "ns1"
JOB_ID = "jjjjjjjj-jjjj-jjjj-jjjj-jjjjjjjjjb21"  # the CRD's pattern: the emulator checks it
API = "/apis/drs.operators.dev/v1alpha1"
JOBS = f"{API}/namespaces/{NS}/drsjobs"
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def drsjob(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"jobId": JOB_ID, **spec},
    }


@pytest.fixture
async def cluster() -> AsyncIterator[EmulatedCluster]:
    emulated = EmulatedCluster()
    await emulated.start()
    try:
        yield emulated
    finally:
        await emulated.stop()


@pytest.fixture
async def http(cluster: EmulatedCluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as client:
        yield client


def merge(patch: Any) -> dict[str, Any]:
    return {"json": patch, "headers": {"Content-Type": "application/merge-patch+json"}}


async def test_http_writes_are_checked_pruned_and_defaulted_like_the_api_server(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    """As kube-apiserver answered for the same requests (tests/cluster/test_crd_server.py)."""
    bad = drsjob("bad", projectId="big-answers")
    bad["spec"]["jobId"] = "NOT-A-UUID"
    refused = await http.post(JOBS, json=bad)
    assert refused.status_code == 422
    body = refused.json()
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('DrsJob.drs.operators.dev "bad" is invalid: [spec.jobId: ')
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.jobId", "spec.projectId"]
    assert cluster.get("drsjobs", NS, "bad") is None

    created = await http.post(JOBS, json=drsjob("ok", typo=1))
    assert created.status_code == 201, created.text
    assert created.json()["spec"] == {"jobId": JOB_ID, "suspend": False}  # pruned, defaulted

    # Status writes are checked too; an invalid field already stored and left alone is not.
    bad_status = await http.patch(f"{JOBS}/ok/status", **merge({"status": {"nodeNum": "2"}}))
    assert bad_status.status_code == 422
    assert bad_status.json()["details"]["causes"][0]["field"] == "status.nodeNum"
    cluster.create(drsjob("seeded", refreshInterval="1d"))  # in-process: stored as given
    ok = await http.patch(f"{JOBS}/seeded/status", **merge({"status": {"phase": "Running"}}))
    assert ok.status_code == 200, ok.text
    changed = await http.patch(f"{JOBS}/seeded", **merge({"spec": {"refreshInterval": "2d"}}))
    assert changed.status_code == 422


async def test_create_over_http_stamps_metadata(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    body = drsjob("a")
    body["status"] = {"phase": "Running"}  # dropped: the status subresource owns it
    response = await http.post(JOBS, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    meta = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert RFC3339_Z.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert "status" not in created
    assert cluster.get("drsjobs", NS, "a") == created

    again = await http.post(JOBS, json=body)
    assert again.status_code == 409
    assert again.json()["reason"] == "AlreadyExists"


@pytest.mark.parametrize(
    ("path_suffix", "patch", "generation", "reason"),
    [
        ("", {"spec": {"suspend": True}}, 2, "a spec change bumps the generation"),
        ("", {"spec": {"jobId": JOB_ID}}, 1, "a patch that changes nothing is no new generation"),
        ("", {"metadata": {"labels": {"a": "b"}}}, 1, "metadata is not part of the generation"),
        ("/status", {"status": {"phase": "Running"}}, 1, "status is not part of the generation"),
        ("/status", {"spec": {"suspend": True}}, 1, "/status ignores everything but status"),
    ],
)
async def test_generation_bumps_on_spec_changes_only(
    cluster: EmulatedCluster,
    http: httpx.AsyncClient,
    path_suffix: str,
    patch: dict[str, Any],
    generation: int,
    reason: str,
) -> None:
    before = cluster.create(drsjob("a"))
    response = await http.patch(f"{JOBS}/a{path_suffix}", **merge(patch))
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["metadata"]["generation"] == generation, reason
    assert int(after["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert after["metadata"]["uid"] == before["metadata"]["uid"]


async def test_status_subresource_is_isolated(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    cluster.create(drsjob("a"))
    await http.patch(f"{JOBS}/a/status", **merge({"status": {"phase": "Running"}}))
    # A write to the object itself cannot change status (a real API server ignores it too).
    response = await http.patch(f"{JOBS}/a", **merge({"status": {"phase": "Failed"}}))
    assert response.json()["status"] == {"phase": "Running"}
    # Merge-patch semantics: null deletes a key, nested objects merge.
    await http.patch(f"{JOBS}/a/status", **merge({"status": {"phase": None, "jobName": "y"}}))
    assert cluster.get("drsjobs", NS, "a")["status"] == {"jobName": "y"}  # type: ignore[index]


async def test_json_patch_test_and_resource_version_conflicts(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    created = cluster.create(drsjob("a"))
    stale = created["metadata"]["resourceVersion"]
    cluster.patch_spec("drsjobs", NS, "a", {"suspend": True})
    json_patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": stale},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    response = await http.patch(
        f"{JOBS}/a", json=json_patch, headers={"Content-Type": "application/json-patch+json"}
    )
    assert response.status_code == 422  # kopf expects 422 when its `test` op fails
    conflict = await http.patch(
        f"{JOBS}/a/status",
        **merge({"metadata": {"resourceVersion": stale}, "status": {"phase": "Running"}}),
    )
    assert conflict.status_code == 409
    assert "status" not in cluster.get("drsjobs", NS, "a")  # type: ignore[operator]


async def test_finalizers_delay_deletion(cluster: EmulatedCluster) -> None:
    cluster.create(drsjob("a"))
    cluster.patch("drsjobs", NS, "a", {"metadata": {"finalizers": ["keep"]}})
    assert cluster.delete("drsjobs", NS, "a")
    marked = cluster.get("drsjobs", NS, "a")
    assert marked is not None and RFC3339_Z.match(marked["metadata"]["deletionTimestamp"])
    cluster.patch("drsjobs", NS, "a", {"metadata": {"finalizers": None}})
    assert cluster.get("drsjobs", NS, "a") is None
    assert not cluster.delete("drsjobs", NS, "a")


async def test_generate_name_and_secret_string_data(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    event = {"metadata": {"generateName": "job-"}, "reason": "Test"}
    names = set()
    for _ in range(3):
        response = await http.post(f"/api/v1/namespaces/{NS}/events", json=event)
        assert response.status_code == 201
        names.add(response.json()["metadata"]["name"])
    assert len(names) == 3 and all(re.fullmatch(r"job-[a-z0-9]{5}", n) for n in names)

    secret = {"metadata": {"name": "creds"}, "stringData": {"token": "t0k"}}
    await http.post(f"/api/v1/namespaces/{NS}/secrets", json=secret)
    stored = (await http.get(f"/api/v1/namespaces/{NS}/secrets/creds")).json()
    assert stored["data"] == {"token": base64.b64encode(b"t0k").decode()}
    assert "stringData" not in stored


async def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for line in response.aiter_lines():
        if line.strip():
            events.append(json.loads(line))
        if len(events) == count:
            break
    return events


async def test_watch_resumes_from_resource_version_and_expires() -> None:
    cluster = EmulatedCluster(history_limit=3)
    await cluster.start()
    try:
        cluster.create(drsjob("a"))
        listed_rv = cluster.store.resource_version
        cluster.patch_spec("drsjobs", NS, "a", {"suspend": True})
        cluster.delete("drsjobs", NS, "a")
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            params = {"watch": "true", "resourceVersion": str(listed_rv)}
            async with http.stream("GET", JOBS, params=params) as response:
                events = await read_events(response, 2)
            assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
            assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
                events[0]["object"]["metadata"]["resourceVersion"]
            )
            for name in "bcd":  # push "a"'s events out of the 3-event history
                cluster.create(drsjob(name))
            async with http.stream("GET", JOBS, params=params) as response:
                (gone,) = await read_events(response, 1)
            assert gone["type"] == "ERROR" and gone["object"]["code"] == 410
    finally:
        await cluster.stop()


async def test_a_restart_expires_every_older_resource_version() -> None:
    """As kube-apiserver's watch cache after a restart: resuming from before answers 410."""
    cluster = EmulatedCluster()
    await cluster.start()
    try:
        cluster.create(drsjob("a"))
        before = cluster.store.resource_version
        cluster.create(drsjob("b"))
        port = cluster.port
        await cluster.stop()
        cluster.delete("drsjobs", NS, "a")  # while down: no watch may replay this
        await cluster.start(port=port)
        after = cluster.store.resource_version
        cluster.create(drsjob("c"))
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            params = {"watch": "true", "resourceVersion": str(before)}
            async with http.stream("GET", JOBS, params=params) as response:
                (gone,) = await read_events(response, 1)
            assert gone["type"] == "ERROR" and gone["object"]["code"] == 410
            params["resourceVersion"] = str(after)  # events since the restart are kept
            async with http.stream("GET", JOBS, params=params) as response:
                (added,) = await read_events(response, 1)
            assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "c")
    finally:
        await cluster.stop()


async def test_request_log_is_bounded_and_counts_are_exact(tmp_path: Path) -> None:
    cluster = EmulatedCluster(log_limit=5)
    await cluster.start()
    try:
        cluster.create(drsjob("a"))
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            for i in range(3 * KMOCK_LOG_LIMIT):
                await http.patch(f"{JOBS}/a/status", **merge({"status": {"n": i}}))
            await http.get(f"{JOBS}/a")
        assert len(cluster.requests()) == 5
        assert cluster.requests()[-1].method == "GET"
        assert cluster.status_patch_count(name="a") == 3 * KMOCK_LOG_LIMIT
        assert cluster.count(method="GET") == 1
        assert len(cluster.handler._requests) <= 2 * KMOCK_LOG_LIMIT  # kmock's own log trimmed
        assert cluster.non_status_writes() == []
    finally:
        await cluster.stop()


async def test_reactions_inject_faults_and_block_the_write(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    cluster.create(drsjob("a"))
    cluster.handler["patch"][re.compile(r".*/status")] << 503
    response = await http.patch(f"{JOBS}/a/status", **merge({"status": {"phase": "Running"}}))
    assert response.status_code == 503
    assert "status" not in cluster.get("drsjobs", NS, "a")  # type: ignore[operator]
    assert cluster.requests(method="PATCH")[-1].status == 503


async def test_kubeconfig_works_with_kubernetes_client(
    cluster: EmulatedCluster, tmp_path: Path
) -> None:
    import kubernetes

    cluster.create(drsjob("a"))
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)

    def list_and_patch() -> tuple[list[str], dict[str, Any]]:
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        try:
            custom = kubernetes.client.CustomObjectsApi(api)
            listed = custom.list_namespaced_custom_object(
                "drs.operators.dev", "v1alpha1", NS, "drsjobs"
            )
            patched = custom.patch_namespaced_custom_object_status(
                "drs.operators.dev", "v1alpha1", NS, "drsjobs", "a", {"status": {"phase": "Paused"}}
            )
            return [item["metadata"]["name"] for item in listed["items"]], patched
        finally:
            api.close()

    names, patched = await asyncio.to_thread(list_and_patch)
    assert names == ["a"]
    assert patched["status"] == {"phase": "Paused"}
    assert cluster.status_patch_count() == 1


async def test_status_patches_stay_fast_with_many_objects(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    """The cost of a request must not grow with the requests served before it."""
    for i in range(100):
        cluster.create(drsjob(f"job-{i}"))
    started = time.monotonic()
    for round_ in range(3):
        for i in range(100):
            await http.patch(f"{JOBS}/job-{i}/status", **merge({"status": {"n": round_}}))
    elapsed = time.monotonic() - started
    assert cluster.status_patch_count() == 300
    assert elapsed < 10, f"300 status patches took {elapsed:.1f}s"
