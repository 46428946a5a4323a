"""Parsing and validation of a DrsJob's ``spec`` and of its credentials Secret (pure).

* :func:`parse_spec` turns ``spec`` into a :class:`JobSpec` or raises
  :class:`SpecError` (reason ``InvalidSpec``) with a message naming the field
  and the rule, e.g. ``spec.jobId: must be 36 characters in UUID layout
  (8-4-4-4-12), got 35``.
* :func:`decode_secret_data` decodes a Secret's base64 ``data``;
  :func:`parse_credentials` validates the values and applies the spec's
  overrides (``spec.projectId``/``region``/``endpoint`` win over the
  Secret's). Failures raise :class:`CredentialsError` with reason
  ``CredentialsMissing`` (a required key is absent) or ``CredentialsInvalid``
  (a value is malformed). Messages name the Secret and the key, **never a value**.
* Values are stripped of surrounding whitespace (a trailing newline from
  ``echo ... | base64`` is the classic mistake); an empty value counts as absent.
* Auth modes: ``token``; ``accessKey`` + ``secretKey`` (+ ``securityToken``);
  ``username`` + ``password`` + ``domain``. A half-filled mode is an error
  (it is almost always a typo that would otherwise be masked). When several
  modes are complete, AK/SK wins (the vendor's recommendation, never
  expires), then password (the operator refreshes the token), then a ready
  token (expires within 24 h). Only the chosen mode's secrets are kept.
* :class:`Credentials` keeps its secrets out of ``repr``/``str``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "DURATION_PATTERN",
    "JOB_ID_PATTERN",
    "KEY_ACCESS_KEY",
    "KEY_CA_BUNDLE",
    "KEY_DOMAIN",
    "KEY_ENDPOINT",
    "KEY_IAM_ENDPOINT",
    "KEY_PASSWORD",
    "KEY_PROJECT_ID",
    "KEY_REGION",
    "KEY_SECRET_KEY",
    "KEY_SECURITY_TOKEN",
    "KEY_TOKEN",
    "KEY_USERNAME",
    "KNOWN_SECRET_KEYS",
    "REASON_CREDENTIALS_INVALID",
    "REASON_CREDENTIALS_MISSING",
    "REASON_INVALID_SPEC",
    "Credentials",
    "CredentialsError",
    "JobSpec",
    "SpecError",
    "decode_secret_data",
    "parse_credentials",
    "parse_duration",
    "parse_spec",
]

JOB_ID_PATTERN: Final = r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$"
DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

REASON_INVALID_SPEC: Final = "InvalidSpec"
REASON_CREDENTIALS_MISSING: Final = "CredentialsMissing"
REASON_CREDENTIALS_INVALID: Final = "CredentialsInvalid"

_JOB_ID_RE: Final = re.compile(JOB_ID_PATTERN)
_DURATION_RE: Final = re.compile(DURATION_PATTERN)
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DNS1123_SUBDOMAIN_RE: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_PROJECT_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_REGION_RE: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
_HEADER_SAFE_RE: Final = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
_NO_CONTROL_RE: Final = re.compile(r"^[^\x00-\x1f\x7f]+$")
_MAX_DURATION_TEXT: Final = 64
_MAX_URL: Final = 2048

# Secret keys.
KEY_REGION: Final = "region"
KEY_PROJECT_ID: Final = "projectId"
KEY_ENDPOINT: Final = "endpoint"
KEY_IAM_ENDPOINT: Final = "iamEndpoint"
KEY_CA_BUNDLE: Final = "caBundle"
KEY_TOKEN: Final = "token"
KEY_ACCESS_KEY: Final = "accessKey"
KEY_SECRET_KEY: Final = "secretKey"
KEY_SECURITY_TOKEN: Final = "securityToken"
KEY_USERNAME: Final = "username"
KEY_PASSWORD: Final = "password"
KEY_DOMAIN: Final = "domain"
KNOWN_SECRET_KEYS: Final = frozenset(
    {
        KEY_REGION,
        KEY_PROJECT_ID,
        KEY_ENDPOINT,
        KEY_IAM_ENDPOINT,
        KEY_CA_BUNDLE,
        KEY_TOKEN,
        KEY_ACCESS_KEY,
        KEY_SECRET_KEY,
        KEY_SECURITY_TOKEN,
        KEY_USERNAME,
        KEY_PASSWORD,
        KEY_DOMAIN,
    }
)
_AUTH_KEYS_HELP: Final = (
    "token; or accessKey and secretKey (optionally securityToken); or username, password and domain"
)


class SpecError(ValueError):
    """The DrsJob's spec is invalid; ``message`` names the field and the rule."""

    reason: str = REASON_INVALID_SPEC

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class CredentialsError(ValueError):
    """The credentials Secret is missing, incomplete or malformed (never shows a value)."""

    def __init__(self, message: str, *, reason: str = REASON_CREDENTIALS_INVALID) -> None:
        self.message = message
        self.reason = reason
        super().__init__(message)


# ---------------------------------------------------------------- spec


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


