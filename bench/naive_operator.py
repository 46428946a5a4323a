"""The naive peer: the common shape of a DRS operator, for comparison only.

One kopf timer per DrsJob; each tick asks batch-detail for that one job ID
(httpx, token auth, straight at the simulator) and writes the status through
kopf's ``patch`` on every tick, whether anything changed or not. Nothing is
batched, cached or compared. kopf's event posting, peering and cluster
scanning are turned off (which favours the peer: fewer requests).

Run by ``bench/run.py`` as a subprocess::

    KUBECONFIG=... python bench/naive_operator.py --namespace bench \\
        --sim-url http://127.0.0.1:PORT --token TOKEN --project PROJECT --interval 20

Several connections (``bench/small.py``): ``--connection SECRET=TOKEN@PROJECT``
(repeatable) gives the credentials of the DrsJobs whose
``spec.credentialsRef.name`` is SECRET (the others use ``--token``/``--project``).
``--refresh-intervals 3.75s,15s`` makes ``spec.refreshInterval`` a DrsJob's
timer interval: a kopf timer's interval is fixed per handler, so the peer
registers one timer per value named there (filtered on that exact value) and
keeps ``--interval`` for the DrsJobs that set none.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import re
from typing import Any

import httpx
import kopf

ARGS: argparse.Namespace
# By credentials Secret name (None: --token and --project): (token, project), and its client.
CREDENTIALS: dict[str | None, tuple[str, str]] = {}
CLIENTS: dict[str | None, httpx.AsyncClient] = {}

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
    parser.add_argument("--connection", action="append", default=[], metavar="SECRET=TOKEN@PROJECT")
    parser.add_argument("--refresh-intervals", default="", metavar="DURATION,...")
    return parser.parse_args()


def _seconds(text: str) -> float:
    """``"3.75s"`` -> 3.75, ``"1m30s"`` -> 90 (units ms, s, m, h)."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.scanning.disabled = True
    settings.peering.standalone = True
    settings.peering.mandatory = False


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    for client in CLIENTS.values():
        await client.aclose()


def connection(spec: kopf.Spec) -> tuple[httpx.AsyncClient, str]:
    """The client and project of the DrsJob's credentials Secret (one client each)."""
    name = (spec.get("credentialsRef") or {}).get("name")
    key = name if name in CREDENTIALS else None
    token, project = CREDENTIALS[key]
    client = CLIENTS.get(key)
    if client is None:
        client = CLIENTS[key] = httpx.AsyncClient(
            base_url=ARGS.sim_url,
            headers={"X-Auth-Token": token, "X-Language": "en-us"},
            timeout=30.0,
        )
    return client, project


def _endpoint(item: dict[str, Any], key: str) -> dict[str, Any]:
    endpoint = item.get(key) or {}
    return {
        "ip": endpoint.get("ip"),
        "port": endpoint.get("port"),
        "dbType": endpoint.get("db_type"),
    }


def _rfc3339(epoch_ms: Any) -> str | None:
    """DRS's ``update_time`` (epoch milliseconds) as the CRD's date-time (the API server
    refuses anything else)."""
    try:
        moment = datetime.datetime.fromtimestamp(int(epoch_ms) / 1000, datetime.UTC)
    except (TypeError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def register(interval: float, **filters: Any) -> None:
    @kopf.timer("drs.operators.dev", "v1alpha1", "drsjobs", interval=interval, **filters)
    async def refresh(spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
        job_id = spec["jobId"]
        client, project = connection(spec)
        response = await client.post(
            f"/v3/{project}/jobs/batch-detail",
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
        patch.status["updateTime"] = _rfc3339(item.get("update_time"))


def main() -> None:
    global ARGS
    ARGS = _parse()
    logging.basicConfig(level=logging.WARNING)
    CREDENTIALS[None] = (ARGS.token, ARGS.project)
    for item in ARGS.connection:
        secret, _, rest = item.partition("=")
        token, _, project = rest.rpartition("@")
        CREDENTIALS[secret] = (token, project)
    intervals = [text.strip() for text in ARGS.refresh_intervals.split(",") if text.strip()]
    if not intervals:
        register(ARGS.interval)
    else:
        field = "spec.refreshInterval"
        register(ARGS.interval, id="refresh", field=field, value=kopf.ABSENT)
        for text in intervals:
            register(_seconds(text), id=f"refresh-{text}", field=field, value=text)
    kopf.run(standalone=True, namespaces=[ARGS.namespace])


if __name__ == "__main__":
    main()
