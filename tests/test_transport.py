"""AiohttpTransport against raw asyncio servers on loopback: what goes on the wire,
what comes back, and how each way of failing is reported (as httpx's errors)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import httpx
import pytest

from drs_operator.drs.auth import TokenAuth
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import DrsTransportError
from drs_operator.drs.transport import AiohttpTransport, map_error

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def answer(body: bytes, *, status: str = "200 OK", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


@asynccontextmanager
async def serve(reply: Reply) -> AsyncIterator[Server]:
    """A server that records each request and lets ``reply`` answer it (per connection)."""
    state = Server(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await reply(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        server.close()


def keep_answering(state: list[Server], body: bytes = b'{"ok": true}', **kw: str) -> Reply:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            state[0].requests.append(await read_request(reader))
            writer.write(answer(body, **kw))
            await writer.drain()

    return reply


async def send(
    transport: AiohttpTransport, url: str, *, timeout: float = 5.0, content: bytes = b"{}"
) -> tuple[httpx.Response, bytes]:
    request = httpx.Request(
        "POST",
        url,
        content=content,
        headers={"Content-Type": "application/json", "X-Extra": "1"},
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )
    response = await transport.handle_async_request(request)
    try:
        return response, await response.aread()
    finally:
        await response.aclose()


async def test_request_goes_out_as_given_and_connections_are_reused() -> None:
    holder: list[Server] = []
    async with serve(keep_answering(holder)) as server:
        holder.append(server)
        transport = AiohttpTransport()
        try:
            for _ in range(3):
                response, body = await send(transport, server.url + "/v3/a%2Fb/jobs?x=1")
                assert response.status_code == 200 and json.loads(body) == {"ok": True}
        finally:
            await transport.aclose()
    first = server.requests[0].decode()
    assert first.startswith("POST /v3/a%2Fb/jobs?x=1 HTTP/1.1\r\n"), "path sent as given"
    assert "X-Extra: 1" in first and "Content-Type: application/json" in first
    assert first.endswith("\r\n\r\n{}")
    assert "Cookie" not in first
    assert server.connections == 1, "keep-alive: three requests on one connection"


async def test_gzip_is_decoded_by_httpx_while_reading() -> None:
    packed = gzip.compress(b'{"results": []}')
    holder: list[Server] = []
    async with serve(keep_answering(holder, packed, headers="Content-Encoding: gzip\r\n")) as s:
        holder.append(s)
        transport = AiohttpTransport()
        try:
            response, body = await send(transport, s.url)
        finally:
            await transport.aclose()
    assert response.headers["Content-Encoding"] == "gzip"
    assert body == b'{"results": []}'


async def test_a_response_closed_unread_gives_up_its_connection() -> None:
    big = b"x" * 300_000
    holder: list[Server] = []
    async with serve(keep_answering(holder, big)) as server:
        holder.append(server)
        transport = AiohttpTransport()
        try:
            request = httpx.Request("POST", server.url, content=b"{}")
            response = await transport.handle_async_request(request)
            await response.aclose()  # nothing read
            _, body = await send(transport, server.url)
        finally:
            await transport.aclose()
    assert body == big
    assert server.connections == 2


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(30)


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)


async def cut_the_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"partial')
    await writer.drain()


async def garbage_status_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"SMTP ready\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize(
    ("reply", "expected", "reason"),
    [
        (never_answer, httpx.ReadTimeout, "no answer within the read timeout"),
        (hang_up, httpx.RemoteProtocolError, "connection closed without an answer"),
        (cut_the_body, httpx.RemoteProtocolError, "body shorter than its Content-Length"),
        (garbage_status_line, httpx.RemoteProtocolError, "not HTTP"),
    ],
)
async def test_failures_become_httpx_errors(
    reply: Reply, expected: type[httpx.HTTPError], reason: str
) -> None:
    async with serve(reply) as server:
        transport = AiohttpTransport()
        try:
            with pytest.raises(expected) as info:
                await send(transport, server.url, timeout=0.3)
        finally:
            await transport.aclose()
    assert isinstance(info.value.__cause__, aiohttp.ClientError | TimeoutError), reason
    assert server.url not in str(info.value), "the message names no URL"


async def test_connection_refused_is_a_connect_error() -> None:
    async with serve(hang_up) as server:
        url = server.url
    transport = AiohttpTransport()
    try:
        with pytest.raises(httpx.ConnectError):
            await send(transport, url)
    finally:
        await transport.aclose()


async def test_a_proxy_refusing_the_tunnel_is_a_proxy_error() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with serve(refuse) as proxy:
        transport = AiohttpTransport(proxy=proxy.url)
        try:
            with pytest.raises(httpx.ProxyError):
                await send(transport, "https://drs.example.invalid/v3/p/jobs/batch-detail")
        finally:
            await transport.aclose()


async def test_the_drs_client_names_the_host_and_the_kind_of_failure() -> None:
    async with serve(never_answer) as server:
        client = DrsClient(
            endpoint=server.url, project_id="p" * 32, auth=TokenAuth("t"), timeout=0.3
        )
        async with client:
            with pytest.raises(DrsTransportError, match="timed out") as info:
                await client.batch_detail(["a"])
    assert str(info.value) == "DRS request to 127.0.0.1 timed out (ReadTimeout)"


@pytest.mark.parametrize(
    ("error", "expected", "reason"),
    [
        (aiohttp.ConnectionTimeoutError(), httpx.ConnectTimeout, "connect timeout"),
        (aiohttp.SocketTimeoutError(), httpx.ReadTimeout, "read timeout"),
        (aiohttp.ServerTimeoutError(), httpx.ReadTimeout, "older aiohttp timeout"),
        (TimeoutError(), httpx.ReadTimeout, "a bare timeout"),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, "disconnect"),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError, "truncated body"),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError, "I/O on an open connection"),
        (aiohttp.InvalidURL("x"), httpx.UnsupportedProtocol, "bad URL"),
        (aiohttp.ClientError("other"), httpx.TransportError, "anything else"),
        (ValueError("not aiohttp"), httpx.TransportError, "not an aiohttp error at all"),
    ],
)
def test_error_mapping(error: BaseException, expected: type[Exception], reason: str) -> None:
    mapped = map_error(error)
    assert type(mapped) is expected, reason
    assert str(mapped) == type(error).__name__


@pytest.mark.parametrize(
    ("proxy", "ok"),
    [("http://proxy:3128", True), ("https://proxy:3129", True), ("socks5://proxy:1080", False)],
)
def test_proxy_schemes(proxy: str, ok: bool) -> None:
    if ok:
        AiohttpTransport(proxy=proxy)
    else:
        with pytest.raises(ValueError, match="unsupported proxy scheme 'socks5'"):
            AiohttpTransport(proxy=proxy)


async def test_closing_twice_and_before_any_request_is_fine() -> None:
    transport = AiohttpTransport()
    await transport.aclose()
    await transport.aclose()
    holder: list[Server] = []
    async with serve(keep_answering(holder)) as server:
        holder.append(server)
        response, body = await send(transport, server.url)  # usable after a close
        assert response.status_code == 200 and json.loads(body) == {"ok": True}
        await transport.aclose()
        await transport.aclose()
        response, body = await send(transport, server.url)  # a new session, a new connection
        assert response.status_code == 200
        await transport.aclose()
    assert server.connections == 2, "each close ended the connection the session held"
