"""The vendor's AK/SK request signature (``SDK-HMAC-SHA256``), pure and stdlib-only.

It produces byte-identical ``Authorization`` values to the vendor SDK's signer
(``huaweicloudsdkcore.signer.signer.Signer``), which the tests check on a table
of awkward requests. The canonical form, step by step:

- method, upper-cased;
- CanonicalURI: the path is percent-*decoded*, split on ``/``, each segment
  re-encoded with only ``A-Z a-z 0-9 - _ . ~`` left as they are, joined with
  ``/`` and always ending in ``/`` (the path sent has no trailing slash);
- CanonicalQuery: ``k=v`` pairs (decoded with form rules, so ``+`` is a
  space), sorted by (key, value), each side re-encoded as above, joined with
  ``&``; a key without ``=`` has an empty value;
- CanonicalHeaders: ``name:value.strip()`` for every signed header, each
  followed by ``\\n``; SignedHeaders: the lower-cased header names, sorted,
  ``;``-joined. By default every header given is signed except names that
  contain ``_`` (the SDK skips those);
- payload hash: the SHA-256 of an empty body is the fixed empty hash; a
  request carrying ``X-Sdk-Content-Sha256`` uses that header's value instead
  of hashing (the SDK adds ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` when the
  Content-Type is neither JSON nor BSON: :func:`sign` requires the caller to
  have added it then, see :func:`payload_headers`);
- StringToSign: ``SDK-HMAC-SHA256\\n<X-Sdk-Date>\\n<hex sha256(canonical)>``;
- Signature: hex HMAC-SHA256 keyed with the secret key.

For the simulator, :func:`verify` parses an ``Authorization`` value and
recomputes the signature over the headers it lists. Pass it the *raw* path
and query as received (still percent-encoded, e.g. aiohttp's
``request.raw_path`` split at ``?``), and every received header (a
case-insensitive mapping such as aiohttp's ``request.headers`` is fine).

Nothing here logs, and no error message contains a key, a signature or a
header value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

__all__ = [
    "ALGORITHM",
    "CONTENT_SHA256_HEADER",
    "DATE_HEADER",
    "EMPTY_HASH",
    "MAX_CLOCK_SKEW",
    "SDK_DATE_FORMAT",
    "UNSIGNED_PAYLOAD",
    "canonical_request",
    "format_sdk_date",
    "parse_authorization",
    "payload_headers",
    "sign",
    "string_to_sign",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DATE_HEADER = "X-Sdk-Date"
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW = 15 * 60.0  # the gateway refuses a larger skew

_SIGNED_CONTENT_TYPES = ("application/json", "application/bson")
_AUTH_RE = re.compile(
    r"^\s*" + re.escape(ALGORITHM) + r"\s+Access=(?P<access>[^,\s]+)\s*,"
    r"\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


def _encode(text: str) -> str:
    return quote(text, safe="~")


def _lower_map(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _canonical_uri(path: str) -> str:
    uri = "/".join(_encode(segment) for segment in unquote(path or "/").split("/"))
    return uri if uri.endswith("/") else uri + "/"


def _canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True)) if query else []
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def _payload_hash(body: bytes, lowered: Mapping[str, str]) -> str:
    if not body:
        return EMPTY_HASH
    declared = lowered.get(CONTENT_SHA256_HEADER.lower())
    if declared:
        return declared
    return hashlib.sha256(body).hexdigest()


def payload_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers the SDK adds before signing, given the request's headers.

    ``{"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}`` when the Content-Type is
    set and is neither JSON nor BSON (and the header is not there yet); else ``{}``.
    """
    lowered = _lower_map(headers)
    content_type = lowered.get("content-type")
    if (
        content_type
        and not content_type.startswith(_SIGNED_CONTENT_TYPES)
        and CONTENT_SHA256_HEADER.lower() not in lowered
    ):
        return {CONTENT_SHA256_HEADER: UNSIGNED_PAYLOAD}
    return {}


