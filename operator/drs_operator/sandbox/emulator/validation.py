"""Schema validation of custom resources, as kube-apiserver applies a CRD's structural schema.

:func:`admit` prunes the fields the schema does not declare, sets declared
``default`` values where a field is absent, and checks the object against the
schema: ``type``, ``required``, ``enum``, ``pattern``, ``minLength``/``maxLength``,
``minimum``/``maximum``, ``minProperties``/``maxProperties``,
``minItems``/``maxItems``, the uniqueness of ``x-kubernetes-list-type: set``
items and the ``date-time`` format. On an update,
a field that is invalid but unchanged does not fail it (validation ratcheting,
on by default since Kubernetes 1.30: a status write to an object whose spec
is already invalid is accepted). A failure is
an :class:`ApiError` 422 ``Invalid`` shaped like kube-apiserver's (message
``Kind.group "name" is invalid: field: ...`` and one ``details.causes`` entry
per field). ``metadata``, ``apiVersion`` and ``kind`` are the server's, not
checked here. The CRD's CEL rules (``x-kubernetes-validations``: jobId
immutability, the refreshInterval minimum) are not evaluated: the cluster tier
checks those on a real API server.

Only writes through the emulator's HTTP API are admitted this way; its
in-process helpers store what they are given (tests use them to hand the
operator objects no API server would accept).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from drs_operator.domain.printing import parse_timestamp
from drs_operator.sandbox.emulator.resources import DRSJOBS, ApiError, Obj, ResourceSpec

__all__ = ["admit", "defaulted", "schema_of"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


@lru_cache(maxsize=1)
def _drsjob_schema() -> Obj:
    from drs_operator.domain.crd import load_crd

    schema: Obj = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def schema_of(spec: ResourceSpec) -> Obj | None:
    """The openAPIV3Schema of a served custom resource (DrsJobs), None for built-ins."""
    return _drsjob_schema() if spec is DRSJOBS else None


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for name in ("integer", "number", "string", "array", "object"):
        if isinstance(value, _TYPES[name]):
            return name
    return "null"


def _is_date_time(value: str) -> bool:
    """RFC 3339 as kube-apiserver checks ``format: date-time`` (a ``T``, not a space)."""
    return parse_timestamp(value) is not None


def _prune_and_default(schema: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "properties" in schema:
        props: Mapping[str, Any] = schema["properties"]
        out = {k: _prune_and_default(props[k], v) for k, v in value.items() if k in props}
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_prune_and_default(schema["items"], item) for item in value]
    return value


def _causes(schema: Mapping[str, Any], value: Any, path: str) -> list[Obj]:
    """kube-apiserver's causes for ``value`` at ``path`` (dotted, ``[i]`` for items)."""

    def cause(reason: str, message: str, field: str = path) -> Obj:
        return {"reason": reason, "message": message, "field": field}

    wanted = schema.get("type")
    if wanted and not (
        isinstance(value, _TYPES[wanted]) and (wanted == "boolean") == isinstance(value, bool)
    ):
        got = _type_name(value)
        text = f'Invalid value: "{got}": {path} in body must be of type {wanted}: "{got}"'
        return [cause("FieldValueTypeInvalid", text)]
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(f'"{v}"' for v in schema["enum"])
        text = f'Unsupported value: "{value}": supported values: {supported}'
        return [cause("FieldValueNotSupported", text)]
    if isinstance(value, str):
        return _string_causes(schema, value, path)
    found: list[Obj] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            text = f"should be greater than or equal to {schema['minimum']}"
            found.append(
                cause("FieldValueInvalid", f"Invalid value: {value}: {path} in body {text}")
            )
        if "maximum" in schema and value > schema["maximum"]:
            text = f"should be less than or equal to {schema['maximum']}"
            found.append(
                cause("FieldValueInvalid", f"Invalid value: {value}: {path} in body {text}")
            )
    elif isinstance(value, dict):
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            text = f"should have at least {schema['minProperties']} properties"
            found.append(cause("FieldValueInvalid", f"Invalid value: {len(value)}: {text}"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            text = f"should have at most {schema['maxProperties']} properties"
            found.append(cause("FieldValueInvalid", f"Invalid value: {len(value)}: {text}"))
        for name in schema.get("required", ()):
            if name not in value:
                found.append(cause("FieldValueRequired", "Required value", _join(path, name)))
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and not (path == "" and name == "metadata"):
                found += _causes(sub, value[name], _join(path, name))
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            text = f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
            found.append(cause("FieldValueTooMany", text))
        if "minItems" in schema and len(value) < schema["minItems"]:
            text = f"should have at least {schema['minItems']} items"
            found.append(cause("FieldValueInvalid", f"Invalid value: {len(value)}: {text}"))
        if schema.get("x-kubernetes-list-type") == "set":
            for index, item in enumerate(value):
                if item in value[:index]:
                    text = f"Duplicate value: {json.dumps(item)}"
                    found.append(cause("FieldValueDuplicate", text, f"{path}[{index}]"))
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                found += _causes(items, item, f"{path}[{index}]")
    return found


def _string_causes(schema: Mapping[str, Any], value: str, path: str) -> list[Obj]:
    """The first of maxLength, minLength, pattern that fails (as kube-openapi stops), and
    the format."""
    invalid = f'Invalid value: "{value}": '
    found: list[Obj] = []
    if "maxLength" in schema and len(value) > schema["maxLength"]:  # characters, as the
        # server counts them (200 two-byte letters pass a maxLength of 256); its message
        # still says bytes
        text = f"Too long: may not be more than {schema['maxLength']} bytes"
        found.append({"reason": "FieldValueTooLong", "message": text, "field": path})
    elif "minLength" in schema and len(value) < schema["minLength"]:
        text = f"{invalid}{path} in body should be at least {schema['minLength']} chars long"
        found.append({"reason": "FieldValueInvalid", "message": text, "field": path})
    elif "pattern" in schema and not re.search(schema["pattern"], value):
        text = f"{invalid}{path} in body should match '{schema['pattern']}'"
        found.append({"reason": "FieldValueInvalid", "message": text, "field": path})
    if schema.get("format") == "date-time" and not _is_date_time(value):
        leaf = path.rsplit(".", 1)[-1]
        text = f'{invalid}{leaf} in body must be of type date-time: "{value}"'
        found.append({"reason": "FieldValueTypeInvalid", "message": text, "field": path})
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def defaulted(spec: ResourceSpec, obj: Obj) -> Obj:
    """``obj`` pruned and defaulted, unchecked: what a client reads back for it."""
    schema = schema_of(spec)
    if schema is None:
        return obj
    result: Obj = _prune_and_default(schema, obj)
    for kept in ("apiVersion", "kind", "metadata"):
        if kept in obj:
            result[kept] = obj[kept]
    return result


_MISSING = object()


def _at(obj: Any, path: str) -> Any:
    """The value at a cause's field path (``a.b[0].c``), or :data:`_MISSING`."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(obj, list) or index >= len(obj):
                return _MISSING
            obj = obj[index]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return _MISSING
    return obj


def admit(spec: ResourceSpec, obj: Obj, *, old: Obj | None = None) -> Obj:
    """The object as the API server would store it (pruned, defaulted), or a 422.

    ``old``: the stored object of an update (for ratcheting).
    """
    schema = schema_of(spec)
    if schema is None:
        return obj
    admitted = _prune_and_default(schema, obj)
    for kept in ("apiVersion", "kind", "metadata"):
        if kept in obj:
            admitted[kept] = obj[kept]
    causes = _causes(schema, admitted, "")
    if old is not None:  # ratcheting: what was already there and did not change may stay
        causes = [
            c
            for c in causes
            if c["reason"] == "FieldValueRequired"
            or _at(old, c["field"]) is _MISSING
            or _at(old, c["field"]) != _at(admitted, c["field"])
        ]
    if not causes:
        return dict(admitted)
    name = (obj.get("metadata") or {}).get("name", "")
    listed = [f"{c['field']}: {c['message']}" for c in causes]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    raise ApiError(
        422,
        "Invalid",
        f'{spec.kind}.{spec.group} "{name}" is invalid: {text}',
        name=name,
        group=spec.group,
        kind=spec.kind,
        causes=causes,
    )
