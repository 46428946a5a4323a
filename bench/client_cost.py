"""CPU per batch-detail call: our DrsClient against bare httpx and aiohttp.

Starts ``drs-operator simulate`` as its own process (so only the client's CPU
is measured here), then times N back-to-back calls of 10 IDs each, several
ways, and prints the process CPU (user + system) per call::

    .venv/bin/python bench/client_cost.py [--calls 300] [--gaps 0.01,0.05,0.2]

It shows where the operator's per-call cost goes (issue 5's profile notes).
The last lines time DrsClient calls with an idle gap between them: a call
after the process slept costs several times a back-to-back one (cold caches),
which is why the refresher gathers the jobs due within a second into one pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time

import aiohttp
import httpx

from drs_operator.drs.auth import TokenAuth
from drs_operator.drs.client import DrsClient
from drs_operator.drs.transport import AiohttpTransport

TOKEN, PROJECT = "bench-token", "0c4b8a1f2e3d4c5b6a7980e1f2a3b4c5"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(url: str, calls: int, gaps: list[float]) -> dict[str, float]:
    async with httpx.AsyncClient() as admin:
        await admin.post(f"{url}/_sim/tokens", json={"token": TOKEN, "project_id": PROJECT})
        ids = (await admin.post(f"{url}/_sim/jobs", json={"count": 10})).json()["ids"]
    path = f"/v3/{PROJECT}/jobs/batch-detail"
    body = json.dumps({"jobs": ids, "page_req": {"cur_page": 1, "per_page": 100}}).encode()
    headers = {"X-Auth-Token": TOKEN, "X-Language": "en-us", "Content-Type": "application/json"}
    figures: dict[str, float] = {}

    async with DrsClient(endpoint=url, project_id=PROJECT, auth=TokenAuth(TOKEN)) as client:
        await client.batch_detail(ids)
        started = time.process_time()
        for _ in range(calls):
            await client.batch_detail(ids)
        figures["DrsClient.batch_detail (send, read, classify, parse)"] = (
            time.process_time() - started
        ) / calls
        for gap in gaps:
            spaced = max(20, min(calls, int(20 / gap)))  # about 20 s at most
            started = time.process_time()
            for _ in range(spaced):
                await client.batch_detail(ids)
                await asyncio.sleep(gap)
            figures[f"DrsClient.batch_detail, {gap:g} s idle between calls"] = (
                time.process_time() - started
            ) / spaced

    async with httpx.AsyncClient() as http:
        await http.post(url + path, content=body, headers=headers)
        started = time.process_time()
        for _ in range(calls):
            await http.post(url + path, content=body, headers=headers)
        figures["httpx.AsyncClient.post"] = (time.process_time() - started) / calls

    host = url.removeprefix("http://")
    direct = {**headers, "Host": host, "Content-Length": str(len(body))}
    for name, transport in (
        ("httpx.AsyncHTTPTransport alone (httpcore)", httpx.AsyncHTTPTransport()),
        ("AiohttpTransport alone (ours, the default)", AiohttpTransport()),
    ):
        started = time.process_time()
        for _ in range(calls):
            request = httpx.Request("POST", url + path, content=body, headers=direct)
            response = await transport.handle_async_request(request)
            await response.aread()
            await response.aclose()
        figures[name] = (time.process_time() - started) / calls
        await transport.aclose()

    async with aiohttp.ClientSession() as session:
        started = time.process_time()
        for _ in range(calls):
            async with session.post(url + path, data=body, headers=headers) as answer:
                await answer.read()
        figures["aiohttp.ClientSession.post alone"] = (time.process_time() - started) / calls
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--gaps", default="0.01,0.05,0.2", help="idle seconds between spaced calls, or ''"
    )
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "drs_operator", "simulate", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/_sim/stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        gaps = [float(gap) for gap in args.gaps.split(",") if gap.strip()]
        figures = asyncio.run(measure(url, args.calls, gaps))
    finally:
        server.terminate()
        server.wait(10)
    print(f"CPU per call of 10 IDs, {args.calls} calls each (simulator in its own process)")
    for name, seconds in figures.items():
        print(f"  {seconds * 1000:6.3f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