def canonical_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    signed_headers: Sequence[str] | None = None,
) -> tuple[str, list[str]]:
    """The canonical request and the signed header names (lower-case, sorted).

    ``path`` and ``query`` are as sent (percent-encoded; ``query`` without ``?``).
    With ``signed_headers=None`` every header without ``_`` in its name is
    signed; otherwise exactly those listed, in the order given (as received
    from an ``Authorization`` value). Raises ``ValueError`` when a listed
    header is missing.
    """
    lowered = _lower_map(headers)
    if signed_headers is None:
        names = sorted(name for name in lowered if "_" not in name)
    else:
        names = [name.lower() for name in signed_headers]
    missing = [name for name in names if name not in lowered]
    if missing:
        raise ValueError(f"signed headers missing from the request: {', '.join(missing)}")
    canonical_headers = "".join(f"{name}:{lowered[name].strip()}\n" for name in names)
    text = "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            _canonical_query(query),
            canonical_headers,
            ";".join(names),
            _payload_hash(body, lowered),
        ]
    )
    return text, names


def _sdk_date(lowered: Mapping[str, str]) -> str:
    value = lowered.get(DATE_HEADER.lower())
    if value is None:
        raise ValueError(f"the {DATE_HEADER} header is required before signing")
    try:
        parsed = datetime.strptime(value, SDK_DATE_FORMAT)
    except ValueError:
        raise ValueError(f"the {DATE_HEADER} header is not in {SDK_DATE_FORMAT} form") from None
    return parsed.strftime(SDK_DATE_FORMAT)


def format_sdk_date(epoch_seconds: float) -> str:
    """An ``X-Sdk-Date`` value (UTC) for a POSIX time."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime(SDK_DATE_FORMAT)


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def _signature(secret_key: str, text: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The ``Authorization`` header value for a request.

    ``headers`` must already hold every header to sign, including
    ``X-Sdk-Date``, ``Host`` and (for non-JSON content) the ones from
    :func:`payload_headers`; all of them are signed except names with ``_``.
    ``url`` is the full URL as sent (its path and query are used).
    """
    if not access_key or not secret_key:
        raise ValueError("an access key and a secret key are required")
    lowered = _lower_map(headers)
    if "host" not in lowered:
        raise ValueError("the Host header is required before signing")
    if payload_headers(headers):
        raise ValueError(f"a non-JSON body needs the {CONTENT_SHA256_HEADER} header")
    date = _sdk_date(lowered)
    parts = urlsplit(url)
    canonical, names = canonical_request(
        method=method, path=parts.path, query=parts.query, headers=headers, body=body
    )
    signature = _signature(secret_key, string_to_sign(canonical, date))
    signed = ";".join(names)
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={signed}, Signature={signature}"


def parse_authorization(authorization: str) -> tuple[str, list[str], str] | None:
    """``(access_key, signed_headers, signature)`` from an ``Authorization`` value, or None."""
    match = _AUTH_RE.match(authorization or "")
    if not match:
        return None
    names = [name for name in match.group("signed").split(";") if name]
    if not names:
        return None
    return match.group("access"), names, match.group("signature").lower()


def verify(
    *,
    authorization: str,
    secret_key_for: Callable[[str], str | None],
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    max_skew: float = MAX_CLOCK_SKEW,
) -> str | None:
    """Check a signed request; the access key when the signature is valid, else None.

    ``path``/``query`` are raw (as sent, percent-encoded, query without ``?``).
    ``X-Sdk-Date`` and ``Host`` must be among the signed headers. With ``now``
    (POSIX seconds) the date must also lie within ``max_skew`` seconds of it;
    without ``now`` the date is not checked against a clock.
    """
    parsed = parse_authorization(authorization)
    if parsed is None:
        return None
    access_key, names, signature = parsed
    if DATE_HEADER.lower() not in names or "host" not in names:
        return None
    secret_key = secret_key_for(access_key)
    if not secret_key:
        return None
    lowered = _lower_map(headers)
    try:
        date = _sdk_date(lowered)
        canonical, _ = canonical_request(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            signed_headers=names,
        )
    except ValueError:
        return None
    if now is not None:
        stamp = datetime.strptime(date, SDK_DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        if abs(stamp - now) > max_skew:
            return None
    expected = _signature(secret_key, string_to_sign(canonical, date))
    if not hmac.compare_digest(expected, signature):
        return None
    return access_key
