"""The DRS HTTP client: one method, ``batch_detail``.

Contract of :meth:`DrsClient.batch_detail`:

- IDs are de-duplicated (first occurrence wins, order kept) and sent as
  ``{"jobs": [...], "page_req": {"cur_page": n, "per_page": N}}`` with
  ``X-Language`` and ``Content-Type: application/json``.
- Paging: the next page is asked for while the page was non-empty and added
  something new, and either the items seen so far are fewer than ``count``
  (which may be the total) or the page was full and some requested ID is still
  unanswered (``count`` may lie). At most ``ceil(len(ids) / per_page) + 1``
  pages are asked for (a server that ignores ``page_req`` costs one extra call).
- A 2xx item with ``error_code`` and no ``status`` is a per-item error
  (``BatchDetailResult.errors``); items for IDs that were not asked for are
  ignored; requested IDs that come back in neither are ``unanswered``.
- Every other answer raises one error of :mod:`drs_operator.drs.errors`,
  classified by :func:`drs_operator.drs.classify.classify` (the API's code
  first, the HTTP status second), carrying the code, HTTP status and
  ``X-Request-Id``.
- Bodies are streamed and refused past ``max_body_bytes``.
- Transport failures become :class:`DrsTransportError` naming only the host and the
  cause (:func:`drs_operator.drs.causes.network_cause`: DNS, refused, TLS, ...).
- Requests go straight to an ``httpx`` transport, by default
  :class:`~drs_operator.drs.transport.AiohttpTransport` (connection pool, TLS,
  the proxy the environment names: :func:`drs_operator.drs.tls.proxy_for`),
  with the ``httpx.Auth`` flow driven here: no cookie jar, no redirects (a
  3xx is reported as an unexpected answer, never followed, so credentials
  never travel to another host). Both choices are for CPU per call
  (``bench/client_cost.py``).
- Logging (logger ``drs_operator.drs``, DEBUG): method, path, HTTP status,
  request ID, number of IDs and duration. Never headers or bodies.

The client knows nothing of Kubernetes; ``on_call`` receives one
:class:`CallRecord` per HTTP call (for metrics).
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType

import httpx

from drs_operator import __version__
from drs_operator.drs import endpoints
from drs_operator.drs.causes import transport_error
from drs_operator.drs.classify import (
    OUTCOME_SUCCESS,
    BatchDetailResult,
    CallRecord,
    classify,
    outcome_of,
    request_id_of,
)
from drs_operator.drs.errors import DrsError, DrsParseError
from drs_operator.drs.models import (
    MAX_PER_PAGE,
    BatchDetailRequest,
    BatchDetailResponse,
    JobDetail,
    PageReq,
)
from drs_operator.drs.parsing import is_item_error
from drs_operator.drs.text import printable
from drs_operator.drs.tls import proxy_for
from drs_operator.drs.transport import AiohttpTransport

__all__ = ["DrsClient"]

logger = logging.getLogger("drs_operator.drs")

DEFAULT_MAX_BODY = 8 * 1024 * 1024


class DrsClient:
    """An async client for one DRS endpoint and project.

    ``verify``: True (system CAs), False (no verification) or an
    ``ssl.SSLContext`` (:func:`drs_operator.drs.tls.ssl_verify` makes one).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        project_id: str,
        auth: httpx.Auth,
        timeout: float = 10.0,
        verify: bool | ssl.SSLContext = True,
        language: str = "en-us",
        per_page: int = MAX_PER_PAGE,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        trust_env: bool = True,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self._endpoint = endpoints.validate_url(endpoint)
        self._path = endpoints.batch_detail_path(project_id)
        self._url = self._endpoint + self._path
        self._host = httpx.URL(self._endpoint).host
        self._language = language
        self._per_page = per_page
        self._max_body = max_body_bytes
        self._on_call = on_call
        self._auth = auth
        self._request_url = httpx.URL(self._url)
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Content-Type": "application/json",
            "User-Agent": f"drs-operator/{__version__}",
            "X-Language": language,
        }
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        if transport is None:
            transport = AiohttpTransport(
                verify=verify,
                trust_env=trust_env,  # SSL_CERT_FILE / SSL_CERT_DIR
                proxy=proxy_for(self._request_url) if trust_env else None,
            )
        self._transport = transport

    def __repr__(self) -> str:
        return f"DrsClient(endpoint={self._endpoint!r}, path={self._path!r})"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> DrsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def batch_detail(self, job_ids: Sequence[str]) -> BatchDetailResult:
        """Details of the given jobs (see the module docstring for the contract)."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return BatchDetailResult(jobs={}, errors={}, unanswered=(), request_id=None, calls=0)
        wanted = set(ids)
        jobs: dict[str, JobDetail] = {}
        errors: dict[str, tuple[str | None, str | None]] = {}
        max_pages = math.ceil(len(ids) / self._per_page) + 1
        request_id: str | None = None
        count: int | None = None
        page = 0
        while page < max_pages:
            page += 1
            answer, request_id = await self._call(ids, page)
            count = answer.count
            added = 0
            for item in answer.results:
                if item.id not in wanted or item.id in jobs:
                    continue
                if is_item_error(item):
                    if item.id not in errors:
                        errors[item.id] = (
                            printable(item.error_code),
                            printable(item.error_message),
                        )
                        added += 1
                else:
                    added += 0 if item.id in errors else 1
                    errors.pop(item.id, None)
                    jobs[item.id] = item
            seen = len(jobs) + len(errors)
            if not answer.results or added == 0 or seen >= len(ids):
                break
            more_by_count = count is not None and seen < count
            more_by_size = len(answer.results) >= self._per_page
            if not (more_by_count or more_by_size):
                break
        unanswered = tuple(job_id for job_id in ids if job_id not in jobs and job_id not in errors)
        return BatchDetailResult(
            jobs=jobs,
            errors=errors,
            unanswered=unanswered,
            request_id=request_id,
            calls=page,
            count=count,
        )

    async def _call(self, ids: list[str], page: int) -> tuple[BatchDetailResponse, str | None]:
        body = BatchDetailRequest(
            jobs=ids, page_req=PageReq(cur_page=page, per_page=self._per_page)
        ).to_json()
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        started = time.monotonic()
        status: int | None = None
        request_id: str | None = None
        try:
            try:
                response = await self._send(
                    httpx.Request(
                        "POST",
                        self._request_url,
                        content=content,
                        headers=self._headers,
                        extensions=self._extensions,
                    )
                )
                try:
                    status = response.status_code
                    request_id = request_id_of(response.headers)
                    raw = await self._read(response, request_id)
                finally:
                    await response.aclose()
            except httpx.HTTPError as error:
                raise transport_error(error, f"DRS request to {self._host}") from None
            answer = classify(status, raw, response.headers, asked=ids)
        except DrsError as error:
            self._record(outcome_of(error), status, len(ids), started, request_id)
            raise
        self._record(OUTCOME_SUCCESS, status, len(ids), started, request_id)
        return answer, request_id

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """The final response to ``request``, the auth flow driven as httpx's client does.

        A response the flow answers with another request (an auth retry) is
        closed unread; the flow is closed in every case.
        """
        flow = self._auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                response = await self._transport.handle_async_request(request)
                response.request = request
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return response
                except BaseException:
                    await response.aclose()
                    raise
                await response.aclose()
        finally:
            await flow.aclose()

    async def _read(self, response: httpx.Response, request_id: str | None) -> bytes:
        limit = self._max_body
        too_big = DrsParseError(
            f"response body exceeds {limit} bytes",
            http_status=response.status_code,
            request_id=request_id,
        )
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def _record(
        self, outcome: str, status: int | None, ids: int, started: float, request_id: str | None
    ) -> None:
        duration = time.monotonic() - started
        logger.debug(
            "DRS POST %s -> %s (%s, request %s) for %d IDs in %.3fs",
            self._path,
            status if status is not None else "no answer",
            outcome,
            request_id,
            ids,
            duration,
        )
        if self._on_call is not None:
            try:
                self._on_call(
                    CallRecord(outcome=outcome, http_status=status, ids=ids, duration=duration)
                )
            except Exception:  # a metrics hook must never break a call
                logger.debug("on_call hook failed", exc_info=True)
