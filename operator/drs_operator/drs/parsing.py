"""Reading raw batch-detail bodies into models, and error bodies into code and message.

* :func:`parse_clean_answer`: the fast path, a well-typed 2xx body validated
  straight from JSON by pydantic-core (None when it does not pass);
* :func:`parse_batch_detail`: the lenient path for anything else; raises only
  :class:`~drs_operator.drs.errors.DrsParseError`, with a message that never
  echoes the body (a body without a ``results``/``jobs`` list is an error,
  not "no jobs");
* :func:`parse_error_body`: ``(error_code, message)`` of an error body, never raises;
* :func:`is_item_error`: an item that reports an error instead of a status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from drs_operator.drs.errors import DrsParseError
from drs_operator.drs.lenient import lenient_str
from drs_operator.drs.models import (
    MAX_ERROR_TEXT,
    BatchDetailResponse,
    JobDetail,
    LenientInt,
    items_of,
)

__all__ = ["is_item_error", "parse_batch_detail", "parse_clean_answer", "parse_error_body"]


def _decode(payload: bytes | bytearray | memoryview | str) -> Any:
    """Raw body → JSON value; DrsParseError with a body-free message otherwise."""
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            text = bytes(payload).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DrsParseError("response is not valid UTF-8") from None
    else:
        text = payload
    if not text.strip():
        raise DrsParseError("response is empty")
    try:
        return json.loads(text)
    except RecursionError:
        raise DrsParseError("response is nested too deeply") from None
    except ValueError:  # JSONDecodeError, and the int-digits limit
        raise DrsParseError("response is not JSON") from None


class _CleanAnswer(TypedDict, total=False):
    """A batch-detail body as the clean path reads it (absent keys stay absent)."""

    count: LenientInt
    results: list[JobDetail]
    jobs: list[JobDetail]
    error_code: Any
    error: Any


_CLEAN_ANSWER = TypeAdapter(_CleanAnswer)


def parse_clean_answer(body: bytes | bytearray | str) -> BatchDetailResponse | None:
    """The answer in ``body`` if it is clean, else None (then use :func:`parse_batch_detail`).

    Clean: a JSON object with no ``error_code`` or ``error``, whose ``results``
    (or, without it, ``jobs``) list holds only well-typed items with an ID.
    Validated by pydantic-core straight from the bytes; never raises.
    """
    try:
        answer = _CLEAN_ANSWER.validate_json(body)
    except (ValidationError, ValueError, RecursionError):
        return None
    if answer.get("error_code") is not None or answer.get("error") is not None:
        return None
    items = answer["results"] if "results" in answer else answer.get("jobs")
    if items is None:
        return None
    return BatchDetailResponse.model_construct(
        count=answer.get("count"), results=items, dropped_items=0
    )


def parse_batch_detail(payload: bytes | bytearray | str | object) -> BatchDetailResponse:
    """Parse a batch-detail body (raw bytes/str, or an already decoded value).

    Raises only :class:`DrsParseError`; its message never contains the body.
    """
    if isinstance(payload, bytes | bytearray | str):
        clean = parse_clean_answer(payload)
        if clean is not None:
            return clean
    try:
        if isinstance(payload, bytes | bytearray | memoryview | str):
            data = _decode(payload)
        else:
            data = payload
        if not isinstance(data, Mapping):
            raise DrsParseError("response is not a JSON object")
        items = items_of(data)
        if items is None:
            raise DrsParseError("response has no results list")
        if not isinstance(items, list):
            raise DrsParseError("results is not a list")
        return BatchDetailResponse.model_validate(data)
    except DrsParseError:
        raise
    except RecursionError:
        raise DrsParseError("response is nested too deeply") from None
    except Exception:  # the contract is "DrsParseError only"
        raise DrsParseError("response has an unusable shape") from None


def _clip(value: Any) -> str | None:
    text = lenient_str(value)
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def parse_error_body(payload: bytes | bytearray | str | object) -> tuple[str | None, str | None]:
    """``(error_code, message)`` of an error body; ``(None, None)`` for junk. Never raises.

    Reads ``error_code`` with ``error_msg`` or ``error_message`` at the top
    level, or ``{"error": {"code", "message"}}``. Values are whitespace-collapsed
    and clipped to :data:`MAX_ERROR_TEXT` characters.
    """
    try:
        if isinstance(payload, bytes | bytearray | memoryview | str):
            data: Any = _decode(payload)
        else:
            data = payload
        if not isinstance(data, Mapping):
            return None, None
        code = _clip(data.get("error_code"))
        message = _clip(data.get("error_msg"))
        if message is None:
            message = _clip(data.get("error_message"))
        nested = data.get("error")
        if isinstance(nested, Mapping):
            code = code or _clip(nested.get("code"))
            message = message or _clip(nested.get("message"))
        return code, message
    except Exception:  # documented to never raise
        return None, None


def is_item_error(job: JobDetail) -> bool:
    """True when the item reports an error (``error_code``) instead of a status."""
    return bool(job.error_code) and not job.status