def parse_duration(text: str) -> float:
    """``"30s"`` → 30.0, ``"1h30m"`` → 5400.0, ``"500ms"`` → 0.5 (units ms, s, m, h).

    Accepts exactly the CRD's pattern ``^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$``;
    raises :class:`SpecError` otherwise.
    """
    if not isinstance(text, str):
        raise SpecError("duration: must be a string such as 30s, 5m or 1h")
    if len(text) > _MAX_DURATION_TEXT or not _DURATION_RE.match(text):
        raise SpecError(
            "duration: must be a number with a unit ms, s, m or h, repeated "
            "(for example 500ms, 30s, 5m, 1h30m)"
        )
    total = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART_RE.findall(text)
    )
    if not math.isfinite(total):
        raise SpecError("duration: too large")
    return total


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


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
    if _JOB_ID_RE.match(value):
        return value
    if value.lower() != value and _JOB_ID_RE.match(value.lower()):
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
    if len(name) > 253 or not _DNS1123_SUBDOMAIN_RE.match(name):
        raise SpecError(
            "spec.credentialsRef.name: must be a DNS-1123 subdomain (lower-case letters, "
            "digits, '-' and '.', starting and ending with a letter or digit, at most 253)"
        )
    return name


def _check_url(value: str, *, where: str, error: type[Exception]) -> str:
    """An http(s) URL with a host and no user info, query or fragment; trailing '/' removed."""
    problem = _url_problem(value)
    if problem:
        if error is CredentialsError:
            raise CredentialsError(f"{where}: {problem}", reason=REASON_CREDENTIALS_INVALID)
        raise error(f"{where}: {problem}")
    return value.rstrip("/")


def _url_problem(value: str) -> str | None:
    if len(value) > _MAX_URL or not _NO_CONTROL_RE.match(value) or " " in value:
        return "must be an http or https URL without spaces or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        return "must be an http or https URL"
    del port
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain user info"
    if parts.query or parts.fragment:
        return "must not contain a query or fragment"
    return None


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
    if project_id is not None and not _PROJECT_ID_RE.match(project_id):
        raise SpecError("spec.projectId: must be 1-64 letters, digits, '-' or '_'")
    region = _optional_str(spec, "region")
    if region is not None and not _REGION_RE.match(region):
        raise SpecError(
            "spec.region: must be lower-case letters, digits and '-' (e.g. eu-west-101)"
        )
    endpoint = _optional_str(spec, "endpoint")
    if endpoint is not None:
        endpoint = _check_url(endpoint, where="spec.endpoint", error=SpecError)

    refresh_interval: float | None = None
    raw_interval = spec.get("refreshInterval")
    if raw_interval is not None:
        if not isinstance(raw_interval, str):
            raise SpecError(
                "spec.refreshInterval: must be a duration string such as 30s, 5m or 1h, "
                f"got {_type_name(raw_interval)}"
            )
        try:
            refresh_interval = parse_duration(raw_interval.strip())
        except SpecError as exc:
            raise SpecError(
                f"spec.refreshInterval: {exc.message.removeprefix('duration: ')}"
            ) from None
        if refresh_interval < min_refresh_interval:
            raise SpecError(
                f"spec.refreshInterval: must be at least {_format_seconds(min_refresh_interval)}, "
                f"got {_format_seconds(refresh_interval)}"
            )

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
    )


# ---------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """What a connection needs to call DRS. Secret fields never appear in ``repr``."""

    region: str | None = None
    project_id: str | None = None
    endpoint: str | None = None
    iam_endpoint: str | None = None
    ca_bundle: str | None = None  # PEM text (Secret key "caBundle")
    token: str | None = field(default=None, repr=False)
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    domain: str | None = None

    @property
    def mode(self) -> Literal["token", "aksk", "password"]:
        """The auth mode in use (same precedence as :func:`parse_credentials`)."""
        if self.access_key and self.secret_key:
            return "aksk"
        if self.username and self.password and self.domain:
            return "password"
        return "token"


