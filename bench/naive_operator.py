"""The naive peer: the common shape of a DRS operator, for comparison only.

One kopf timer per DrsJob; each tick asks batch-detail for that one job ID
(httpx, token auth, straight at the simulator) and writes the status through
kopf's ``patch`` on every tick, whether anything changed or not. Nothing is
batched, cached or compared. kopf's event posting, peering and cluster
scanning are turned off (which favours the peer: fewer requests).

Run by ``bench/run.py`` as a subprocess::

    KUBECONFIG=... python bench/naive_operator.py --namespace bench \\
        --sim-url http://127.0.0.1:PORT --token TOKEN --project PROJECT --interval 20
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import httpx
import kopf

ARGS: argparse.Namespace
CLIENT: httpx.AsyncClient | None = None

PHASES = {
    "INCRE_TRANSFER_STARTED": "Running",
    "FULL_TRANSFER_STARTED": "Running",
    "PAUSING": "Paused",
    "FULL_TRANSFER_COMPLETE": "Completed",
}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--sim-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--interval", type=float, default=20.0)
    return parser.parse_args()


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.scanning.disabled = True
    settings.peering.standalone = True
    settings.peering.mandatory = False


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if CLIENT is not None:
        await CLIENT.aclose()


def client() -> httpx.AsyncClient:
    global CLIENT
    if CLIENT is None:
        CLIENT = httpx.AsyncClient(
            base_url=ARGS.sim_url,
            headers={"X-Auth-Token": ARGS.token, "X-Language": "en-us"},
            timeout=30.0,
        )
    return CLIENT


def _endpoint(item: dict[str, Any], key: str) -> dict[str, Any]:
    endpoint = item.get(key) or {}
    return {
        "ip": endpoint.get("ip"),
        "port": endpoint.get("port"),
        "dbType": endpoint.get("db_type"),
    }


def register(interval: float) -> None:
    @kopf.timer("drs.operators.dev", "v1alpha1", "drsjobs", interval=interval)
    async def refresh(spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
        job_id = spec["jobId"]
        response = await client().post(
            f"/v3/{ARGS.project}/jobs/batch-detail",
            json={"jobs": [job_id], "page_req": {"cur_page": 1, "per_page": 10}},
        )
        response.raise_for_status()
        item = (response.json().get("results") or [{}])[0]
        status = item.get("status")
        patch.status["taskStatus"] = status
        patch.status["phase"] = PHASES.get(str(status), "Unknown")
        patch.status["jobName"] = item.get("name")
        patch.status["taskType"] = item.get("task_type")
        patch.status["sourceEndpoint"] = _endpoint(item, "source_endpoint")
        patch.status["targetEndpoint"] = _endpoint(item, "target_endpoint")
        patch.status["updateTime"] = item.get("update_time")


def main() -> None:
    global ARGS
    ARGS = _parse()
    logging.basicConfig(level=logging.WARNING)
    register(ARGS.interval)
    kopf.run(standalone=True, namespaces=[ARGS.namespace])


if __name__ == "__main__":
    main()
