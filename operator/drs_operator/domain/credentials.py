"""The credentials Secret of a DrsJob: decoding and validation (pure).

* :func:`decode_secret_data` decodes a Secret's base64 ``data``;
  :func:`parse_credentials` validates the values and applies the spec's
  overrides (``spec.projectId``/``region``/``endpoint`` win over the
  Secret's). Failures raise :class:`CredentialsError` with reason
  ``CredentialsMissing`` (a required key is absent) or ``CredentialsInvalid``
  (a value is malformed). Messages name the Secret and the key, **never a value**.
* Values are stripped of surrounding whitespace (a trailing newline from
  ``echo ... | base64`` is the classic mistake); an empty value counts as absent.
* Auth modes (:data:`MODES`, in order of precedence): ``accessKey`` +
  ``secretKey`` (+ ``securityToken``); ``username`` + ``password`` +
  ``domain``; ``token``. A half-filled mode is an error (it is almost always a
  typo that would otherwise be masked). When several modes are complete, the
  first wins: AK/SK (the vendor's recommendation, never expires), then
  password (the operator refreshes the token), then a ready token (expires
  within 24 h). Only the chosen mode's secrets are kept.
* :class:`Credentials` keeps its secrets out of ``repr``/``str``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from drs_operator.domain.conditions import REASON_CREDENTIALS_INVALID, REASON_CREDENTIALS_MISSING
from drs_operator.domain.formats import PROJECT_ID_RULE, is_project_id, is_region
from drs_operator.drs.endpoints import url_problem
from drs_operator.drs.text import has_no_control

__all__ = [
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
    "MODES",
    "Credentials",
    "CredentialsError",
    "Mode",
    "decode_secret_data",
    "parse_credentials",
]

_HEADER_SAFE_RE: Final = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
REGION_RULE: Final = "must be lower-case letters and digits in words separated by '-'"

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


Mode = Literal["token", "aksk", "password"]

#: The auth modes and the keys each needs, in order of precedence.
MODES: Final[Mapping[Mode, tuple[str, ...]]] = {
    "aksk": (KEY_ACCESS_KEY, KEY_SECRET_KEY),
    "password": (KEY_USERNAME, KEY_PASSWORD, KEY_DOMAIN),
    "token": (KEY_TOKEN,),
}


class CredentialsError(ValueError):
    """The credentials Secret is missing, incomplete or malformed (never shows a value)."""

    def __init__(self, message: str, *, reason: str = REASON_CREDENTIALS_INVALID) -> None:
        self.message = message
        self.reason = reason
        super().__init__(message)


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
    def mode(self) -> Mode:
        """The first mode of :data:`MODES` whose keys are all set (``token`` otherwise)."""
        keys = {
            KEY_ACCESS_KEY: self.access_key,
            KEY_SECRET_KEY: self.secret_key,
            KEY_USERNAME: self.username,
            KEY_PASSWORD: self.password,
            KEY_DOMAIN: self.domain,
            KEY_TOKEN: self.token,
        }
        for mode, needed in MODES.items():
            if all(keys[key] for key in needed):
                return mode
        return "token"


def _checked_url(value: str, *, where: str) -> str:
    """An http(s) URL with a host and no user info, query or fragment; trailing '/' removed."""
    problem = url_problem(value)
    if problem:
        raise CredentialsError(f"{where}: {problem}", reason=REASON_CREDENTIALS_INVALID)
    return value.rstrip("/")


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


def _choose_mode(found: Mapping[str, str], secret_name: str) -> Mode:
    if KEY_SECURITY_TOKEN in found:
        missing = [k for k in MODES["aksk"] if k not in found]
        if missing:
            raise _missing(secret_name, f"securityToken needs {' and '.join(missing)}")
    complete: list[Mode] = []
    for mode, keys in MODES.items():
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
    return complete[0]  # MODES' order is the precedence


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
        if key in found and not has_no_control(found[key]):
            raise _invalid(secret_name, key, "must not contain control characters")

    project = (project_id or "").strip() or found.get(KEY_PROJECT_ID)
    if not project:
        raise _missing(secret_name, "key projectId missing (and spec.projectId is not set)")
    if not is_project_id(project):
        where = "spec.projectId" if project_id else f"Secret {secret_name}: key projectId"
        raise CredentialsError(f"{where} {PROJECT_ID_RULE}", reason=REASON_CREDENTIALS_INVALID)

    region_value = (region or "").strip() or found.get(KEY_REGION)
    if region_value is not None and not is_region(region_value):
        where = "spec.region" if region else f"Secret {secret_name}: key region"
        raise CredentialsError(f"{where} {REGION_RULE}", reason=REASON_CREDENTIALS_INVALID)

    endpoint_value = (endpoint or "").strip() or found.get(KEY_ENDPOINT)
    if endpoint_value is not None:
        where = "spec.endpoint" if endpoint else f"Secret {secret_name}: key endpoint"
        endpoint_value = _checked_url(endpoint_value, where=where)
    iam_endpoint = found.get(KEY_IAM_ENDPOINT)
    if iam_endpoint is not None:
        iam_endpoint = _checked_url(iam_endpoint, where=f"Secret {secret_name}: key iamEndpoint")

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
