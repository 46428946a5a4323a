"""Parsing and validation of a DrsJob's ``spec`` (pure).

:func:`parse_spec` turns ``spec`` into a :class:`JobSpec` or raises
:class:`SpecError` (reason ``InvalidSpec``) with a message naming the field
and the rule, e.g. ``spec.jobId: must be 36 characters in UUID layout
(8-4-4-4-12), got 35``. ``spec.expect`` is :mod:`drs_operator.domain.drift`'s.
The formats themselves (job ID, duration, names,
project, region, URL) are :mod:`drs_operator.domain.formats`'; the
credentials Secret is :mod:`drs_operator.domain.credentials`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drs_operator.domain.conditions import REASON_INVALID_SPEC
from drs_operator.domain.credentials import REGION_RULE
from drs_operator.domain.drift import Expectations, ExpectError, parse_expect
from drs_operator.domain.formats import (
    PROJECT_ID_RULE,
    format_seconds,
    is_dns1123_subdomain,
    is_job_id,
    is_project_id,
    is_region,
    parse_duration,
)
from drs_operator.drs.endpoints import url_problem

__all__ = ["JobSpec", "SpecError", "parse_spec"]


class SpecError(ValueError):
    """The DrsJob's spec is invalid; ``message`` names the field and the rule."""

    reason: str = REASON_INVALID_SPEC

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class JobSpec:
    """A validated DrsJob spec."""

    job_id: str
    credentials_name: str
    project_id: str | None
    region: str | None
    endpoint: str | None
    refresh_interval: float | None
    suspend: bool
    expect: Expectations | None = None  # spec.expect: what the task is supposed to be


def _optional_str(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"spec.{key}: must be a string, got {_type_name(value)}")
    return value.strip() or None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return "a " + type(value).__name__


def _check_job_id(value: Any) -> str:
    if value is None:
        raise SpecError("spec.jobId: required")
    if not isinstance(value, str):
        raise SpecError(f"spec.jobId: must be a string, got {_type_name(value)}")
    if len(value) != 36:
        raise SpecError(
            f"spec.jobId: must be 36 characters in UUID layout (8-4-4-4-12), got {len(value)}"
        )
    if is_job_id(value):
        return value
    if value.lower() != value and is_job_id(value.lower()):
        raise SpecError("spec.jobId: must use lower-case letters")
    raise SpecError(
        "spec.jobId: must be lower-case letters and digits in UUID layout 8-4-4-4-12 "
        "(for example 9a470239-2308-4bb5-a6bc-1040402fjb21)"
    )


def _check_credentials_name(spec: Mapping[str, Any], default: str) -> str:
    ref = spec.get("credentialsRef")
    if ref is None:
        return default
    if not isinstance(ref, Mapping):
        raise SpecError(f"spec.credentialsRef: must be an object, got {_type_name(ref)}")
    name = ref.get("name")
    if name is None or name == "":
        return default
    if not isinstance(name, str):
        raise SpecError(f"spec.credentialsRef.name: must be a string, got {_type_name(name)}")
    if not is_dns1123_subdomain(name):
        raise SpecError(
            "spec.credentialsRef.name: must be a DNS-1123 subdomain (lower-case letters, "
            "digits, '-' and '.', starting and ending with a letter or digit, at most 253)"
        )
    return name


def parse_spec(
    spec: Mapping[str, Any] | None,
    *,
    default_credentials: str,
    min_refresh_interval: float = 5.0,
) -> JobSpec:
    """Validate a DrsJob spec; raises only :class:`SpecError`."""
    if not isinstance(spec, Mapping):
        raise SpecError("spec: required (an object with at least jobId)")
    job_id = _check_job_id(spec.get("jobId"))
    credentials_name = _check_credentials_name(spec, default_credentials)

    project_id = _optional_str(spec, "projectId")
    if project_id is not None and not is_project_id(project_id):
        raise SpecError(f"spec.projectId: {PROJECT_ID_RULE}")
    region = _optional_str(spec, "region")
    if region is not None and not is_region(region):
        raise SpecError(f"spec.region: {REGION_RULE} (e.g. eu-west-101)")
    endpoint = _optional_str(spec, "endpoint")
    if endpoint is not None:
        problem = url_problem(endpoint)
        if problem:
            raise SpecError(f"spec.endpoint: {problem}")
        endpoint = endpoint.rstrip("/")

    refresh_interval: float | None = None
    raw_interval = spec.get("refreshInterval")
    if raw_interval is not None:
        if not isinstance(raw_interval, str):
            raise SpecError(
                "spec.refreshInterval: must be a duration string such as 30s, 5m or 1h, "
                f"got {_type_name(raw_interval)}"
            )
        try:
            refresh_interval = parse_duration(raw_interval)
        except ValueError as exc:
            raise SpecError(f"spec.refreshInterval: {exc}") from None
        if refresh_interval < min_refresh_interval:
            raise SpecError(
                f"spec.refreshInterval: must be at least {format_seconds(min_refresh_interval)}, "
                f"got {format_seconds(refresh_interval)}"
            )

    try:
        expect = parse_expect(spec.get("expect"))
    except ExpectError as exc:
        raise SpecError(str(exc)) from None

    suspend = spec.get("suspend", False)
    if suspend is None:
        suspend = False
    if not isinstance(suspend, bool):
        raise SpecError(f"spec.suspend: must be true or false, got {_type_name(suspend)}")

    return JobSpec(
        job_id=job_id,
        credentials_name=credentials_name,
        project_id=project_id,
        region=region,
        endpoint=endpoint,
        refresh_interval=refresh_interval,
        suspend=suspend,
        expect=expect,
    )
