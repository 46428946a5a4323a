"""The emulator's Leases (optimistic concurrency) and label selectors (list, watch), over HTTP.

Leader election and sharding are tested against the emulator first; these
tests pin the API server behaviour those tests rely on: a Lease is created
once (409 AlreadyExists after), replaced only at its current resourceVersion
(409 Conflict otherwise); ``labelSelector`` filters lists and watches, and a
relabelled object leaves a watch's selection as DELETED (its previous content,
the new resourceVersion) and enters one as ADDED, as the API server's watch
cache does. The requests carry their client's User-Agent into the log.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from drs_operator.sandbox.emulator import EmulatedCluster
from tests.test_emulator import cluster, http

__all__ = ["cluster", "http"]  # the bare emulator and its HTTP client, shared with test_emulator

NS = "ns1"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
JOBS = f"/apis/drs.operators.dev/v1alpha1/namespaces/{NS}/drsjobs"
KEY = "drs.operators.dev/shard"


def lease(holder: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "op", "namespace": NS, **meta},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


def drsjob(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": meta,
        "spec": {"jobId": "j" * 36},
    }


async def test_leases_are_served_with_optimistic_concurrency(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    discovery = (await http.get("/apis/coordination.k8s.io/v1")).json()
    assert "leases" in {r["name"] for r in discovery["resources"]}
    assert (await http.get(f"{LEASES}/op")).status_code == 404

    created = await http.post(LEASES, json=lease("a"))
    assert created.status_code == 201, created.text
    first = created.json()
    again = await http.post(LEASES, json=lease("b"))
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"

    renewed = await http.put(f"{LEASES}/op", json={**first, "spec": {"holderIdentity": "a"}})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]

    stale = await http.put(f"{LEASES}/op", json={**first, "spec": {"holderIdentity": "b"}})
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    stored = cluster.get("leases", NS, "op")
    assert stored is not None and stored["spec"]["holderIdentity"] == "a", "the stale write lost"


async def test_list_honours_the_label_selector(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    cluster.create(drsjob("in-a", {KEY: "a"}))
    cluster.create(drsjob("in-b", {KEY: "b"}))
    cluster.create(drsjob("plain"))

    async def names(selector: str) -> list[str]:
        response = await http.get(JOBS, params={"labelSelector": selector})
        assert response.status_code == 200, response.text
        return sorted(item["metadata"]["name"] for item in response.json()["items"])

    assert await names(f"{KEY}=a") == ["in-a"]
    assert await names(f"{KEY} notin (a)") == ["in-b", "plain"]
    assert await names(f"!{KEY}") == ["plain"]
    assert await names(KEY) == ["in-a", "in-b"]
    assert await names(f"{KEY} in (a,b),{KEY}!=b") == ["in-a"]
    bad = await http.get(JOBS, params={"labelSelector": f"{KEY} in ()"})
    assert bad.status_code == 400


async def _watch(
    http: httpx.AsyncClient,
    selector: str,
    events: list[dict[str, Any]],
    since: str | None = None,
    seconds: int = 4,
) -> None:
    params = {"watch": "true", "labelSelector": selector, "timeoutSeconds": str(seconds)}
    if since is not None:
        params["resourceVersion"] = since
    async with http.stream("GET", JOBS, params=params) as response:
        async for line in response.aiter_lines():
            if line.strip():
                events.append(json.loads(line))


def seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


async def test_a_relabelled_object_leaves_one_watch_and_enters_the_other(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    cluster.create(drsjob("moving", {KEY: "a"}))
    start = str(cluster.store.resource_version)
    shard_a: list[dict[str, Any]] = []
    default: list[dict[str, Any]] = []
    watches = [
        asyncio.create_task(_watch(http, f"{KEY}=a", shard_a)),
        asyncio.create_task(_watch(http, f"{KEY} notin (a)", default)),
    ]
    await asyncio.sleep(0.3)
    assert seen(shard_a) == [("ADDED", "moving")]
    assert seen(default) == []

    moved = cluster.patch("drsjobs", NS, "moving", {"metadata": {"labels": {KEY: "b"}}})
    cluster.patch("drsjobs", NS, "moving", {"spec": {"suspend": True}})  # seen by the new one only
    await asyncio.sleep(0.3)
    assert seen(shard_a) == [("ADDED", "moving"), ("DELETED", "moving")]
    gone = shard_a[-1]["object"]
    assert gone["metadata"]["labels"] == {KEY: "a"}, "the DELETED event shows the old content"
    assert gone["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]
    assert seen(default) == [("ADDED", "moving"), ("MODIFIED", "moving")]

    cluster.patch("drsjobs", NS, "moving", {"metadata": {"labels": {KEY: None}}})  # unlabelled
    await asyncio.sleep(0.3)
    assert seen(default)[-1] == ("MODIFIED", "moving"), "still selected: !a includes unlabelled"
    for task in watches:
        task.cancel()
    await asyncio.gather(*watches, return_exceptions=True)

    # A watch resumed from an old resourceVersion replays the same transitions.
    replayed: list[dict[str, Any]] = []
    await _watch(http, f"{KEY}=a", replayed, since=start, seconds=1)
    assert seen(replayed) == [("DELETED", "moving")]


async def test_the_request_log_keeps_the_user_agent(
    cluster: EmulatedCluster, http: httpx.AsyncClient
) -> None:
    await http.get(JOBS, headers={"User-Agent": "drs-operator/0.1.0 (pod-a)"})
    await http.get(JOBS, headers={"User-Agent": "kopf/1.45"})
    agents = [r.user_agent for r in cluster.requests()]
    assert agents == ["drs-operator/0.1.0 (pod-a)", "kopf/1.45"]
    assert len(cluster.requests(user_agent="drs-operator/")) == 1
