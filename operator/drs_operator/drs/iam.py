"""IAM password tokens: :class:`IamPasswordAuth`, an ``httpx.Auth`` for DRS calls.

It obtains a project-scoped token from IAM (``POST {iam}/v3/auth/tokens``,
the token in the ``X-Subject-Token`` header), caches it, refreshes it ahead
of its expiry (``token.expires_at``), and on an auth refusal of the DRS call
(:func:`is_auth_refusal`: a 401, or a 403 with an auth code) refreshes it
once and retries once. Concurrent calls share a single refresh (an
``asyncio.Lock``). Async only. Its IAM client is its own (closed by
:meth:`IamPasswordAuth.aclose`) unless one is passed in, and never follows a
redirect. IAM failures raise :class:`DrsAuthError` (refused: 4xx),
:class:`DrsRedirectError` (3xx), :class:`DrsThrottledError` (429),
:class:`DrsServerError` (5xx) or :class:`DrsTransportError` (no answer), each
with IAM's code, HTTP status and request ID, and never the password or token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import datetime
from typing import Any

import httpx

from drs_operator.drs import endpoints
from drs_operator.drs.causes import transport_error
from drs_operator.drs.classify import request_id_of
from drs_operator.drs.errors import (
    AUTH_CODES,
    DrsAuthError,
    DrsError,
    DrsRedirectError,
    DrsServerError,
    DrsThrottledError,
)
from drs_operator.drs.parsing import parse_error_body

__all__ = ["AUTH_TOKEN_HEADER", "IamPasswordAuth", "is_auth_refusal"]

logger = logging.getLogger("drs_operator.drs")

AUTH_TOKEN_HEADER = "X-Auth-Token"
SUBJECT_TOKEN_HEADER = "X-Subject-Token"
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0  # when IAM does not say
MAX_INSPECTED_BODY = 64 * 1024  # a 403 body larger than this is not read for an auth code
MAX_IAM_BODY = 1024 * 1024
REFRESH_SUCCESS = "success"
REFRESH_FAILURE = "failure"


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


async def is_auth_refusal(response: httpx.Response) -> bool:
    """True for a 401, or a 403 whose (small) body carries one of the auth codes."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit() or int(length) > MAX_INSPECTED_BODY:
        return False
    content = await response.aread()
    code, _ = parse_error_body(_json(content))
    return code in AUTH_CODES


class IamPasswordAuth(httpx.Auth):
    """An IAM password token, obtained, cached, refreshed ahead of expiry and on refusal."""

    def __init__(
        self,
        *,
        iam_endpoint: str,
        username: str,
        password: str,
        domain: str,
        project_id: str,
        http: httpx.AsyncClient | None = None,
        refresh_margin: float = 3600.0,
        clock: Callable[[], float] = time.time,
        on_refresh: Callable[[str], None] | None = None,
        timeout: float = 10.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        if not (username and password and domain and project_id):
            raise ValueError("a username, password, domain and project ID are required")
        self._url = endpoints.iam_tokens_url(iam_endpoint)
        self._username = username
        self._password = password
        self._domain = domain
        self._project_id = project_id
        self._http = http
        self._owns_http = http is None
        self._margin = refresh_margin
        self._clock = clock
        self._on_refresh = on_refresh
        self._timeout = timeout
        self._verify = verify
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0  # IAM calls made (successful or not)

    def __repr__(self) -> str:
        return (
            f"IamPasswordAuth(iam={self._url!r}, username={self._username!r}, "
            f"domain={self._domain!r}, password=<redacted>)"
        )

    def invalidate(self) -> None:
        """Forget the cached token; the next call obtains a new one."""
        self._token = None
        self._refresh_at = 0.0

    async def aclose(self) -> None:
        """Close the IAM HTTP client if this object created it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("IamPasswordAuth works only with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers[AUTH_TOKEN_HEADER] = token
        response = yield request
        if await is_auth_refusal(response):
            logger.debug("DRS refused the token (HTTP %s); refreshing once", response.status_code)
            token = await self._refresh(stale=token)
            request.headers[AUTH_TOKEN_HEADER] = token
            yield request

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._refresh_at

    async def token(self) -> str:
        """The cached token, or a new one when there is none or it is due for refresh."""
        if self._valid():
            assert self._token is not None
            return self._token
        return await self._refresh(stale=self._token)

    async def _refresh(self, *, stale: str | None) -> str:
        async with self._lock:
            # Another caller may have refreshed while this one waited.
            if self._token is not None and self._token != stale and self._valid():
                return self._token
            try:
                token, expires_at = await self._fetch()
            except DrsError:
                self._report(REFRESH_FAILURE)
                raise
            now = self._clock()
            lifetime = max(0.0, expires_at - now)
            self._token = token
            self._refresh_at = expires_at - min(self._margin, lifetime / 2)
            self._report(REFRESH_SUCCESS)
            return token

    def _report(self, outcome: str) -> None:
        if self._on_refresh is not None:
            with contextlib.suppress(Exception):
                self._on_refresh(outcome)

    def _body(self) -> dict[str, Any]:
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._username,
                            "password": self._password,
                            "domain": {"name": self._domain},
                        }
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }

    async def _fetch(self) -> tuple[str, float]:
        if self._http is None:
            # Its own client (closed by aclose): no redirect is followed, so the
            # password never travels to another host than the IAM endpoint.
            self._http = httpx.AsyncClient(
                verify=self._verify, timeout=self._timeout, follow_redirects=False
            )
        self.refreshes += 1
        host = httpx.URL(self._url).host
        started = self._clock()
        try:
            async with self._http.stream(
                "POST",
                self._url,
                json=self._body(),
                headers={"Content-Type": "application/json;charset=utf8"},
            ) as response:
                content = b""
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > MAX_IAM_BODY:
                        break
        except httpx.HTTPError as error:
            raise transport_error(error, f"IAM token request to {host}") from None
        request_id = request_id_of(response.headers)
        logger.debug(
            "IAM POST /v3/auth/tokens -> %s (request %s) in %.3fs",
            response.status_code,
            request_id,
            self._clock() - started,
        )
        payload = _json(content) if len(content) <= MAX_IAM_BODY else None
        if response.status_code not in (200, 201):
            code, message = parse_error_body(payload)
            error_class: type[DrsError] = DrsAuthError
            summary = "IAM refused the token request"
            if 300 <= response.status_code < 400:
                error_class = DrsRedirectError
                summary = "IAM answered with a redirect, which is not followed (check iamEndpoint)"
            elif response.status_code == 429:
                error_class = DrsThrottledError
            elif response.status_code >= 500:
                error_class = DrsServerError
            raise error_class(
                summary,
                code=code,
                http_status=response.status_code,
                request_id=request_id,
                api_message=message,
            )
        token = response.headers.get(SUBJECT_TOKEN_HEADER)
        if not token:
            raise DrsAuthError(
                f"IAM answered without an {SUBJECT_TOKEN_HEADER} header",
                http_status=response.status_code,
                request_id=request_id,
            )
        return token, self._expires_at(payload)

    def _expires_at(self, payload: Any) -> float:
        default = self._clock() + DEFAULT_TOKEN_LIFETIME
        try:
            text = payload["token"]["expires_at"]
            moment = datetime.fromisoformat(str(text))
        except (KeyError, TypeError, ValueError):
            return default
        if moment.tzinfo is None:
            return default
        return moment.timestamp()
