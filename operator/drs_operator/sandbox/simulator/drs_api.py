"""The DRS API: ``POST /v3/{project_id}/jobs/batch-detail``.

:class:`DrsApi` checks a request in the documented order (latency,
authentication, error faults, headers, body), looks the IDs up in request
order, answers missing ones by the ``mixed_missing`` mode (``error400`` or
``items200``) and pages the rest (``per_page_default``, ``per_page_max``,
``list_key``), applying the body faults. Every call is recorded in
``sim.stats``. A call costs O(IDs in the request).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from drs_operator.sandbox.simulator.fault_injection import FaultInjection
from drs_operator.sandbox.simulator.iam import IamApi
from drs_operator.sandbox.simulator.jobs import JOB_ID_RE
from drs_operator.sandbox.simulator.stats import RequestRecord
from drs_operator.sandbox.simulator.wire import (
    CODE_BAD_HEADER,
    CODE_BAD_REQUEST,
    CODE_DELETED,
    CODE_NOT_FOUND,
    MALFORMED_BODY,
    MSG_DELETED,
    MSG_NOT_FOUND,
    Answer,
    dig,
    error_answer,
    json_bytes,
    respond,
)

__all__ = ["DrsApi"]


class DrsApi(IamApi, FaultInjection):
    """The batch-detail part of :class:`Simulator` (authenticates through :class:`IamApi`)."""

    async def _handle_batch_detail(self, request: web.Request) -> web.Response:
        await self._latency()
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        jobs = dig(parsed, "jobs")
        ids = tuple(j for j in jobs if isinstance(j, str)) if isinstance(jobs, list) else ()
        page = dig(parsed, "page_req", "cur_page")
        if "X-Auth-Token" in request.headers:
            mode = "token"
        elif "Authorization" in request.headers:
            mode = "aksk"
        else:
            mode = "none"
        answer = self._batch_detail(request, raw, parsed, mode)
        self.stats.record(
            RequestRecord(
                time=self._clock(),
                path=request.path,
                http_status=answer.status,
                error_code=answer.error_code,
                auth_mode=mode,
                ids=ids,
                page=page if isinstance(page, int) and not isinstance(page, bool) else None,
            ),
            batch_detail=True,
        )
        return respond(answer)

    def _batch_detail(self, request: web.Request, raw: bytes, parsed: Any, mode: str) -> Answer:
        project = request.match_info["project_id"]
        denied = self._authenticate(request, raw, project, mode)
        if denied is not None:
            return denied
        fault = self._error_fault()
        if fault is not None:
            return fault
        if "X-Language" not in request.headers:
            return error_answer(400, CODE_BAD_HEADER, "The X-Language header is required.")
        if not request.headers.get("Content-Type", "").lower().startswith("application/json"):
            return error_answer(400, CODE_BAD_HEADER, "The Content-Type must be application/json.")
        checked = self._check_body(parsed)
        if isinstance(checked, Answer):
            return checked
        ids, cur_page, per_page = checked
        return self._lookup(project, ids, cur_page, per_page)

    def _check_body(self, parsed: Any) -> Answer | tuple[list[str], int, int]:
        def bad(message: str) -> Answer:
            return error_answer(400, CODE_BAD_REQUEST, f"Invalid request: {message}")

        if not isinstance(parsed, dict):
            return bad("the body must be a JSON object.")
        jobs = parsed.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return bad("jobs must be a non-empty list of job IDs.")
        seen: set[str] = set()
        for index, job_id in enumerate(jobs):
            if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
                return bad(f"jobs[{index}] is not a valid job ID.")
            if job_id in seen:
                return bad(f"jobs[{index}] is a duplicate job ID.")
            seen.add(job_id)
        cur_page, per_page = 1, self.per_page_default
        page_req = parsed.get("page_req")
        if page_req is not None:
            if not isinstance(page_req, dict):
                return bad("page_req must be an object.")
            cur_page = page_req.get("cur_page", 1)
            per_page = page_req.get("per_page", self.per_page_default)
            for name, value, low in (("cur_page", cur_page, 1), ("per_page", per_page, 0)):
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    return bad(f"page_req.{name} must be an integer >= {low}.")
            if per_page > self.per_page_max:
                return bad(f"page_req.per_page must be at most {self.per_page_max}.")
        return jobs, cur_page, per_page

    def _lookup(self, project: str, ids: list[str], cur_page: int, per_page: int) -> Answer:
        store = self._store
        found: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        for job_id in ids:
            item = store.get(job_id, project_id=project)
            if item is None:
                if store.is_deleted(job_id):
                    error = {"id": job_id, "error_code": CODE_DELETED, "error_message": MSG_DELETED}
                else:
                    error = {
                        "id": job_id,
                        "error_code": CODE_NOT_FOUND,
                        "error_message": MSG_NOT_FOUND,
                    }
                missing.append(error)
                entries.append(error)
            else:
                found.append(item)
                entries.append(item)
        if missing and (not found or self.mixed_missing == "error400"):
            body = json_bytes({"results": missing, "count": len(missing)})
            return Answer(400, body, str(missing[0]["error_code"]))
        listing = entries if missing else found
        return self._page(listing, cur_page, per_page)

    def _page(self, listing: list[dict[str, Any]], cur_page: int, per_page: int) -> Answer:
        """The 200 answer: one page of ``listing``, with the body faults applied."""
        if self._malformed_fault():
            return Answer(200, MALFORMED_BODY)
        truncate = self._truncated_fault()
        listing = self._thin_listing(listing)
        total = len(listing)
        faults = self.faults
        if faults.ignore_paging or per_page == 0:
            page_items = listing
        else:
            start = (cur_page - 1) * per_page
            page_items = listing[start : start + per_page]
        page_items = self._duplicate_item(page_items)
        body = json_bytes({self.list_key: page_items, "count": total + faults.count_inflate})
        if truncate:
            body = self._truncate(body)
        return Answer(200, body)
