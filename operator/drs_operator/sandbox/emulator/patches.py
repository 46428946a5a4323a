"""Merge patches (RFC 7386) and JSON patches (RFC 6902), applied as the API server does.

Both return a new object and leave their inputs alone; a JSON patch that
cannot be applied (a failing ``test`` included) raises a 422 :class:`ApiError`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from drs_operator.sandbox.emulator.resources import ApiError, Obj

__all__ = ["json_patch", "merge_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (returns a new value; inputs are not modified)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(obj: Obj, ops: list[Any]) -> Obj:
    import jsonpatch  # a dependency of kmock

    try:
        patched = jsonpatch.apply_patch(obj, ops, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the JSON patch could not be applied: {exc}") from None
    if not isinstance(patched, dict):
        raise ApiError(422, "Invalid", "the JSON patch did not produce an object")
    return patched
