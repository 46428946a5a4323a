"""TLS trust and proxies of the DRS and IAM clients, decided in one place.

* :func:`ssl_verify`: what to verify a DRS or IAM server against, from the
  credentials' own CA bundle (PEM text, the Secret's ``caBundle``), a CA file
  (``--ca-bundle``), or nothing (the system store, or ``SSL_CERT_FILE`` /
  ``SSL_CERT_DIR``); ``insecure`` turns verification off (``query --insecure``).
  A bad bundle raises ``ValueError`` naming which one, never its contents.
* :func:`proxy_for`: the proxy the operator's environment names for a URL.
  Proxies come only from the environment of the operator process, never from
  a DrsJob or a Secret.
"""

from __future__ import annotations

import ssl
import urllib.request

import httpx

__all__ = ["proxy_for", "ssl_verify"]


def ssl_verify(
    *, ca_pem: str | None = None, ca_file: str | None = None, insecure: bool = False
) -> bool | ssl.SSLContext:
    """``verify`` for httpx and the aiohttp transport: True, False or a context.

    ``ca_pem`` (PEM text) wins over ``ca_file`` (a path); neither means True
    (the system's CAs).
    """
    if insecure:
        return False
    if ca_pem:
        try:
            return ssl.create_default_context(cadata=ca_pem)
        except (ssl.SSLError, ValueError):
            raise ValueError("the CA bundle is not a valid PEM certificate bundle") from None
    if ca_file:
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or "not a valid PEM certificate bundle"
            raise ValueError(f"cannot load the CA file {ca_file}: {reason}") from None
    return True


def proxy_for(url: httpx.URL) -> str | None:
    """The proxy the environment names for ``url``, or None.

    ``HTTPS_PROXY`` / ``HTTP_PROXY`` (by the URL's scheme), else ``ALL_PROXY``;
    none when ``NO_PROXY`` covers the host (the standard library's reading of
    these variables, lower case first).
    """
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy:
        return None
    host = f"{url.host}:{url.port}" if url.port is not None else url.host
    if urllib.request.proxy_bypass(host):
        return None
    return proxy
