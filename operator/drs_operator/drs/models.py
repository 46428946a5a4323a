"""Typed, tolerant models for ``POST /v3/{project_id}/jobs/batch-detail``.

Contract:

* **Secrets never enter a model.** ``EndPoint`` declares only public fields and
  ignores extra keys, so ``db_password``, ``ssl_cert_*``, ``kerberos`` and
  ``safe_mode`` are dropped while parsing: nothing built from these models can
  carry them forward.
* **Lenient fields** (:mod:`drs_operator.drs.lenient`). A field with the wrong
  type becomes ``None`` instead of failing its item: texts may arrive as
  numbers, numbers as strings (``"3306"``, ``"3"``), booleans as
  ``"true"``/``"false"``, epoch-millisecond timestamps as strings
  or integers (``"0"``, ``""``, garbage → ``None``). Integers outside the
  signed 64-bit range become ``None``. Unknown status values are kept verbatim.
* **Only the ID is required.** An item without a non-empty string ``id`` (or an
  item that is not an object) is dropped and counted in
  ``BatchDetailResponse.dropped_items``.
* The entry points that read raw bodies are :mod:`drs_operator.drs.parsing`'s:
* **One error type.** :func:`~drs_operator.drs.parsing.parse_batch_detail` raises only
  :class:`~drs_operator.drs.errors.DrsParseError`, with a message that
  describes the problem and never echoes the body. A body without a
  ``results`` (or ``jobs``) list is an error, not "no jobs": treating a
  malformed body as "every job is gone" would wrongly report tasks deleted.
* :func:`~drs_operator.drs.parsing.parse_error_body` never raises.
* **Two paths, one result.** A raw body is first validated straight from JSON
  by pydantic-core (:func:`~drs_operator.drs.parsing.parse_clean_answer`): text
  fields are strict there, so a well-typed answer costs no Python call per text field. Anything that
  does not pass (a number where text belongs, a bad item, an error code, odd
  JSON) takes the lenient path: ``json.loads``, then every text field coerced
  (:func:`_normalized`) before the same models validate it. Both paths give
  equal models for any body the first accepts (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from drs_operator.drs.lenient import (
    lenient_bool,
    lenient_int,
    lenient_str,
    lenient_time,
)

__all__ = [
    "MAX_ERROR_TEXT",
    "BatchDetailRequest",
    "BatchDetailResponse",
    "EndPoint",
    "InstInfo",
    "JobDetail",
    "PageReq",
]

MAX_ERROR_TEXT = 300
MAX_PER_PAGE = 100


# Text is strict in the models (a string or None): the lenient path coerces it
# first (_normalized), the clean path needs no Python call for it.
Text = Annotated[str | None, Strict()]
LenientInt = Annotated[int | None, BeforeValidator(lenient_int)]
LenientBool = Annotated[bool | None, BeforeValidator(lenient_bool)]
LenientTime = Annotated[datetime | None, BeforeValidator(lenient_time)]


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
        items = items_of(data)
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
            "dropped_items": dropped + _dropped_count(data),
        }


def items_of(data: Mapping[Any, Any]) -> Any:
    if "results" in data:
        return data["results"]
    return data.get("jobs")


def _dropped_count(data: Mapping[Any, Any]) -> int:
    # Allows re-validating a dumped response without losing the count.
    value = lenient_int(data.get("dropped_items"))
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
    """``data`` with text fields coerced (:func:`lenient_str`) and nested objects
    normalized the same way (a nested value that is not an object becomes None)."""
    out = dict(data)
    texts, nested = _input_keys(model)
    for key in texts:
        if key in out:
            out[key] = lenient_str(out[key])
    for key, inner in nested:
        if key in out:
            value = out[key]
            if isinstance(value, Mapping):
                out[key] = _normalized(inner, value)
            elif not isinstance(value, inner):
                out[key] = None
    return out
