"""The cause of a failed connection, in a few words a person can act on.

HTTP libraries wrap the operating system's error in one or two of their own
(httpx's ``ConnectError`` around httpcore's around an ``OSError``; aiohttp's
``ClientConnectorError`` with ``os_error``); their class names say little.
:func:`network_cause` walks the chain to the root and names it: ``DNS lookup
failed (Name or service not known)``, ``connection refused``, ``timed out``,
``TLS certificate not trusted (...)``, ``TLS handshake failed (...)``. The
text comes from the operating system or the TLS library only: never a URL, a
header or a credential. :func:`transport_error` turns a failed exchange into the
:class:`~drs_operator.drs.errors.DrsTransportError` the DRS and IAM clients raise.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator

import httpx

from drs_operator.drs.errors import DrsError, DrsParseError, DrsTransportError

__all__ = ["network_cause", "transport_error"]


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "os_error", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _is_timeout(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or type(error).__name__.endswith(
        ("Timeout", "TimeoutError")
    )


def _strerror(error: OSError) -> str | None:
    """The operating system's words for ``error``: the resolver's for a DNS error,
    else ``os.strerror`` of its errno. Never the exception's own message, which a
    library may have written (aiohttp's ``ClientOSError`` names the request URL)."""
    if isinstance(error, socket.gaierror):
        text = error.strerror
    elif isinstance(error.errno, int) and error.errno > 0:
        text = os.strerror(error.errno)
    else:
        return None
    return " ".join(str(text).split()) if text else None


def network_cause(error: BaseException) -> str | None:
    """A short cause for a failed connection or request, or None when nothing is known."""
    chain = list(_chain(error))
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):  # aiohttp's subclass has no fields
            detail = getattr(item, "verify_message", None) or getattr(item, "reason", None)
            if detail:
                return f"TLS certificate not trusted ({detail})"
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake failed ({getattr(item, 'reason', None) or type(item).__name__})"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return f"DNS lookup failed ({_strerror(item) or 'unknown host'})"
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError):
            return "connection reset by the server"
    if any(_is_timeout(item) for item in chain):
        return "timed out"
    for item in chain:
        if isinstance(item, OSError) and not _is_timeout(item):
            text = _strerror(item)
            if text:
                return text[:1].lower() + text[1:]
    return None


def _is_tls(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def transport_error(error: httpx.HTTPError, request: str) -> DrsError:
    """The error to raise for a failed HTTP exchange: ``request`` (``"DRS request to
    HOST"``) and what failed, with the cause :func:`network_cause` finds (DRS and IAM)."""
    if isinstance(error, httpx.DecodingError):
        return DrsParseError("response body could not be decoded")
    if isinstance(error, httpx.TimeoutException):
        what = "timed out"
    elif _is_tls(error):
        what = "TLS failure"
    elif isinstance(error, httpx.ConnectError):
        what = "connection failed"
    else:
        what = "failed"
    cause = network_cause(error)
    if cause and cause != what:  # e.g. "DNS lookup failed (Name or service not known)"
        return DrsTransportError(f"{request} {what}: {cause}")
    return DrsTransportError(f"{request} {what} ({type(error).__name__})")
