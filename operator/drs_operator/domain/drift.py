"""Declared expectations and drift: what a task should be, compared with what it is (pure).

A DrsJob may declare ``spec.expect``: what its DRS task is supposed to be.
:func:`parse_expect` validates it (an :class:`ExpectError` names the field and
the rule; :mod:`drs_operator.domain.spec` reports it as the spec's error);
:func:`evaluate` compares it with the task as the status shows it (the
camelCase fields :mod:`drs_operator.domain.taskfields` writes), the way a plan
compares state with configuration:

* only the declared leaves are compared (one-directional, as Crossplane's
  observe-only resources do: an undeclared field is never drift);
* ``phases`` and ``taskStatuses`` list acceptable values; the scalar identity
  fields (``jobName``, ``taskType``, ``jobDirection``, ``dbUseType``,
  ``netType``, ``nodeNum``, ``multiWrite``) and the declared keys of
  ``sourceEndpoint`` / ``targetEndpoint`` (``dbType``, ``ip``, ``port``,
  ``instId``, ``region``, ``projectId``, ``user``, ``dbName``) compare by
  equality: numbers and booleans whatever their JSON type (``"3306"`` equals
  ``3306``), IP addresses in canonical form (``2001:DB8::1`` equals
  ``2001:db8:0:0:0:0:0:1``), other text exactly;
* the result uses CloudFormation's drift vocabulary: ``InSync``; ``Modified``
  with the differences; ``Deleted`` when the task is gone (phase
  ``Deleted``); ``NotChecked`` when nothing is declared or nothing has been
  observed yet;
* at most :data:`MAX_DIFFERENCES` differences, each text at most
  :data:`MAX_TEXT` characters, one line. No secret is ever compared or
  echoed: the declarable keys are the ones above, and the status holds no
  secret field.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from drs_operator.domain.phases import ALL_PHASES, PHASE_DELETED
from drs_operator.drs.text import one_line

__all__ = [
    "DRIFT_STATES",
    "ENDPOINT_KEYS",
    "MAX_DIFFERENCES",
    "MAX_TEXT",
    "SCALAR_FIELDS",
    "STATE_DELETED",
    "STATE_IN_SYNC",
    "STATE_MODIFIED",
    "STATE_NOT_CHECKED",
    "Difference",
    "Drift",
    "ExpectError",
    "Expectations",
    "evaluate",
    "parse_expect",
]

STATE_IN_SYNC: Final = "InSync"
STATE_MODIFIED: Final = "Modified"
STATE_DELETED: Final = "Deleted"
STATE_NOT_CHECKED: Final = "NotChecked"
DRIFT_STATES: Final = (STATE_IN_SYNC, STATE_MODIFIED, STATE_DELETED, STATE_NOT_CHECKED)

MAX_DIFFERENCES: Final = 20
MAX_TEXT: Final = 256
MAX_LIST: Final = 40
_NONE: Final = "<none>"

#: Scalar fields (the same key in spec.expect and in the status) -> kind.
SCALAR_FIELDS: Final[Mapping[str, str]] = {
    "jobName": "text",
    "taskType": "text",
    "jobDirection": "text",
    "dbUseType": "text",
    "netType": "text",
    "nodeNum": "int",
    "multiWrite": "bool",
}
#: Endpoint keys: key -> kind.
ENDPOINT_KEYS: Final[Mapping[str, str]] = {
    "dbType": "text",
    "ip": "ip",
    "port": "int",
    "instId": "text",
    "region": "text",
    "projectId": "text",
    "user": "text",
    "dbName": "text",
}
ENDPOINTS: Final = ("sourceEndpoint", "targetEndpoint")
LISTS: Final = ("phases", "taskStatuses")


class ExpectError(ValueError):
    """``spec.expect`` is malformed; the message names the field and the rule."""


@dataclass(frozen=True)
class Expectations:
    """A validated ``spec.expect``: ``(field, value)`` pairs, in a stable order."""

    phases: tuple[str, ...] | None = None
    task_statuses: tuple[str, ...] | None = None
    scalars: tuple[tuple[str, Any], ...] = ()
    endpoints: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def declares(self) -> bool:
        return bool(
            self.phases is not None
            or self.task_statuses is not None
            or self.scalars
            or self.endpoints
        )


@dataclass(frozen=True)
class Difference:
    field: str  # a dotted path, e.g. "sourceEndpoint.port"
    expected: str
    observed: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "expected": self.expected, "observed": self.observed}

    def describe(self) -> str:
        return f"{self.field}: {self.expected} -> {self.observed}"


@dataclass(frozen=True)
class Drift:
    state: str
    differences: tuple[Difference, ...] = ()

    @property
    def drifted(self) -> bool:
        return self.state in (STATE_MODIFIED, STATE_DELETED)


# ---------------------------------------------------------------- parsing


def _kind_ok(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT


_KIND_HELP: Final = {
    "bool": "true or false",
    "int": "a non-negative integer",
    "text": f"a non-empty string of at most {MAX_TEXT} characters",
    "ip": f"a non-empty string of at most {MAX_TEXT} characters",
}


def _strings(raw: Any, where: str, allowed: Sequence[str] | None) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise ExpectError(f"{where}: must be a non-empty list")
    if len(raw) > MAX_LIST:
        raise ExpectError(f"{where}: at most {MAX_LIST} items")
    for item in raw:
        if not isinstance(item, str) or not item or len(item) > 64:
            raise ExpectError(f"{where}: items must be non-empty strings of at most 64 characters")
        if allowed is not None and item not in allowed:
            raise ExpectError(f"{where}: {item!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(raw))


def parse_expect(raw: Any) -> Expectations | None:
    """``spec.expect`` validated; None when absent. Raises :class:`ExpectError`."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ExpectError("spec.expect: must be an object")
    known = set(LISTS) | set(SCALAR_FIELDS) | set(ENDPOINTS)
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise ExpectError(
            f"spec.expect.{unknown[0]}: unknown field (expected one of {', '.join(sorted(known))})"
        )
    phases = task_statuses = None
    if "phases" in raw:
        phases = _strings(raw["phases"], "spec.expect.phases", ALL_PHASES)
    if "taskStatuses" in raw:
        task_statuses = _strings(raw["taskStatuses"], "spec.expect.taskStatuses", None)
    scalars = []
    for key, kind in SCALAR_FIELDS.items():
        if key in raw:
            if not _kind_ok(raw[key], kind):
                raise ExpectError(f"spec.expect.{key}: must be {_KIND_HELP[kind]}")
            scalars.append((key, raw[key]))
    endpoints = []
    for name in ENDPOINTS:
        if name not in raw:
            continue
        value = raw[name]
        if not isinstance(value, Mapping) or not value:
            raise ExpectError(f"spec.expect.{name}: must be an object with at least one key")
        pairs = []
        for key in value:
            if key not in ENDPOINT_KEYS:
                raise ExpectError(
                    f"spec.expect.{name}.{key}: unknown field "
                    f"(expected one of {', '.join(ENDPOINT_KEYS)})"
                )
        for key, kind in ENDPOINT_KEYS.items():
            if key in value:
                if not _kind_ok(value[key], kind) or (
                    key == "port" and not 1 <= value[key] <= 65535
                ):
                    help_text = "a port from 1 to 65535" if key == "port" else _KIND_HELP[kind]
                    raise ExpectError(f"spec.expect.{name}.{key}: must be {help_text}")
                pairs.append((key, value[key]))
        endpoints.append((name, tuple(pairs)))
    return Expectations(
        phases=phases,
        task_statuses=task_statuses,
        scalars=tuple(scalars),
        endpoints=tuple(endpoints),
    )


