"""The DRS client's errors, as a small tree.

Every error carries what the service said and nothing it was sent::

    DrsError              any failure of a DRS call
    ├── DrsTransportError no HTTP answer: refused, reset, timeout, TLS  (retry, back off)
    ├── DrsThrottledError 429 APIG.0308, 400 DRS.M01503, 202 DRS.M01504 (back off, jitter)
    ├── DrsAuthError      401/403 APIG.0301, APIG.0307, DRS.M00100      (refresh once, report)
    ├── DrsPermissionError 403 DRS.M00102, DRS.M00261                   (report, no hot retry)
    ├── DrsNotFoundError  400 DRS.M00289, DRS.M05003, DRS.M05004        (job gone)
    ├── DrsServerError    5xx, 422 DRS.M00004                           (back off, keep status)
    ├── DrsParseError     a body that is not what the API promises
    ├── DrsRedirectError  a 3xx: never followed, so no credential reaches another host
    └── DrsRequestError   any other 4xx: the request itself was refused

Attributes on every error: ``code`` (the API's ``error_code`` or ``None``),
``http_status`` (or ``None`` without an answer), ``request_id`` (the
``X-Request-Id`` response header or ``None``), ``api_message`` (the API's
``error_msg``/``error_message``, truncated), and ``retryable`` (whether the
caller should back off and try again). Which condition reason each kind
shows on a DrsJob is the operator's business
(:data:`drs_operator.domain.observations.ERROR_REASONS`), not this package's.

``str(error)`` is safe to log: it is built only from those attributes, never
from request headers or bodies, so no credential can reach it.
"""

from __future__ import annotations

from collections.abc import Mapping

from drs_operator.drs.text import one_line

__all__ = [
    "AUTH_CODES",
    "NOT_FOUND_CODES",
    "PERMISSION_CODES",
    "SERVER_CODES",
    "THROTTLE_CODES",
    "DrsAuthError",
    "DrsError",
    "DrsNotFoundError",
    "DrsParseError",
    "DrsPermissionError",
    "DrsRedirectError",
    "DrsRequestError",
    "DrsServerError",
    "DrsThrottledError",
    "DrsTransportError",
]

THROTTLE_CODES = frozenset({"APIG.0308", "DRS.M01503", "DRS.M01504"})
AUTH_CODES = frozenset({"APIG.0301", "APIG.0307", "DRS.M00100"})
PERMISSION_CODES = frozenset({"DRS.M00102", "DRS.M00261"})
NOT_FOUND_CODES = frozenset({"DRS.M00289", "DRS.M05003", "DRS.M05004"})
SERVER_CODES = frozenset({"DRS.M00004"})

MAX_MESSAGE = 300


def _clip(text: str | None) -> str | None:
    return None if text is None else one_line(str(text), MAX_MESSAGE)


class DrsError(Exception):
    """Any failure of a DRS call."""

    retryable: bool = False

    def __init__(
        self,
        summary: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        api_message: str | None = None,
    ) -> None:
        self.summary = _clip(summary) or ""
        self.code = _clip(code)
        self.http_status = http_status
        self.request_id = _clip(request_id)
        self.api_message = _clip(api_message)
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: what happened, the API's words, its code, HTTP status and request ID."""
        text = self.summary
        if self.api_message:
            text += f": {self.api_message}"
        details = []
        if self.code:
            details.append(f"code {self.code}")
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        if self.request_id:
            details.append(f"request {self.request_id}")
        if details:
            text += f" ({', '.join(details)})"
        return text


class DrsTransportError(DrsError):
    """No usable HTTP answer: connection refused or reset, timeout, TLS failure."""

    retryable = True


class DrsThrottledError(DrsError):
    """The gateway or the service asks us to slow down."""

    retryable = True

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)  # type: ignore[arg-type]


class DrsAuthError(DrsError):
    """The token or signature was refused (invalid, expired, revoked, clock skew)."""


class DrsPermissionError(DrsError):
    """Authenticated, but not allowed (no permission, wrong project ID)."""


class DrsNotFoundError(DrsError):
    """One or more requested jobs do not exist or were deleted.

    ``missing`` maps each job ID the service named to ``(code, message)``;
    it may be empty when the service did not say which IDs (then the caller
    isolates them, e.g. by splitting the batch).
    """

    def __init__(
        self,
        summary: str,
        *,
        missing: Mapping[str, tuple[str | None, str | None]] | None = None,
        **kwargs: object,
    ) -> None:
        self.missing = dict(missing or {})
        super().__init__(summary, **kwargs)  # type: ignore[arg-type]


class DrsServerError(DrsError):
    """The service is in trouble (5xx, 422 DRS.M00004)."""

    retryable = True


class DrsParseError(DrsError):
    """The body is not what the API promises (not JSON, wrong shapes, truncated)."""

    retryable = True


class DrsRedirectError(DrsError):
    """The endpoint answered with a redirect (3xx). Redirects are never followed: the
    request carries credentials, and a redirect could take them to another host."""


class DrsRequestError(DrsError):
    """The service refused the request itself (an unclassified 4xx)."""
