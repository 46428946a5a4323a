"""Where a DrsJob may send its namespace's DRS credentials (pure).

Whoever writes the credentials Secret holds the credentials already, so the
Secret's ``endpoint`` and ``iamEndpoint`` may name any URL. A DrsJob's
``spec.endpoint`` is different: whoever may create a DrsJob in a namespace
could otherwise send that namespace's token, IAM password token or AK/SK
signature to a host of their choosing, without being allowed to read the
Secret. So ``spec.endpoint`` is honoured only when :func:`check_override`
allows it:

1. it has the same scheme, host and port as the endpoint the job would use
   without it (the Secret's ``endpoint``, else the official DRS endpoint of
   the region), whatever the path; or
2. its host matches a pattern of ``--allowed-endpoint-hosts``
   (:class:`EndpointPolicy`; default :data:`OFFICIAL_DRS_HOSTS`, the
   vendor's DRS hosts of every region).

Otherwise no request is sent: :class:`EndpointNotAllowed` (a
``CredentialsError`` with reason ``EndpointNotAllowed``) names the host and
the flag. ``spec.region`` needs no check: it only ever resolves to the
official endpoint of that region (:mod:`drs_operator.drs.endpoints`).

Pattern syntax (:func:`parse_patterns`, comma-separated): ``[http://]HOST[:PORT]``.
``HOST`` is a DNS name whose labels may hold ``*``, which matches within one
label only (``drs.*.myhuaweicloud.com`` matches ``drs.ap-southeast-1.myhuaweicloud.com``,
never ``drs.evil.example/x.myhuaweicloud.com``), an IPv4 address, or an IPv6
address in brackets. ``PORT`` is a number or ``*``; without it any port
matches. A pattern matches ``https`` URLs only, unless it starts with
``http://``: then plain ``http`` matches too (for a simulator on loopback,
never for a cloud endpoint, since the credentials would cross the network in
clear). Host names compare case-insensitively.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from drs_operator.domain.conditions import REASON_ENDPOINT_NOT_ALLOWED
from drs_operator.domain.credentials import KEY_ENDPOINT, KEY_REGION, CredentialsError
from drs_operator.drs import endpoints

__all__ = [
    "FLAG",
    "OFFICIAL_DRS_HOSTS",
    "EndpointNotAllowed",
    "EndpointPolicy",
    "HostPattern",
    "check_override",
    "parse_patterns",
]

FLAG: Final = "--allowed-endpoint-hosts"
#: The vendor's DRS hosts of every region (``drs.{region}.{domain}``).
OFFICIAL_DRS_HOSTS: Final = (
    f"drs.*.{endpoints.DEFAULT_DOMAIN}",
    f"drs.*.{endpoints.EU_DOMAIN}",
)

_LABEL_RE: Final = re.compile(r"^[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?$")
_IPV6_RE: Final = re.compile(r"^[0-9a-f:.]+$")
_PORT_RE: Final = re.compile(r"^([0-9]{1,5}|\*)$")
_MAX_PATTERN: Final = 253 + 20


class EndpointNotAllowed(CredentialsError):
    """``spec.endpoint`` names a host this operator may not send credentials to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=REASON_ENDPOINT_NOT_ALLOWED)


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One parsed pattern of ``--allowed-endpoint-hosts``."""

    text: str  # as written (lower-cased), for messages
    labels: tuple[str, ...]  # the host's labels; an IPv6 address is one label
    port: str | None  # digits or "*"; None: any port
    plain_http: bool  # "http://" prefix: plain http matches too

    def matches(self, *, scheme: str, host: str, port: int | None) -> bool:
        if scheme == "http" and not self.plain_http:
            return False
        if self.port not in (None, "*") and port != int(self.port):
            return False
        labels = _labels(host)
        return len(labels) == len(self.labels) and all(
            fnmatch.fnmatchcase(label, pattern)
            for label, pattern in zip(labels, self.labels, strict=True)
        )


def _labels(host: str) -> tuple[str, ...]:
    host = host.lower().rstrip(".")
    return (host,) if ":" in host else tuple(host.split("."))


def _parse_one(text: str) -> HostPattern:
    original = text
    text = text.strip().lower()
    plain_http = False
    for prefix, plain in (("http://", True), ("https://", False)):
        if text.startswith(prefix):
            text, plain_http = text[len(prefix) :], plain
            break
    if not text or len(text) > _MAX_PATTERN or "/" in text or "@" in text:
        raise ValueError(f"not a host pattern: {original.strip()!r} (use [http://]HOST[:PORT])")
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not _IPV6_RE.match(host) or (rest not in ("",) and not rest.startswith(":")):
            raise ValueError(f"not a host pattern: {original.strip()!r} (bad IPv6 address)")
        port = rest[1:] if rest else None
        labels: tuple[str, ...] = (host,)
    else:
        host, colon, port_text = text.rpartition(":") if ":" in text else (text, "", "")
        port = port_text if colon else None
        labels = tuple(host.split("."))
        if not all(_LABEL_RE.match(label) for label in labels):
            raise ValueError(
                f"not a host pattern: {original.strip()!r} (labels of letters, digits, '-' "
                "and '*', separated by dots)"
            )
    if port is not None and not _PORT_RE.match(port):
        raise ValueError(f"not a host pattern: {original.strip()!r} (the port must be digits or *)")
    return HostPattern(
        text=original.strip().lower(), labels=labels, port=port, plain_http=plain_http
    )


def parse_patterns(text: str | Iterable[str]) -> tuple[HostPattern, ...]:
    """Comma-separated patterns (or a list of them); ``ValueError`` names the bad one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(_parse_one(item) for item in items if item.strip())


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """The hosts ``spec.endpoint`` may name beyond the job's own endpoint."""

    patterns: tuple[HostPattern, ...] = ()

    @classmethod
    def official(cls) -> EndpointPolicy:
        return cls(parse_patterns(OFFICIAL_DRS_HOSTS))

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        try:
            port = parts.port
        except ValueError:
            return False
        return any(
            p.matches(scheme=parts.scheme, host=parts.hostname, port=port) for p in self.patterns
        )

    def describe(self) -> str:
        return ", ".join(p.text for p in self.patterns) or "none"


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower().rstrip("."), port or default


def check_override(
    *,
    spec_endpoint: str | None,
    spec_region: str | None,
    secret_values: Mapping[str, str],
    policy: EndpointPolicy,
) -> None:
    """Raise :class:`EndpointNotAllowed` unless ``spec.endpoint`` may be used (see above)."""
    if not spec_endpoint:
        return
    own = (secret_values.get(KEY_ENDPOINT) or "").strip()
    if not own:
        region = (spec_region or "").strip() or (secret_values.get(KEY_REGION) or "").strip()
        try:
            own = endpoints.drs_endpoint(region) if region else ""
        except ValueError:
            own = ""
    target = _origin(spec_endpoint)
    if target is not None and own and target == _origin(own):
        return
    if policy.allows(spec_endpoint):
        return
    host = urlsplit(spec_endpoint).hostname or spec_endpoint
    scheme = urlsplit(spec_endpoint).scheme
    raise EndpointNotAllowed(
        f"spec.endpoint {scheme}://{host} is not allowed: it is not the credentials Secret's "
        f"endpoint and matches no pattern of the operator's {FLAG} ({policy.describe()}); "
        "no request was sent"
    )
