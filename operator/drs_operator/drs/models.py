"""Typed, tolerant models for ``POST /v3/{project_id}/jobs/batch-detail``.

Contract:

* **Secrets never enter a model.** ``EndPoint`` declares only public fields and
  ignores extra keys, so ``db_password``, ``ssl_cert_*``, ``kerberos`` and
  ``safe_mode`` are dropped while parsing: nothing built from these models can
  carry them forward.
* **Lenient fields.** A field with the wrong type becomes ``None`` instead of
  failing its item: texts may arrive as numbers, numbers as strings (``"3306"``, ``"3"``),
  booleans as ``"true"``/``"false"``, epoch-millisecond timestamps as strings
  or integers (``"0"``, ``""``, garbage → ``None``). Integers outside the
  signed 64-bit range become ``None``. Unknown status values are kept verbatim.
* **Only the ID is required.** An item without a non-empty string ``id`` (or an
  item that is not an object) is dropped and counted in
  ``BatchDetailResponse.dropped_items``.
* **One error type.** :func:`parse_batch_detail` raises only
  :class:`~drs_operator.drs.errors.DrsParseError`, with a message that
  describes the problem and never echoes the body. A body without a
  ``results`` (or ``jobs``) list is an error, not "no jobs": treating a
  malformed body as "every job is gone" would wrongly report tasks deleted.
* :func:`parse_error_body` never raises.
* **Two paths, one result.** A raw body is first validated straight from JSON
  by pydantic-core (:func:`parse_clean_answer`): text fields are strict there,
  so a well-typed answer costs no Python call per text field. Anything that
  does not pass (a number where text belongs, a bad item, an error code, odd
  JSON) takes the lenient path: ``json.loads``, then every text field coerced
  (:func:`_normalized`) before the same models validate it. Both paths give
  equal models for any body the first accepts (a property test checks it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from drs_operator.drs.errors import DrsParseError

__all__ = [
    "MAX_ERROR_TEXT",
    "BatchDetailRequest",
    "BatchDetailResponse",
    "EndPoint",
    "InstInfo",
    "JobDetail",
    "PageReq",
    "is_item_error",
    "parse_batch_detail",
    "parse_clean_answer",
    "parse_epoch_ms",
    "parse_error_body",
]

MAX_ERROR_TEXT = 300
MAX_PER_PAGE = 100
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT_TEXT = re.compile(r"^\s*[-+]?\d{1,19}\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- lenient coercion


def _lenient_str(value: Any) -> str | None:
    """Strings stay; integers and finite floats become their text; anything else is None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def _lenient_int(value: Any) -> int | None:
    """Integers (or integral floats, or integer strings) in the int64 range; else None."""
    if isinstance(value, bool):
        return None
    result: int | None = None
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            result = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value):
        result = int(value)
    if result is None or not _INT64_MIN <= result <= _INT64_MAX:
        return None
    return result


def _lenient_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    return None


def parse_epoch_ms(value: Any) -> datetime | None:
    """Epoch milliseconds (int, float or numeric string) → aware UTC datetime.

    ``0``/``"0"``, negative values, empty strings, garbage and out-of-range
    values give ``None``; this function never raises. An RFC 3339 string is
    accepted too (some gateways reformat timestamps).
    """
    try:
        millis: float | int | None = None
        if type(value) is str and value.isdecimal() and len(value) <= 19:
            millis = int(value)  # the usual shape, "1795822140774": no regex needed
            return _EPOCH + timedelta(0, 0, 0, millis) if millis > 0 else None
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            millis = value
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if _INT_TEXT.match(text):
                millis = int(text)
            else:
                try:
                    millis = float(text)
                except ValueError:
                    return _parse_iso(text)
        if millis is None or not math.isfinite(millis) or millis <= 0:
            return None
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError, TypeError):
        return None


def _parse_iso(text: str) -> datetime | None:
    if len(text) > 64 or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _lenient_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_epoch_ms(value)


# Text is strict in the models (a string or None): the lenient path coerces it
# first (_normalized), the clean path needs no Python call for it.
Text = Annotated[str | None, Strict()]
LenientInt = Annotated[int | None, BeforeValidator(_lenient_int)]
LenientBool = Annotated[bool | None, BeforeValidator(_lenient_bool)]
LenientTime = Annotated[datetime | None, BeforeValidator(_lenient_time)]


_MODEL_CONFIG = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------- request


