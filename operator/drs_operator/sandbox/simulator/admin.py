"""The admin API (``/_sim/...``): stats, faults, jobs and tokens over HTTP.

:class:`AdminApi` lets an out-of-process user (the demo, a shell) do what
in-process callers do with the :class:`Simulator` methods. No authentication:
it is a loopback testing tool, never expose it. Admin calls are not recorded
in ``sim.stats``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from drs_operator.sandbox.simulator.faults import FaultsError
from drs_operator.sandbox.simulator.scenario import Scenario, ScenarioError
from drs_operator.sandbox.simulator.state import SimulatorState
from drs_operator.sandbox.simulator.wire import dig

__all__ = ["AdminApi"]


class AdminApi(SimulatorState):
    """The ``/_sim/...`` handlers of :class:`Simulator`."""

    async def _admin_json(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"{}")
        except ValueError:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "body is not valid JSON"}),
                content_type="application/json",
            ) from None

    @staticmethod
    def _admin_error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _admin_stats(self, request: web.Request) -> web.Response:
        summary = self.stats.summary()
        summary["jobs"] = len(self._store)
        summary["faults"] = self.faults.as_dict()
        return web.json_response(summary)

    async def _admin_get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.faults.as_dict())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if not isinstance(data, dict):
            return self._admin_error(400, "body must be an object of fault fields")
        data = dict(data)
        reset = data.pop("reset", False)
        if reset is True:
            self.faults.reset()
        try:
            self.faults.update(data)
        except FaultsError as exc:
            return self._admin_error(400, str(exc))
        return web.json_response(self.faults.as_dict())

    async def _admin_add_jobs(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if isinstance(data, list):
            specs: Any = data
        elif isinstance(data, dict) and "count" in data:
            count = data.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 100_000:
                return self._admin_error(400, "count must be an integer between 1 and 100000")
            template = {k: v for k, v in data.items() if k not in ("count", "id")}
            specs = [template] * count
        elif isinstance(data, dict) and "jobs" in data:
            specs = data["jobs"]
        else:
            specs = [data]
        try:
            scenario = Scenario.from_dict({"jobs": specs}, source="POST /_sim/jobs")
            ids = self._add_job_specs(scenario.jobs)
        except (ScenarioError, ValueError) as exc:
            return self._admin_error(400, str(exc))
        return web.json_response({"ids": ids}, status=201)

    def job_summaries(self) -> list[dict[str, Any]]:
        """Every existing job: ID, current status (progression applied) and name."""
        summaries = []
        for job_id in self.job_ids():
            try:
                item = self.job(job_id)
            except KeyError:  # deleted meanwhile
                continue
            summaries.append({"id": job_id, "status": item.get("status"), "name": item.get("name")})
        return summaries

    async def _admin_list_jobs(self, request: web.Request) -> web.Response:
        return web.json_response({"jobs": self.job_summaries()})

    async def _admin_get_job(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.job(request.match_info["job_id"]))
        except KeyError:
            return self._admin_error(404, "no such job")

    async def _admin_set_status(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return self._admin_error(400, 'body must be {"status": "...", ...fields}')
        fields = {k: v for k, v in data.items() if k != "status"}
        job_id = request.match_info["job_id"]
        try:
            self.set_status(job_id, data["status"], **fields)
        except KeyError:
            return self._admin_error(404, "no such job")
        return web.json_response({"id": job_id, "status": data["status"]})

    async def _admin_delete_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        try:
            self.delete_job(job_id)
        except KeyError:
            return self._admin_error(404, "no such job")
        return web.json_response({"deleted": job_id})

    async def _admin_add_token(self, request: web.Request) -> web.Response:
        data = await self._admin_json(request)
        token = dig(data, "token")
        project = dig(data, "project_id")
        if not isinstance(token, str) or not token or not isinstance(project, str | None):
            return self._admin_error(400, 'body must be {"token": "...", "project_id": "..."}')
        self.add_token(token, project_id=project)
        return web.json_response({"added": True}, status=201)

    async def _admin_revoke(self, request: web.Request) -> web.Response:
        self.revoke_tokens()
        return web.json_response({"revoked": True})

    async def _admin_reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response({"reset": True})
