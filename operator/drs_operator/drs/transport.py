"""An ``httpx`` transport that sends over aiohttp's client.

Why: per batch-detail call, httpcore (httpx's own transport, on anyio) costs
about 0.6 ms of CPU where aiohttp's client, with its C HTTP parser, costs
about 0.25 ms (``bench/client_cost.py``); the DRS client spends most of its
time there. aiohttp is already a dependency (kopf's, and the simulator's).
The DRS client keeps httpx's API: ``httpx.Request``, ``httpx.Response`` and
the ``httpx.Auth`` flows are unchanged; only the wire changes.

Contract of :class:`AiohttpTransport`:

- ``handle_async_request`` sends the request's method, URL (as given, not
  re-quoted), headers and bytes; aiohttp adds only what is missing (``Host``,
  ``Content-Length``, ``Accept``, ``Accept-Encoding``, ``User-Agent``). It does
  not follow redirects, keep cookies, read ``.netrc`` or the environment's
  proxies (the proxy is explicit), or decompress: the ``httpx.Response``
  decodes ``Content-Encoding`` itself while the body is read.
- The response's stream reads the body as it arrives; closing it releases the
  connection (kept alive when the body was read in full, else closed).
- Timeouts come from the request's ``timeout`` extension (httpx's
  ``connect``/``read``/``pool``; ``write`` has no aiohttp equivalent).
- aiohttp's errors are raised as httpx's, chained to the original, with the
  aiohttp class name as the message (never a URL or a header):
  connect timeout → ``ConnectTimeout``; read timeout → ``ReadTimeout``; proxy
  refused → ``ProxyError``; no connection (refused, DNS, TLS) →
  ``ConnectError``; dropped connection, bad status line or truncated body →
  ``RemoteProtocolError``; I/O on an open connection → ``ReadError``; a bad
  URL → ``UnsupportedProtocol``; anything else aiohttp raises →
  ``TransportError``.
- The ``aiohttp.ClientSession`` is created on the first request (inside the
  running loop) and closed by :meth:`AiohttpTransport.aclose`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "map_error"]

# Most specific first: the first match wins.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.TransportError),
)
_MAPPED = (aiohttp.ClientError, TimeoutError)


def map_error(error: BaseException) -> httpx.TransportError:
    """The httpx error for an aiohttp (or timeout) error; the message is the class name."""
    for source, target in _ERRORS:
        if isinstance(error, source):
            return target(type(error).__name__)
    return httpx.TransportError(type(error).__name__)


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except _MAPPED as error:
        raise map_error(error) from error


def _headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The request's headers as aiohttp takes them, names in their original case."""
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]


class _Body(httpx.AsyncByteStream):
    """The body of an aiohttp response, as httpx reads it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests with one ``aiohttp.ClientSession`` (see the module docstring).

    ``verify``: as httpx's (True, False or an ``ssl.SSLContext``); ``trust_env``
    lets ``SSL_CERT_FILE``/``SSL_CERT_DIR`` choose the CAs; ``proxy``: an
    ``http://`` or ``https://`` proxy URL (credentials in it are used).
    """

    def __init__(
        self,
        *,
        verify: bool | ssl.SSLContext = True,
        trust_env: bool = True,
        proxy: str | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
    ) -> None:
        if proxy is not None and URL(proxy).scheme not in ("http", "https"):
            raise ValueError(f"unsupported proxy scheme {URL(proxy).scheme!r} (http or https)")
        self._ssl = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        self._proxy = URL(proxy) if proxy is not None else None
        self._limit = max_connections
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl, limit=self._limit, keepalive_timeout=self._keepalive
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            requote_redirect_url=False,
        )

    def _url(self, url: httpx.URL) -> URL:
        text = str(url)
        found = self._urls.get(text)
        if found is None:
            if len(self._urls) > 64:  # one client asks for one or two URLs
                self._urls.clear()
            found = self._urls[text] = URL(text, encoded=True)
        return found

    def _timeout(self, extension: Any) -> aiohttp.ClientTimeout:
        values = extension if isinstance(extension, dict) else {}
        key = (values.get("connect"), values.get("read"), values.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            connect, read, pool = key
            found = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        content = await request.aread()
        with _mapped_errors():
            response = await self._session.request(
                request.method,
                self._url(request.url),
                headers=_headers(request.headers),
                data=content or None,
                allow_redirects=False,
                compress=False,
                proxy=self._proxy,
                timeout=self._timeout(request.extensions.get("timeout")),
            )
        version = response.version
        extensions: dict[str, Any] = {
            "http_version": f"HTTP/{version.major}.{version.minor}".encode() if version else b""
        }
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