class PageReq(BaseModel):
    """Paging of a batch-detail call. ``per_page`` 0 means "all"; at most 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cur_page: int = Field(default=1, ge=1)
    per_page: int = Field(ge=0, le=MAX_PER_PAGE)


class BatchDetailRequest(BaseModel):
    """The request body. IDs must be non-empty and unique (the API rejects duplicates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: list[str] = Field(min_length=1)
    page_req: PageReq | None = None

    @field_validator("jobs")
    @classmethod
    def _check_jobs(cls, jobs: list[str]) -> list[str]:
        if any(not job for job in jobs):
            raise ValueError("job IDs must not be empty")
        if len(set(jobs)) != len(jobs):
            raise ValueError("job IDs must be unique within one request")
        return jobs

    def to_json(self) -> dict[str, Any]:
        """The JSON body: ``{"jobs": [...], "page_req": {...}}`` (page_req only when set)."""
        body: dict[str, Any] = {"jobs": list(self.jobs)}
        if self.page_req is not None:
            body["page_req"] = {
                "cur_page": self.page_req.cur_page,
                "per_page": self.page_req.per_page,
            }
        return body


# ---------------------------------------------------------------- response


class EndPoint(BaseModel):
    """A database endpoint (EndPoint2), public fields only: secrets are not declared."""

    model_config = _MODEL_CONFIG

    db_type: Text = None
    ip: Text = None
    db_port: LenientInt = None
    db_user: Text = None
    inst_id: Text = None
    inst_name: Text = None
    region: Text = None
    project_id: Text = None
    az_code: Text = None
    vpc_id: Text = None
    subnet_id: Text = None
    security_group_id: Text = None
    ssl_link: LenientBool = None
    db_name: Text = None
    topic: Text = None
    mongo_ha_mode: Text = None


class InstInfo(BaseModel):
    """The replication instance (``inst_info`` / ``instInfo``)."""

    model_config = _MODEL_CONFIG

    inst_type: Text = None
    engine_type: Text = None
    volume_size: LenientInt = None
    ip: Text = None
    public_ip: Text = None
    ipv6: Text = None
    status: Text = None
    start_time: Text = None


OptionalEndPoint = EndPoint | None
OptionalInstInfo = InstInfo | None


class JobDetail(BaseModel):
    """One task of a batch-detail answer (QueryJobRespV3). Only ``id`` is required."""

    model_config = _MODEL_CONFIG

    id: str
    status: Text = None
    name: Text = None
    parent_id: Text = None
    description: Text = None
    create_time: LenientTime = None
    task_type: Text = None
    source_endpoint: OptionalEndPoint = None
    dmq_endpoint: OptionalEndPoint = None
    source_sharding: OptionalEndPoint = None
    target_endpoint: OptionalEndPoint = None
    net_type: Text = None
    failed_reason: Text = None
    inst_info: OptionalInstInfo = Field(
        default=None, validation_alias=AliasChoices("inst_info", "instInfo")
    )
    actual_start_time: LenientTime = None
    full_transfer_complete_time: LenientTime = None
    update_time: LenientTime = None
    job_direction: Text = None
    db_use_type: Text = None
    schema_type: Text = None
    node_num: LenientInt = None
    multi_write: LenientBool = None
    master_job_id: Text = None
    error_code: Text = None
    error_message: Text = Field(
        default=None, validation_alias=AliasChoices("error_message", "error_msg")
    )

    @field_validator("id", mode="before")
    @classmethod
    def _check_id(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("id must be a non-empty string")
        return value


class BatchDetailResponse(BaseModel):
    """The answer: ``count`` and the parsed items (from ``results``, else ``jobs``).

    Items that are not objects or have no usable ``id`` are left out of
    ``results`` and counted in ``dropped_items``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    count: LenientInt = None
    results: list[JobDetail] = Field(default_factory=list)
    dropped_items: int = 0

    @model_validator(mode="before")
    @classmethod
    def _collect_items(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError("response is not a JSON object")
        items = _items_of(data)
        if items is None:
            raise ValueError("response has no results list")
        if not isinstance(items, list):
            raise ValueError("results is not a list")
        results: list[JobDetail] = []
        dropped = 0
        for item in items:
            job = _job_or_none(item)
            if job is None:
                dropped += 1
            else:
                results.append(job)
        return {
            "count": data.get("count"),
            "results": results,
            "dropped_items": dropped + _lenient_drop_count(data),
        }


def _items_of(data: Mapping[Any, Any]) -> Any:
    if "results" in data:
        return data["results"]
    return data.get("jobs")


def _lenient_drop_count(data: Mapping[Any, Any]) -> int:
    # Allows re-validating a dumped response without losing the count.
    value = _lenient_int(data.get("dropped_items"))
    return value if value is not None and value > 0 else 0


def _job_or_none(item: Any) -> JobDetail | None:
    if isinstance(item, JobDetail):
        return item
    if not isinstance(item, Mapping):
        return None
    try:
        return JobDetail.model_validate(_normalized(JobDetail, item))
    except (ValidationError, TypeError, ValueError, RecursionError):
        return None


@cache
def _input_keys(
    model: type[BaseModel],
) -> tuple[tuple[str, ...], tuple[tuple[str, type[BaseModel]], ...]]:
    """Input keys of ``model``'s text fields, and of its nested-model fields (with the model)."""
    texts: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        keys = [str(key) for key in alias.choices] if isinstance(alias, AliasChoices) else [name]
        inner = [arg for arg in get_args(field.annotation) if arg is not type(None)]
        if inner == [str] and any(isinstance(meta, Strict) for meta in field.metadata):
            texts.extend(keys)
        elif len(inner) == 1 and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            nested.extend((key, inner[0]) for key in keys)
    return tuple(texts), tuple(nested)


def _normalized(model: type[BaseModel], data: Mapping[Any, Any]) -> dict[Any, Any]:
    """``data`` with text fields coerced (:func:`_lenient_str`) and nested objects
    normalized the same way (a nested value that is not an object becomes None)."""
    out = dict(data)
    texts, nested = _input_keys(model)
    for key in texts:
        if key in out:
            out[key] = _lenient_str(out[key])
    for key, inner in nested:
        if key in out:
            value = out[key]
            if isinstance(value, Mapping):
                out[key] = _normalized(inner, value)
            elif not isinstance(value, inner):
                out[key] = None
    return out


# ---------------------------------------------------------------- parsing entry points


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
        items = _items_of(data)
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
    text = _lenient_str(value)
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