def decode_secret_data(data: Mapping[str, str] | None, *, secret_name: str) -> dict[str, str]:
    """A Secret's base64 ``data`` → text values.

    A known credentials key whose value is not base64 of UTF-8 text raises
    :class:`CredentialsError` (``CredentialsInvalid``) naming the key; other
    undecodable keys are skipped (the Secret may hold unrelated binary data).
    """
    result: dict[str, str] = {}
    if not isinstance(data, Mapping):
        return result
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        try:
            if not isinstance(value, str):
                raise ValueError("not a string")
            result[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            if key in KNOWN_SECRET_KEYS:
                raise CredentialsError(
                    f"Secret {secret_name}: key {key} is not valid base64-encoded UTF-8 text",
                    reason=REASON_CREDENTIALS_INVALID,
                ) from None
    return result


def _values(values: Mapping[str, Any]) -> dict[str, str]:
    """Known keys only, stripped; non-strings and empty values count as absent."""
    result: dict[str, str] = {}
    for key in KNOWN_SECRET_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value.strip():
            result[key] = value.strip()
    return result


def _missing(secret_name: str, text: str) -> CredentialsError:
    return CredentialsError(f"Secret {secret_name}: {text}", reason=REASON_CREDENTIALS_MISSING)


def _invalid(secret_name: str, key: str, rule: str) -> CredentialsError:
    return CredentialsError(
        f"Secret {secret_name}: key {key} {rule}", reason=REASON_CREDENTIALS_INVALID
    )


def _choose_mode(
    found: Mapping[str, str], secret_name: str
) -> Literal["token", "aksk", "password"]:
    modes: dict[Literal["token", "aksk", "password"], tuple[str, ...]] = {
        "aksk": (KEY_ACCESS_KEY, KEY_SECRET_KEY),
        "password": (KEY_USERNAME, KEY_PASSWORD, KEY_DOMAIN),
        "token": (KEY_TOKEN,),
    }
    if KEY_SECURITY_TOKEN in found:
        missing = [k for k in modes["aksk"] if k not in found]
        if missing:
            raise _missing(secret_name, f"securityToken needs {' and '.join(missing)}")
    complete: list[Literal["token", "aksk", "password"]] = []
    for mode, keys in modes.items():
        present = [k for k in keys if k in found]
        if not present:
            continue
        missing = [k for k in keys if k not in found]
        if missing:
            raise _missing(
                secret_name,
                f"{', '.join(present)} given but {', '.join(missing)} missing "
                f"(expected {_AUTH_KEYS_HELP})",
            )
        complete.append(mode)
    if not complete:
        raise _missing(secret_name, f"no credentials keys (expected {_AUTH_KEYS_HELP})")
    return complete[0]  # dict order is the precedence: aksk, password, token


def parse_credentials(
    values: Mapping[str, str],
    *,
    secret_name: str,
    project_id: str | None = None,
    region: str | None = None,
    endpoint: str | None = None,
) -> Credentials:
    """Validate decoded Secret values; the keyword overrides (from the spec) win.

    Raises only :class:`CredentialsError`.
    """
    found = _values(values if isinstance(values, Mapping) else {})
    mode = _choose_mode(found, secret_name)

    for key in (KEY_TOKEN, KEY_ACCESS_KEY, KEY_SECURITY_TOKEN):
        if key in found and not _HEADER_SAFE_RE.match(found[key]):
            raise _invalid(secret_name, key, "must be visible ASCII without spaces")
    for key in (KEY_SECRET_KEY, KEY_USERNAME, KEY_PASSWORD, KEY_DOMAIN):
        if key in found and not _NO_CONTROL_RE.match(found[key]):
            raise _invalid(secret_name, key, "must not contain control characters")

    project = (project_id or "").strip() or found.get(KEY_PROJECT_ID)
    if not project:
        raise _missing(secret_name, "key projectId missing (and spec.projectId is not set)")
    if not _PROJECT_ID_RE.match(project):
        where = "spec.projectId" if project_id else f"Secret {secret_name}: key projectId"
        raise CredentialsError(
            f"{where} must be 1-64 letters, digits, '-' or '_'", reason=REASON_CREDENTIALS_INVALID
        )

    region_value = (region or "").strip() or found.get(KEY_REGION)
    if region_value is not None and not _REGION_RE.match(region_value):
        where = "spec.region" if region else f"Secret {secret_name}: key region"
        raise CredentialsError(
            f"{where} must be lower-case letters, digits and '-'", reason=REASON_CREDENTIALS_INVALID
        )

    endpoint_value = (endpoint or "").strip() or found.get(KEY_ENDPOINT)
    if endpoint_value is not None:
        where = "spec.endpoint" if endpoint else f"Secret {secret_name}: key endpoint"
        endpoint_value = _check_url(endpoint_value, where=where, error=CredentialsError)
    iam_endpoint = found.get(KEY_IAM_ENDPOINT)
    if iam_endpoint is not None:
        iam_endpoint = _check_url(
            iam_endpoint, where=f"Secret {secret_name}: key iamEndpoint", error=CredentialsError
        )

    if region_value is None:
        if endpoint_value is None:
            raise _missing(secret_name, "key region missing (or set endpoint)")
        if mode == "password" and iam_endpoint is None:
            raise _missing(
                secret_name, "key region missing (password mode needs region or iamEndpoint)"
            )

    ca_bundle = found.get(KEY_CA_BUNDLE)
    if ca_bundle is not None and "-----BEGIN CERTIFICATE-----" not in ca_bundle:
        raise _invalid(secret_name, KEY_CA_BUNDLE, "must hold PEM certificates")

    def pick(key: str, wanted: bool) -> str | None:
        return found.get(key) if wanted else None

    return Credentials(
        region=region_value,
        project_id=project,
        endpoint=endpoint_value,
        iam_endpoint=iam_endpoint,
        ca_bundle=ca_bundle,
        token=pick(KEY_TOKEN, mode == "token"),
        access_key=pick(KEY_ACCESS_KEY, mode == "aksk"),
        secret_key=pick(KEY_SECRET_KEY, mode == "aksk"),
        security_token=pick(KEY_SECURITY_TOKEN, mode == "aksk"),
        username=pick(KEY_USERNAME, mode == "password"),
        password=pick(KEY_PASSWORD, mode == "password"),
        domain=pick(KEY_DOMAIN, mode == "password"),
    )
