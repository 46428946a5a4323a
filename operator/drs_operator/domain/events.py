"""Which Kubernetes events a status change deserves (pure).

:func:`transition_events` compares the old and new ``.status`` and returns:

* one event when ``taskStatus`` changes: ``TaskObserved`` the first time a
  status is seen, ``TaskStatusChanged`` afterwards (old and new value in the
  message). Warning when the new status is in the FAILED group, is
  ``DELETED``, or disappeared; Normal otherwise.
* one event when the ``Synced`` condition's status or reason changes (old and
  new ``status (reason)`` in the message, plus the new condition's message
  when it is not True): ``SyncFailed`` (Warning) when it becomes False,
  ``SyncSuspended`` (Normal) when it becomes False because the job was
  suspended, ``SyncRecovered`` (Normal) when it becomes True after having been
  False or Unknown, ``SyncUnknown`` (Normal) when it becomes Unknown. The
  first successful refresh of a new DrsJob posts no Synced event: its
  ``TaskObserved`` event says so already (one event per new DrsJob).

* one event when ``status.drift.state`` changes into or out of drift:
  ``DriftDetected`` (Warning) when it becomes ``Modified`` or ``Deleted``,
  ``DriftResolved`` (Normal) when it goes from one of those back to
  ``InSync``; the message carries the ``Drifted`` condition's message (the
  first differences). Other changes (``NotChecked`` to ``InSync``, new
  differences within ``Modified``) post nothing.

Nothing changed, no event. A new message with the same status and reason
(for instance another request ID) is not a change. Messages are built from the
status only, which holds no secrets, and are clipped to fit an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from drs_operator.domain import conditions as c
from drs_operator.domain.drift import STATE_DELETED, STATE_IN_SYNC, STATE_MODIFIED
from drs_operator.domain.phases import STATUS_DELETED, Group, group_of
from drs_operator.drs.text import one_line

__all__ = [
    "EVENT_NORMAL",
    "EVENT_WARNING",
    "MAX_EVENT_MESSAGE",
    "REASON_DRIFT_DETECTED",
    "REASON_DRIFT_RESOLVED",
    "REASON_SYNC_FAILED",
    "REASON_SYNC_RECOVERED",
    "REASON_SYNC_SUSPENDED",
    "REASON_SYNC_UNKNOWN",
    "REASON_TASK_OBSERVED",
    "REASON_TASK_STATUS_CHANGED",
    "EventSpec",
    "transition_events",
]

EVENT_NORMAL: Final = "Normal"
EVENT_WARNING: Final = "Warning"

REASON_TASK_OBSERVED: Final = "TaskObserved"
REASON_TASK_STATUS_CHANGED: Final = "TaskStatusChanged"
REASON_SYNC_FAILED: Final = "SyncFailed"
REASON_SYNC_SUSPENDED: Final = "SyncSuspended"
REASON_SYNC_RECOVERED: Final = "SyncRecovered"
REASON_SYNC_UNKNOWN: Final = "SyncUnknown"
REASON_DRIFT_DETECTED: Final = "DriftDetected"
REASON_DRIFT_RESOLVED: Final = "DriftResolved"

MAX_EVENT_MESSAGE: Final = 1000  # the API server caps event messages at 1024 bytes
_MAX_VALUE: Final = 200
_NONE: Final = "<none>"


@dataclass(frozen=True)
class EventSpec:
    """An event to emit on the DrsJob."""

    type: str  # "Normal" | "Warning"
    reason: str  # CamelCase
    message: str


def _clip_bytes(message: str) -> str:
    encoded = message.encode("utf-8")
    if len(encoded) <= MAX_EVENT_MESSAGE:
        return message
    return encoded[: MAX_EVENT_MESSAGE - 3].decode("utf-8", errors="ignore") + "…"


def _task_status(status: Mapping[str, Any] | None) -> str | None:
    if not isinstance(status, Mapping):
        return None
    return one_line(status.get("taskStatus"), _MAX_VALUE)


def _synced(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(status, Mapping):
        return None
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    return c.get_condition(conditions, c.SYNCED)


def _describe(condition: Mapping[str, Any] | None) -> str:
    if condition is None:
        return _NONE
    status = one_line(condition.get("status"), 32) or _NONE
    reason = one_line(condition.get("reason"), 64)
    return f"{status} ({reason})" if reason else status


def _task_event(old: str | None, new: str | None) -> EventSpec | None:
    if old == new:
        return None
    warning = new is None or new == STATUS_DELETED or group_of(new) is Group.FAILED
    kind = EVENT_WARNING if warning else EVENT_NORMAL
    if old is None:
        return EventSpec(kind, REASON_TASK_OBSERVED, f"Task status is {new}")
    return EventSpec(
        kind, REASON_TASK_STATUS_CHANGED, f"Task status changed from {old} to {new or _NONE}"
    )


def _sync_event(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> EventSpec | None:
    def key(condition: Mapping[str, Any] | None) -> tuple[Any, Any]:
        return (
            (None, None)
            if condition is None
            else (condition.get("status"), condition.get("reason"))
        )

    if key(old) == key(new) or new is None:
        return None
    if old is None and new.get("status") == c.STATUS_TRUE:
        # The first refresh succeeded: the TaskObserved event says it already
        # (one event per new DrsJob instead of two).
        return None
    message = f"Synced changed from {_describe(old)} to {_describe(new)}"
    status = new.get("status")
    if status == c.STATUS_TRUE:
        return EventSpec(EVENT_NORMAL, REASON_SYNC_RECOVERED, message)
    detail = one_line(new.get("message"), MAX_EVENT_MESSAGE)
    if detail:
        message += f": {detail}"
    if status == c.STATUS_FALSE:
        if new.get("reason") == c.REASON_SUSPENDED:
            return EventSpec(EVENT_NORMAL, REASON_SYNC_SUSPENDED, _clip_bytes(message))
        return EventSpec(EVENT_WARNING, REASON_SYNC_FAILED, _clip_bytes(message))
    return EventSpec(EVENT_NORMAL, REASON_SYNC_UNKNOWN, _clip_bytes(message))


_DRIFTED_STATES: Final = frozenset({STATE_MODIFIED, STATE_DELETED})


def _drift_state(status: Mapping[str, Any] | None) -> str | None:
    drift = status.get("drift") if isinstance(status, Mapping) else None
    state = drift.get("state") if isinstance(drift, Mapping) else None
    return state if isinstance(state, str) else None


def _drift_event(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> EventSpec | None:
    before, after = _drift_state(old), _drift_state(new)
    if before == after:
        return None
    drifted = c.get_condition(new.get("conditions") or [], c.DRIFTED) or {}
    detail = one_line(drifted.get("message"), MAX_EVENT_MESSAGE) or ""
    if after in _DRIFTED_STATES:
        text = f"Drift changed from {before or _NONE} to {after}: {detail}"
        return EventSpec(EVENT_WARNING, REASON_DRIFT_DETECTED, _clip_bytes(text))
    if before in _DRIFTED_STATES and after == STATE_IN_SYNC:
        text = f"Drift changed from {before} to {after}: {detail}"
        return EventSpec(EVENT_NORMAL, REASON_DRIFT_RESOLVED, _clip_bytes(text))
    return None


def transition_events(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[EventSpec]:
    """The events for going from status ``old`` to status ``new`` (empty if nothing changed)."""
    events: list[EventSpec] = []
    task = _task_event(_task_status(old), _task_status(new))
    if task is not None:
        events.append(task)
    sync = _sync_event(_synced(old), _synced(new))
    if sync is not None:
        events.append(sync)
    drift = _drift_event(old, new)
    if drift is not None:
        events.append(drift)
    return events
