"""The simulator's HTTP server: the :class:`Simulator` facade and its route table.

See the package docstring (:mod:`drs_operator.sandbox.simulator`) for the contract.
:class:`Simulator` composes the parts, one module each: the state and the
in-process API (:mod:`.state`), the DRS batch-detail API (:mod:`.drs_api`),
IAM (:mod:`.iam`), fault injection (:mod:`.fault_injection`) and the admin
API (:mod:`.admin`); here are construction, start/stop, the route table and
the ``X-Request-Id`` middleware. Every handler costs O(IDs in the request):
lookups are dict hits and status progressions are applied lazily per
requested job.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from drs_operator.sandbox.simulator.admin import AdminApi
from drs_operator.sandbox.simulator.drs_api import DrsApi
from drs_operator.sandbox.simulator.scenario import LIST_KEYS, MIXED_MISSING_MODES, Scenario

# The names below were defined here before the server was split; still importable from here.
from drs_operator.sandbox.simulator.stats import REQUEST_LOG_MAX as REQUEST_LOG_MAX
from drs_operator.sandbox.simulator.stats import RequestRecord, Stats
from drs_operator.sandbox.simulator.wire import CODE_AUTH as CODE_AUTH
from drs_operator.sandbox.simulator.wire import (
    CODE_BAD_HEADER,
    CODE_BAD_REQUEST,
    CODE_DELETED,
    CODE_NOT_FOUND,
    REQUEST_ID_HEADER,
)
from drs_operator.sandbox.simulator.wire import CODE_BUSY as CODE_BUSY
from drs_operator.sandbox.simulator.wire import CODE_IN_PROGRESS as CODE_IN_PROGRESS
from drs_operator.sandbox.simulator.wire import CODE_SERVER as CODE_SERVER
from drs_operator.sandbox.simulator.wire import CODE_THROTTLED as CODE_THROTTLED
from drs_operator.sandbox.simulator.wire import CODE_TOKEN_EXPIRED as CODE_TOKEN_EXPIRED
from drs_operator.sandbox.simulator.wire import CODE_UNAVAILABLE as CODE_UNAVAILABLE
from drs_operator.sandbox.simulator.wire import CODE_WRONG_PROJECT as CODE_WRONG_PROJECT
from drs_operator.sandbox.simulator.wire import MALFORMED_BODY as MALFORMED_BODY
from drs_operator.sandbox.simulator.wire import MSG_DELETED as MSG_DELETED
from drs_operator.sandbox.simulator.wire import MSG_NOT_FOUND as MSG_NOT_FOUND

__all__ = [
    "CODE_BAD_HEADER",
    "CODE_BAD_REQUEST",
    "CODE_DELETED",
    "CODE_NOT_FOUND",
    "RequestRecord",
    "Simulator",
    "Stats",
]


class Simulator(DrsApi, AdminApi):
    """A Huawei Cloud DRS + IAM look-alike on one aiohttp server (see the package docs)."""

    def __init__(
        self,
        *,
        scenario: Scenario | None = None,
        seed: int = 0,
        token_ttl: float = 86400.0,
        clock: Callable[[], float] = time.time,
        per_page_default: int = 5,
        per_page_max: int = 100,
        max_skew: float = 900.0,
        mixed_missing: str = "error400",
        list_key: str = "results",
    ) -> None:
        if mixed_missing not in MIXED_MISSING_MODES:
            raise ValueError(f"mixed_missing must be one of {MIXED_MISSING_MODES}")
        if list_key not in LIST_KEYS:
            raise ValueError(f"list_key must be one of {LIST_KEYS}")
        super().__init__(
            seed=seed,
            token_ttl=token_ttl,
            clock=clock,
            per_page_default=per_page_default,
            per_page_max=per_page_max,
            max_skew=max_skew,
            mixed_missing=mixed_missing,
            list_key=list_key,
        )
        self._runner: web.AppRunner | None = None
        if scenario is not None:
            self.load_scenario(scenario)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> str:
        """Serve DRS, IAM and the admin API; returns the base URL (also ``self.url``)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        app = web.Application(middlewares=[self._request_id_middleware])
        app.router.add_post("/v3/auth/tokens", self._handle_iam)
        app.router.add_post("/v3/{project_id}/jobs/batch-detail", self._handle_batch_detail)
        app.router.add_get("/_sim/stats", self._admin_stats)
        app.router.add_get("/_sim/faults", self._admin_get_faults)
        app.router.add_post("/_sim/faults", self._admin_faults)
        app.router.add_get("/_sim/jobs", self._admin_list_jobs)
        app.router.add_post("/_sim/jobs", self._admin_add_jobs)
        app.router.add_get("/_sim/jobs/{job_id}", self._admin_get_job)
        app.router.add_post("/_sim/jobs/{job_id}/status", self._admin_set_status)
        app.router.add_delete("/_sim/jobs/{job_id}", self._admin_delete_job)
        app.router.add_post("/_sim/tokens", self._admin_add_token)
        app.router.add_post("/_sim/revoke-tokens", self._admin_revoke)
        app.router.add_post("/_sim/reset-stats", self._admin_reset_stats)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0][1]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{bound}"
        self._store.start()
        return self.url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- plumbing -----------------------------------------------------------------------

    @web.middleware
    async def _request_id_middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        request_id = uuid.uuid4().hex
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
