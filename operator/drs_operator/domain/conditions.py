"""metav1.Condition helpers and the condition vocabulary (pure).

* :func:`set_condition` returns a *new* list with one condition created or
  replaced. ``lastTransitionTime`` (RFC 3339, UTC, second precision:
  ``YYYY-MM-DDTHH:MM:SSZ``) changes only when the condition's ``status``
  changes; a new reason or message keeps it. Conditions are kept in a stable
  order: Ready, Synced, Reconciling, Stalled, Drifted, then any others in the order
  they already had. Entries that are not objects, or repeat a type, are
  dropped.
* The type and reason constants are the only spellings of condition types
  and reasons in the operator; no other module writes a reason as a literal.
  Which reason each DRS error shows is
  :data:`drs_operator.domain.observations.ERROR_REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "CONDITION_ORDER",
    "DRIFTED",
    "READY",
    "REASON_API_ERROR",
    "REASON_AUTH_FAILED",
    "REASON_AWAITING_FIRST_REFRESH",
    "REASON_CREDENTIALS_INVALID",
    "REASON_CREDENTIALS_MISSING",
    "REASON_CREDENTIALS_UNAVAILABLE",
    "REASON_DELETED",
    "REASON_DRIFTED",
    "REASON_ENDPOINT_NOT_ALLOWED",
    "REASON_INVALID_RESPONSE",
    "REASON_INVALID_SPEC",
    "REASON_IN_SYNC",
    "REASON_MODIFIED",
    "REASON_NOT_CHECKED",
    "REASON_NOT_FOUND",
    "REASON_PERMISSION_DENIED",
    "REASON_REFRESHED",
    "REASON_SUSPENDED",
    "REASON_TASK_COMPLETED",
    "REASON_TASK_DELETED",
    "REASON_TASK_FAILED",
    "REASON_TASK_HEALTHY",
    "REASON_TASK_IN_PROGRESS",
    "REASON_TASK_PAUSED",
    "REASON_THROTTLED",
    "REASON_UNKNOWN_STATUS",
    "REASON_UNREACHABLE",
    "RECONCILING",
    "STALLED",
    "STATUS_FALSE",
    "STATUS_TRUE",
    "STATUS_UNKNOWN",
    "SYNCED",
    "format_time",
    "get_condition",
    "set_condition",
]

# Condition types.
READY: Final = "Ready"
SYNCED: Final = "Synced"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
DRIFTED: Final = "Drifted"
CONDITION_ORDER: Final = (READY, SYNCED, RECONCILING, STALLED, DRIFTED)

# Condition statuses.
STATUS_TRUE: Final = "True"
STATUS_FALSE: Final = "False"
STATUS_UNKNOWN: Final = "Unknown"

# Synced reasons: the refresh itself.
REASON_REFRESHED: Final = "Refreshed"
REASON_SUSPENDED: Final = "Suspended"
REASON_INVALID_SPEC: Final = "InvalidSpec"
REASON_CREDENTIALS_MISSING: Final = "CredentialsMissing"
REASON_CREDENTIALS_INVALID: Final = "CredentialsInvalid"
REASON_CREDENTIALS_UNAVAILABLE: Final = "CredentialsUnavailable"  # the Secret could not be read
REASON_ENDPOINT_NOT_ALLOWED: Final = "EndpointNotAllowed"  # spec.endpoint's host is not allowed
# ... a failed DRS call (drs_operator.domain.observations.ERROR_REASONS):
REASON_UNREACHABLE: Final = "Unreachable"
REASON_THROTTLED: Final = "Throttled"
REASON_AUTH_FAILED: Final = "AuthFailed"
REASON_PERMISSION_DENIED: Final = "PermissionDenied"
REASON_NOT_FOUND: Final = "NotFound"
REASON_API_ERROR: Final = "ApiError"
REASON_INVALID_RESPONSE: Final = "InvalidResponse"

# Ready / Reconciling / Stalled reasons: what the task is doing.
REASON_TASK_IN_PROGRESS: Final = "TaskInProgress"
REASON_TASK_HEALTHY: Final = "TaskHealthy"
REASON_TASK_PAUSED: Final = "TaskPaused"
REASON_TASK_COMPLETED: Final = "TaskCompleted"
REASON_TASK_FAILED: Final = "TaskFailed"
REASON_TASK_DELETED: Final = "TaskDeleted"
REASON_UNKNOWN_STATUS: Final = "UnknownStatus"
REASON_AWAITING_FIRST_REFRESH: Final = "AwaitingFirstRefresh"
REASON_DRIFTED: Final = "Drifted"  # Ready False: healthy, but not what spec.expect declares

# Drifted reasons: the drift state (drs_operator.domain.drift).
REASON_MODIFIED: Final = "Modified"
REASON_DELETED: Final = "Deleted"
REASON_IN_SYNC: Final = "InSync"
REASON_NOT_CHECKED: Final = "NotChecked"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision (``2020-08-21T02:43:49Z``); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rank(condition: Mapping[str, Any]) -> int:
    kind = condition.get("type")
    return CONDITION_ORDER.index(kind) if kind in CONDITION_ORDER else len(CONDITION_ORDER)


def _clean(conditions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Copies of the well-formed conditions, first of each type only."""
    seen: set[str] = set()
    result: list[dict[str, Any]] = []
    for condition in conditions or ():
        if not isinstance(condition, Mapping):
            continue
        kind = condition.get("type")
        if not isinstance(kind, str) or kind in seen:
            continue
        seen.add(kind)
        result.append(dict(condition))
    return result


def get_condition(
    conditions: Sequence[Mapping[str, Any]] | None, type: str
) -> dict[str, Any] | None:
    """A copy of the condition of this type, or None."""
    for condition in _clean(conditions):
        if condition["type"] == type:
            return condition
    return None


def set_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    type: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """A new, ordered list with the condition of ``type`` created or replaced.

    ``lastTransitionTime`` is kept from the old condition when its status is
    the same (and it had a usable one), else set to ``now``.
    ``observedGeneration`` is omitted when ``observed_generation`` is None.
    """
    result = _clean(conditions)
    old = next((c for c in result if c["type"] == type), None)
    transition = format_time(now)
    if old is not None and old.get("status") == status:
        kept = old.get("lastTransitionTime")
        if isinstance(kept, str) and kept:
            transition = kept
    new: dict[str, Any] = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    if old is None:
        result.append(new)
    else:
        result[result.index(old)] = new
    result.sort(key=_rank)  # stable: unknown types keep their relative order
    return result
