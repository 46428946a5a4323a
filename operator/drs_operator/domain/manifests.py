"""DrsJob manifests checked offline, as the API server would check them (pure).

:func:`manifest_errors` gives every reason the API server (with kubectl's
default strict field validation) would refuse a DrsJob manifest on create:

* the CRD's ``openAPIV3Schema`` (:mod:`drs_operator.domain.crd`), translated to
  JSON Schema: types, patterns, enums, lengths, required fields, ``date-time``
  formats, and unknown fields refused (``x-kubernetes-*`` keys are the API
  server's own and are dropped);
* the CRD's CEL rules (``x-kubernetes-validations``) that apply on create are
  the operator's own spec rules (:func:`drs_operator.domain.spec.parse_spec`):
  :data:`MIRRORED_RULES` names each; a rule that reads ``oldSelf`` applies to
  updates only (``jobId`` is immutable) and cannot fail on create;
* then the operator's own reading of the spec (:func:`drs_operator.domain.spec.parse_spec`),
  which the CRD's patterns match (tests/test_crd.py checks that they accept the
  same strings), so this step mostly reports what the CEL rules would.

Messages are one line each, ``<field path>: <what is wrong>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

import jsonschema

from drs_operator.domain.crd import load_crd
from drs_operator.domain.printing import parse_timestamp
from drs_operator.domain.spec import SpecError, parse_spec

__all__ = ["MIRRORED_RULES", "cel_rules", "manifest_errors", "to_json_schema"]

#: The CRD's create-time CEL rules, and where the operator enforces each.
MIRRORED_RULES: Final[Mapping[str, str]] = {
    "duration(self) >= duration('5s')": "spec.refreshInterval's minimum (parse_spec)",
}

_FORMATS = jsonschema.FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return parse_timestamp(value) is not None  # RFC 3339, dates in range


_FORMATS.checks("date-time", raises=ValueError)(_is_date_time)


def to_json_schema(node: Any, *, strict_fields: bool = True) -> Any:
    """OpenAPI v3 (Kubernetes' subset) to JSON Schema draft 2020-12."""
    if isinstance(node, list):
        return [to_json_schema(item, strict_fields=strict_fields) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "example"):
            continue
        if key == "properties":
            out[key] = {
                name: to_json_schema(sub, strict_fields=strict_fields)
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value, strict_fields=strict_fields)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(sub, strict_fields=strict_fields) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True  # the API server refuses a duplicate in a set
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if strict_fields and "properties" in node and not preserve:
        out.setdefault("additionalProperties", False)
    return out


def _schema() -> Mapping[str, Any]:
    schema: Mapping[str, Any] = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(to_json_schema(_schema()), format_checker=_FORMATS)


def cel_rules(node: Any = None, path: str = "") -> Iterator[tuple[str, str]]:
    """Every CEL rule of the CRD's schema, as ``(field path, rule)``."""
    node = _schema() if node is None else node
    if not isinstance(node, Mapping):
        return
    for rule in node.get("x-kubernetes-validations", []):
        yield path, str(rule["rule"])
    for name, sub in (node.get("properties") or {}).items():
        yield from cel_rules(sub, f"{path}.{name}".lstrip("."))
    if "items" in node:
        yield from cel_rules(node["items"], f"{path}[]")


def _error_path(error: jsonschema.ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    text = text.lstrip(".")
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        text = ".".join(p for p in (text, *missing) if p)
    if error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message)
        text = ".".join(p for p in (text, *extra) if p)
    return text or "(object)"


def manifest_errors(obj: Any, *, default_credentials: str = "drs-credentials") -> list[str]:
    """Why the API server would refuse this DrsJob on create (empty: it would accept it)."""
    errors = sorted(f"{_error_path(e)}: {e.message}"[:400] for e in _validator().iter_errors(obj))
    if errors:
        return errors
    try:
        parse_spec(obj.get("spec"), default_credentials=default_credentials)
    except SpecError as exc:
        return [exc.message]
    return []
