"""What a DRS answer means: a parsed result, or one error of the tree (pure).

:func:`classify` reads one HTTP answer of batch-detail (status, body,
headers) and returns the parsed page or raises the error the answer stands
for, classified by the API's code first and the HTTP status second:
throttling, auth, permission, not-found (with the IDs the service named),
service trouble, a redirect (reported, never followed), a refused request.
:func:`outcome_of` names an error for the metrics (:data:`OUTCOMES`).
:class:`BatchDetailResult` is what one ``batch_detail`` call learnt,
:class:`CallRecord` what one HTTP call cost.

Text from the service (codes, messages, the ``X-Request-Id`` header) is made
printable here (:func:`~drs_operator.drs.text.printable`), so control
characters never reach conditions, events or log lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drs_operator.drs.errors import (
    AUTH_CODES,
    NOT_FOUND_CODES,
    PERMISSION_CODES,
    SERVER_CODES,
    THROTTLE_CODES,
    DrsAuthError,
    DrsError,
    DrsNotFoundError,
    DrsParseError,
    DrsPermissionError,
    DrsRedirectError,
    DrsRequestError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.models import BatchDetailResponse, JobDetail
from drs_operator.drs.parsing import parse_batch_detail, parse_clean_answer, parse_error_body
from drs_operator.drs.text import printable

__all__ = [
    "OUTCOMES",
    "OUTCOME_SUCCESS",
    "REQUEST_ID_HEADER",
    "BatchDetailResult",
    "CallRecord",
    "classify",
    "outcome_of",
    "request_id_of",
]

REQUEST_ID_HEADER = "X-Request-Id"
RETRY_AFTER_HEADER = "Retry-After"
OUTCOME_SUCCESS = "success"
OUTCOMES: dict[type[DrsError], str] = {
    DrsThrottledError: "throttled",
    DrsAuthError: "auth",
    DrsNotFoundError: "not_found",
    DrsPermissionError: "permission",
    DrsServerError: "server",
    DrsParseError: "parse",
    DrsTransportError: "transport",
    DrsRedirectError: "redirect",
    DrsRequestError: "request",
}

_SUMMARY_THROTTLED = "DRS throttled the request"
_SUMMARY_AUTH = "DRS refused the credentials"
_SUMMARY_PERMISSION = "DRS denied permission"
_SUMMARY_NOT_FOUND = "DRS reports jobs not found"
_SUMMARY_SERVER = "DRS service error"
_SUMMARY_REQUEST = "DRS refused the request"
_SUMMARY_UNEXPECTED = "unexpected DRS answer"
_SUMMARY_REDIRECT = "DRS answered with a redirect, which is not followed (check the endpoint URL)"
MAX_REQUEST_ID = 128  # a real X-Request-Id is 32 hex digits


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The ``X-Request-Id`` header, printable and bounded (it reaches logs and conditions)."""
    value = printable(headers.get(REQUEST_ID_HEADER))
    return value[:MAX_REQUEST_ID] if value else value


@dataclass(frozen=True)
class BatchDetailResult:
    """What one ``batch_detail`` call learnt.

    ``jobs``: found jobs by ID; ``errors``: per-item ``(code, message)`` by ID;
    ``unanswered``: requested IDs in neither; ``request_id``: the last call's
    ``X-Request-Id``; ``calls``: HTTP calls made (pages included).
    """

    jobs: dict[str, JobDetail]
    errors: dict[str, tuple[str | None, str | None]]
    unanswered: tuple[str, ...]
    request_id: str | None
    calls: int
    count: int | None = None  # the last page's ``count``


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call, for metrics: outcome, HTTP status, number of IDs, seconds."""

    outcome: str  # "success" or a value of OUTCOMES
    http_status: int | None
    ids: int
    duration: float


def outcome_of(error: DrsError) -> str:
    """The CallRecord outcome of an error."""
    for cls in type(error).__mro__:
        if cls in OUTCOMES:
            return OUTCOMES[cls]
    return "request"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get(RETRY_AFTER_HEADER)
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _missing_items(
    payload: object, asked: Sequence[str] | None
) -> dict[str, tuple[str | None, str | None]]:
    """Per-item not-found codes in a ``results`` (or ``jobs``) list of an error body."""
    if not isinstance(payload, dict):
        return {}
    items = payload.get("results", payload.get("jobs"))
    if not isinstance(items, list):
        return {}
    wanted = set(asked) if asked is not None else None
    missing: dict[str, tuple[str | None, str | None]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        job_id = item.get("id")
        code, message = parse_error_body(item)
        if isinstance(job_id, str) and code in NOT_FOUND_CODES:
            if wanted is None or job_id in wanted:
                missing[job_id] = (code, printable(message))
    return missing


def _decode_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def classify(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    asked: Sequence[str] | None = None,
) -> BatchDetailResponse:
    """The parsed answer of a 2xx, or the error for anything else (raised).

    The API's code decides first (throttling, auth, permission, not-found,
    service codes), then the HTTP status: 429 throttled, 401 auth, 403
    permission, 5xx server, 3xx redirect, other 4xx request; a 400 whose
    ``results`` items carry not-found codes is not-found with those IDs in ``missing``.
    """
    if 200 <= status < 300:
        clean = parse_clean_answer(body)
        if clean is not None:
            return clean
    request_id = request_id_of(headers)
    payload = _decode_json(body)
    code, message = parse_error_body(payload) if payload is not None else (None, None)
    code, message = printable(code), printable(message)
    common: dict[str, object] = {
        "code": code,
        "http_status": status,
        "request_id": request_id,
        "api_message": message,
    }

    if 200 <= status < 300 and code not in THROTTLE_CODES:
        has_items = isinstance(payload, dict) and ("results" in payload or "jobs" in payload)
        if has_items or code is None:
            try:
                return parse_batch_detail(payload if payload is not None else body)
            except DrsParseError as error:
                raise DrsParseError(
                    error.summary, http_status=status, request_id=request_id
                ) from None

    if code in THROTTLE_CODES or status == 429:
        raise DrsThrottledError(
            _SUMMARY_THROTTLED,
            retry_after=_retry_after(headers),
            **common,  # type: ignore[arg-type]
        )
    if code in AUTH_CODES or status == 401:
        raise DrsAuthError(_SUMMARY_AUTH, **common)  # type: ignore[arg-type]
    if code in PERMISSION_CODES or status == 403:
        raise DrsPermissionError(_SUMMARY_PERMISSION, **common)  # type: ignore[arg-type]
    missing = _missing_items(payload, asked)
    if code in NOT_FOUND_CODES or missing:
        if code is None and missing:  # per-item codes only: name the first in the error
            first = next(iter(missing.values()))
            common["code"], common["api_message"] = first
        raise DrsNotFoundError(_SUMMARY_NOT_FOUND, missing=missing, **common)  # type: ignore[arg-type]
    if code in SERVER_CODES or status >= 500:
        raise DrsServerError(_SUMMARY_SERVER, **common)  # type: ignore[arg-type]
    if 300 <= status < 400:
        raise DrsRedirectError(_SUMMARY_REDIRECT, **common)  # type: ignore[arg-type]
    if 400 <= status < 500:
        raise DrsRequestError(_SUMMARY_REQUEST, **common)  # type: ignore[arg-type]
    raise DrsRequestError(_SUMMARY_UNEXPECTED, **common)  # type: ignore[arg-type]
