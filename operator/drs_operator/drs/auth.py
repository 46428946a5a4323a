"""How DRS requests are authenticated: ``httpx.Auth`` classes for the three modes.

- :class:`TokenAuth`: a ready IAM token, sent as ``X-Auth-Token``.
- :class:`IamPasswordAuth`: obtains a project-scoped token from IAM
  (``POST {iam}/v3/auth/tokens``), caches it, refreshes it ahead of its
  expiry, and on an auth refusal of the DRS call (401, or 403 with an auth
  code) refreshes it once and retries once. Concurrent calls share a single
  refresh (an ``asyncio.Lock``). Async only.
- :class:`AkSkAuth`: signs each request with the access key / secret key
  (:mod:`drs_operator.drs.signing`), adding ``X-Project-Id``,
  ``X-Security-Token`` (temporary keys) and ``X-Sdk-Date`` first.

:func:`build_auth` picks one from anything shaped like :class:`AuthValues` (the
operator passes its validated credentials; this package knows nothing of Secrets).

No secret (token, password, secret key, security token) appears in the
``repr()`` of these objects or in the text of any error they raise. IAM
failures raise :class:`DrsAuthError` (refused: 4xx), :class:`DrsThrottledError`
(429), :class:`DrsServerError` (5xx) or :class:`DrsTransportError` (no answer),
each with IAM's code, HTTP status and request ID.
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
from typing import Any, Literal, Protocol

import httpx

from drs_operator.drs import endpoints, signing
from drs_operator.drs.classify import request_id_of
from drs_operator.drs.errors import (
    AUTH_CODES,
    DrsAuthError,
    DrsError,
    DrsRedirectError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.parsing import parse_error_body

__all__ = [
    "AUTH_TOKEN_HEADER",
    "AkSkAuth",
    "AuthValues",
    "IamPasswordAuth",
    "TokenAuth",
    "build_auth",
    "is_auth_refusal",
]

logger = logging.getLogger("drs_operator.drs")

AUTH_TOKEN_HEADER = "X-Auth-Token"
SUBJECT_TOKEN_HEADER = "X-Subject-Token"
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0  # when IAM does not say
MAX_INSPECTED_BODY = 64 * 1024  # a 403 body larger than this is not read for an auth code
MAX_IAM_BODY = 1024 * 1024
REFRESH_SUCCESS = "success"
REFRESH_FAILURE = "failure"

# Headers httpx adds on its own, or that proxies may rewrite: never signed.
_UNSIGNED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "transfer-encoding",
        "user-agent",
    }
)


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


class TokenAuth(httpx.Auth):
    """A ready token, sent as ``X-Auth-Token``."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a token is required")
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[AUTH_TOKEN_HEADER] = self._token
        yield request

    def __repr__(self) -> str:
        return "TokenAuth(token=<redacted>)"


class AkSkAuth(httpx.Auth):
    """AK/SK request signing (``SDK-HMAC-SHA256``)."""

    requires_request_body = True

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        project_id: str,
        security_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("an access key and a secret key are required")
        self._access_key = access_key
        self._secret_key = secret_key
        self._project_id = project_id
        self._security_token = security_token or None
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        yield request

    def sign_request(self, request: httpx.Request) -> None:
        """Add the signing headers and ``Authorization`` to a request (its body must be read)."""
        headers = request.headers
        if self._project_id:
            headers["X-Project-Id"] = self._project_id
        if self._security_token:
            headers["X-Security-Token"] = self._security_token
        headers[signing.DATE_HEADER] = signing.format_sdk_date(self._clock())
        if "Host" not in headers:
            headers["Host"] = request.url.netloc.decode("ascii")
        headers.update(signing.payload_headers(headers))
        to_sign = {name: value for name, value in headers.items() if name not in _UNSIGNED_HEADERS}
        headers["Authorization"] = signing.sign(
            access_key=self._access_key,
            secret_key=self._secret_key,
            method=request.method,
            url=str(request.url),
            headers=to_sign,
            body=request.content,
        )

    def __repr__(self) -> str:
        temporary = ", temporary" if self._security_token else ""
        return f"AkSkAuth(access_key={self._access_key!r}, secret_key=<redacted>{temporary})"


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
            raise DrsTransportError(
                f"IAM token request to {host} failed: {type(error).__name__}"
            ) from None
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


class AuthValues(Protocol):
    """What :func:`build_auth` reads: the auth mode and that mode's values."""

    @property
    def mode(self) -> Literal["token", "aksk", "password"]: ...
    @property
    def region(self) -> str | None: ...
    @property
    def project_id(self) -> str | None: ...
    @property
    def iam_endpoint(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...
    @property
    def access_key(self) -> str | None: ...
    @property
    def secret_key(self) -> str | None: ...
    @property
    def security_token(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def domain(self) -> str | None: ...


def build_auth(
    credentials: AuthValues,
    *,
    iam_endpoint: str | None = None,
    http: httpx.AsyncClient | None = None,
    verify: bool | ssl.SSLContext = True,
    timeout: float = 10.0,
    refresh_margin: float = 3600.0,
    clock: Callable[[], float] = time.time,
    on_refresh: Callable[[str], None] | None = None,
) -> httpx.Auth:
    """The auth for credentials, by ``credentials.mode`` (``token``, ``aksk``, ``password``).

    For ``password``, the IAM endpoint is ``iam_endpoint`` when given, else the
    credentials' ``iam_endpoint``, else the region's default; without ``http``
    the auth makes (and its ``aclose`` closes) its own IAM client with ``verify``
    and ``timeout``.
    """
    mode = credentials.mode
    if mode == "token":
        return TokenAuth(credentials.token or "")
    if mode == "aksk":
        return AkSkAuth(
            access_key=credentials.access_key or "",
            secret_key=credentials.secret_key or "",
            project_id=credentials.project_id or "",
            security_token=credentials.security_token,
            clock=clock,
        )
    if mode == "password":
        iam = iam_endpoint or endpoints.resolve(credentials.iam_endpoint, credentials.region, "iam")
        return IamPasswordAuth(
            iam_endpoint=iam,
            username=credentials.username or "",
            password=credentials.password or "",
            domain=credentials.domain or "",
            project_id=credentials.project_id or "",
            http=http,
            verify=verify,
            timeout=timeout,
            refresh_margin=refresh_margin,
            clock=clock,
            on_refresh=on_refresh,
        )
    raise ValueError(f"unknown credentials mode {mode!r}")
