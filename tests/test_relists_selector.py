"""A shard's relist lists only its own DrsJobs: one relabelled away while the watch was down
is forgotten, as if deleted (handlers.Relists with ``--selector``).

The API server sends a watch a DELETED event when an object is relabelled out
of its selection, but a watch that was down misses it, and kopf's new list
just lacks the object. Against the emulator, without kopf: the registry is
fed as kopf feeds it and the relabelling reaches it by no event.
"""

from __future__ import annotations

from drs_operator.engine.app import Operator
from drs_operator.engine.kube import KubeApi
from drs_operator.engine.settings import ServingSettings, Settings, WatchingSettings
from drs_operator.handlers import Relists
from drs_operator.sandbox.emulator import EmulatedCluster
from drs_operator.sandbox.simulator import Simulator
from tests.component import NS

KEY = "drs.operators.dev/shard"


async def test_a_drsjob_relabelled_out_of_the_shard_is_forgotten_by_the_relist(
    simulator: Simulator, cluster: EmulatedCluster
) -> None:
    settings = Settings(
        watching=WatchingSettings(selector=f"{KEY}=a"),
        serving=ServingSettings(metrics_port=0, health_port=0),
    )
    operator = Operator(settings=settings, kube=KubeApi(server=cluster.url))
    try:
        for name in ("stays", "moves"):
            cluster.create({
                "apiVersion": "drs.operators.dev/v1alpha1", "kind": "DrsJob",
                "metadata": {"name": name, "namespace": NS, "labels": {KEY: "a"}},
                "spec": {"jobId": simulator.add_job()},
            })  # fmt: skip
            operator.observe(event_type=None, body=cluster.get("drsjobs", NS, name) or {})
        cluster.patch("drsjobs", NS, "moves", {"metadata": {"labels": {KEY: "b"}}})

        assert await Relists(operator).sweep(NS) == 1
        assert [r.name for r in operator.registry] == ["stays"]
        (listed,) = cluster.requests(method="GET", resource="drsjobs")
        assert listed.query.get("labelSelector") == f"{KEY}=a", "the list asked for the shard"
    finally:
        await operator.connections.aclose()
        await operator.kube.aclose()
