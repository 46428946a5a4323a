"""The cause of a failed connection, named from the root of the exception chain."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from drs_operator.drs.causes import network_cause


def chained(root: BaseException, *wrappers: BaseException) -> BaseException:
    """``wrappers[-1]`` raised from ... from ``root`` (as httpx/httpcore/aiohttp chain them)."""
    current = root
    for wrapper in wrappers:
        wrapper.__cause__ = current
        current = wrapper
    return current


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (chained(socket.gaierror(-2, "Name or service not known"), httpx.ConnectError("x")),
         "DNS lookup failed (Name or service not known)"),
        (chained(ConnectionRefusedError(111, "Connect call failed"), OSError("wrap"),
                 httpx.ConnectError("ClientConnectorError")), "connection refused"),
        (chained(ConnectionResetError(104, "reset"), httpx.ReadError("x")),
         "connection reset by the server"),
        (httpx.ConnectTimeout("ConnectionTimeoutError"), "timed out"),
        (chained(ssl.SSLError(1, "[SSL] wrong version number"), httpx.ConnectError("tls")),
         "TLS handshake failed (SSLError)"),
        (chained(OSError(113, "No route to host"), httpx.ConnectError("x")), "no route to host"),
        (httpx.RemoteProtocolError("ServerDisconnectedError"), None),
    ],
)  # fmt: skip
def test_the_root_cause_is_named(error: BaseException, cause: str | None) -> None:
    assert network_cause(error) == cause


def test_an_untrusted_certificate_says_why() -> None:
    root = ssl.SSLCertVerificationError(1, "certificate verify failed")
    root.verify_message = "self-signed certificate"
    assert network_cause(chained(root, httpx.ConnectError("tls"))) == (
        "TLS certificate not trusted (self-signed certificate)"
    )


def test_aiohttps_os_error_attribute_is_followed() -> None:
    wrapper = OSError("ClientConnectorDNSError")
    wrapper.os_error = socket.gaierror(-3, "Temporary failure in name resolution")  # type: ignore[attr-defined]
    assert network_cause(wrapper) == "DNS lookup failed (Temporary failure in name resolution)"


def test_a_librarys_message_is_not_the_cause() -> None:
    """aiohttp's ClientOSError carries errno and its own text naming the URL (the
    project ID and path): the cause is the operating system's words for the errno."""
    root = OSError(32, "Can not write request body for https://drs.x/v3/PROJ/jobs/batch-detail")
    assert network_cause(chained(root, httpx.WriteError("x"))) == "broken pipe"
    assert network_cause(OSError("no errno: a message of unknown origin")) is None