# ---------------------------------------------------------------- comparing


def _canonical(value: Any, kind: str) -> str | None:
    """The comparable text of a value, or None when it is absent or unreadable."""
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        return None
    if kind == "int":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return str(int(value))
        if isinstance(value, str) and value.strip().lstrip("+").isdigit():
            return str(int(value.strip()))
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            return text.lower()
    return text


def _shown(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):  # clipped as a whole: the CRD caps the field
        return _clip("[" + ", ".join(_shown(v) for v in value) + "]")
    return one_line(str(value), MAX_TEXT) or _NONE


def _clip(text: str) -> str:
    return one_line(text, MAX_TEXT) or _NONE


def evaluate(expect: Expectations | None, status: Mapping[str, Any] | None) -> Drift:
    """Compare the declared expectations with the task fields of a status."""
    if expect is None or not expect.declares():
        return Drift(STATE_NOT_CHECKED)
    observed = status if isinstance(status, Mapping) else {}
    phase = observed.get("phase")
    if phase == PHASE_DELETED:
        return Drift(STATE_DELETED)
    if not isinstance(phase, str) or "taskStatus" not in observed:
        return Drift(STATE_NOT_CHECKED)  # no good observation yet
    found: list[Difference] = []

    def differ(field: str, expected: Any, actual: Any) -> None:
        found.append(Difference(_clip(field), _shown(expected), _shown(actual)))

    if expect.phases is not None and phase not in expect.phases:
        differ("phase", list(expect.phases), phase)
    task_status = observed.get("taskStatus")
    if expect.task_statuses is not None and task_status not in expect.task_statuses:
        differ("taskStatus", list(expect.task_statuses), task_status)
    for key, wanted in expect.scalars:
        kind = SCALAR_FIELDS[key]
        actual = observed.get(key)
        if _canonical(wanted, kind) != _canonical(actual, kind):
            differ(key, wanted, actual)
    for name, pairs in expect.endpoints:
        endpoint = observed.get(name)
        endpoint = endpoint if isinstance(endpoint, Mapping) else {}
        for key, wanted in pairs:
            kind = ENDPOINT_KEYS[key]
            actual = endpoint.get(key)
            if _canonical(wanted, kind) != _canonical(actual, kind):
                differ(f"{name}.{key}", wanted, actual)
    if not found:
        return Drift(STATE_IN_SYNC)
    return Drift(STATE_MODIFIED, tuple(found[:MAX_DIFFERENCES]))
