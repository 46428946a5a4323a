"""How DRS requests are authenticated: ``httpx.Auth`` classes for the three modes.

- :class:`TokenAuth`: a ready IAM token, sent as ``X-Auth-Token``.
- :class:`~drs_operator.drs.iam.IamPasswordAuth`: a token obtained from IAM
  with a user's password, cached and refreshed (:mod:`drs_operator.drs.iam`).
- :class:`AkSkAuth`: signs each request with the access key / secret key
  (:mod:`drs_operator.drs.signing`), adding ``X-Project-Id``,
  ``X-Security-Token`` (temporary keys) and ``X-Sdk-Date`` first.

:func:`build_auth` picks one from anything shaped like :class:`AuthValues` (the
operator passes its validated credentials; this package knows nothing of Secrets).

No secret (token, password, secret key, security token) appears in the
``repr()`` of these objects or in the text of any error they raise.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Generator
from typing import Literal, Protocol

import httpx

from drs_operator.drs import endpoints, signing
from drs_operator.drs.iam import AUTH_TOKEN_HEADER, IamPasswordAuth

__all__ = ["AkSkAuth", "AuthValues", "TokenAuth", "build_auth"]

logger = logging.getLogger("drs_operator.drs")


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
