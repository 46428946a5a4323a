"""JSON merge patches of a status, and plain JSON values (pure).

* :func:`status_patch` turns the old and new ``.status`` into an RFC 7386
  merge patch, or None when there is nothing to write (the writer's "change
  only" rule rests on it).
* :func:`plain` turns mappings and sequences (kopf's bodies, frozen views)
  into plain dicts and lists, recursively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["plain", "status_patch"]


def _same(a: Any, b: Any) -> bool:
    """Deep equality that also tells True from 1 and 1 from 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def status_patch(
    current: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A JSON merge patch (RFC 7386) turning ``current`` into ``new``; None when equal.

    Objects are diffed key by key (removed keys → ``None``; keys whose old
    value is null count as absent); lists, such as ``conditions``, are
    replaced whole when they differ.
    """
    patch = _diff(current if isinstance(current, Mapping) else {}, new)
    return patch or None


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if value is None:
            if before is not None:
                patch[key] = None
        elif isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = _diff(before, value)
            if sub:
                patch[key] = sub
        elif not _same(plain(before), plain(value)):
            patch[key] = plain(value)
    for key, before in old.items():
        if key not in new and before is not None:
            patch[key] = None
    return patch


def plain(value: Any) -> Any:
    """Mappings → dicts and sequences (not strings) → lists, recursively."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
