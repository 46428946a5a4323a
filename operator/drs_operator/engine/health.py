"""The metrics and health HTTP servers (aiohttp), each on its own port.

- metrics port: ``GET /metrics`` in the Prometheus text format;
- health port: ``GET /healthz`` (liveness) answers 200 while the refresher
  has completed a pass within ``stall_after`` seconds, else 503 (so the
  kubelet restarts a stuck operator); ``GET /readyz`` (readiness) answers 200
  once the operator has started watching and refreshing, else 503.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Probes:
    def __init__(
        self,
        *,
        last_pass: Callable[[], float],
        stall_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._last_pass = last_pass
        self._stall_after = stall_after
        self._clock = clock
        self.ready = False

    def alive(self) -> tuple[bool, str]:
        age = self._clock() - self._last_pass()
        if age > self._stall_after:
            return (
                False,
                f"refresher stalled: no pass for {age:.0f}s (limit {self._stall_after:.0f}s)",
            )
        return True, f"refresher last pass {age:.1f}s ago"


def _answer(ok: bool, message: str) -> web.Response:
    body = json.dumps({"ok": ok, "message": message})
    return web.Response(status=200 if ok else 503, text=body, content_type="application/json")


def health_app(probes: Probes) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return _answer(*probes.alive())

    async def readyz(_: web.Request) -> web.Response:
        if not probes.ready:
            return _answer(False, "starting")
        return _answer(*probes.alive())

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def metrics_app(registry: CollectorRegistry) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        payload = generate_latest(registry)
        response = web.Response(body=payload)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


class Servers:
    """Starts and stops the HTTP servers; port 0 disables one."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def start(self, name: str, app: web.Application, *, host: str, port: int) -> None:
        if not port:
            return
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runners.append(runner)
        sockets = getattr(site._server, "sockets", None) or []
        self.ports[name] = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
