"""From what a refresh observed to the DrsJob's complete ``.status`` (pure).

Observation returns facts (:class:`~drs_operator.domain.observations.Observed`,
``Missing``, ``Failed``); :func:`compute_status` is the one place that decides
what they mean for the status. :func:`drs_operator.domain.patching.status_patch`
turns the old and new status into a JSON merge patch, or None when there is
nothing to write.

Rules:

* **Observed**: every task field is rebuilt from the job
  (:func:`drs_operator.domain.taskfields.task_fields`). Conditions:
  ``Synced`` True ``Refreshed`` (constant message, so an unchanged task never
  causes a write); ``Ready``/``Reconciling``/``Stalled`` from the status group
  (:mod:`drs_operator.domain.phases`):

  ============  =======================  ===========  ===========================
  group         Ready                    Reconciling  Stalled
  ============  =======================  ===========  ===========================
  in progress   False TaskInProgress     True         False
  steady        True TaskHealthy/Paused  False        False
  failed        False TaskFailed         False        True TaskFailed
  stopped       False TaskCompleted      False        False
  DELETED       False TaskDeleted        False        True TaskDeleted
  unknown       Unknown UnknownStatus    False        False
  ============  =======================  ===========  ===========================

  A stopped task (``RELEASE_RESOURCE_COMPLETE``, ``RELEASE_CHILD_TRANSFER_COMPLETE``)
  finished on purpose: it is not healthy any more, but nothing is broken, so
  it is not Ready and not Stalled.
* **Missing**: the last known task fields are kept, ``phase`` becomes
  ``Deleted``, Synced/Ready False and Stalled True with reason ``NotFound``.
* **Failed** (the refresh failed or was not attempted): the last good status
  is kept entirely; only the ``Synced`` condition (False, the given reason and
  message) and ``observedGeneration`` change. When there is no ``Ready``
  condition yet (never refreshed), ``Ready`` Unknown ``AwaitingFirstRefresh``
  is added so kstatus sees an object that is not ready yet.

Keys of the old status that this module does not own (for example another
tool's bookkeeping) are kept as they are. Condition times use seconds
(:func:`drs_operator.domain.conditions.format_time`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from drs_operator.domain import conditions as c
from drs_operator.domain.drift import (
    STATE_DELETED,
    STATE_IN_SYNC,
    STATE_MODIFIED,
    STATE_NOT_CHECKED,
    Drift,
    Expectations,
    evaluate,
)
from drs_operator.domain.observations import Failed, Missing, Observation, Observed
from drs_operator.domain.phases import (
    PHASE_DELETED,
    STATUS_DELETED,
    STATUS_PAUSING,
    Group,
    group_of,
    phase_of,
)
from drs_operator.domain.taskfields import TASK_KEYS, task_fields
from drs_operator.drs.models import JobDetail
from drs_operator.drs.text import one_line

__all__ = [
    "MAX_MESSAGE",
    "MESSAGE_AWAITING_FIRST_REFRESH",
    "MESSAGE_NOT_FOUND",
    "MESSAGE_REFRESHED",
    "OWNED_KEYS",
    "compute_status",
]


MAX_MESSAGE: Final = 1024  # condition messages
MAX_DETAIL: Final = 300  # failed_reason / error_message quoted inside a message

MESSAGE_REFRESHED: Final = "Task details refreshed"
MESSAGE_NOT_FOUND: Final = "The DRS task does not exist or was deleted"
MESSAGE_AWAITING_FIRST_REFRESH: Final = "The task has not been refreshed yet"
MESSAGE_IN_SYNC: Final = "The task is what spec.expect declares"
MESSAGE_NOT_CHECKED: Final = "Not checked: the task has not been observed yet"
MESSAGE_DRIFT_DELETED: Final = "spec.expect declares a task that no longer exists"

OWNED_KEYS: Final = TASK_KEYS | {"observedGeneration", "phase", "conditions", "drift"}


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _TaskConditions:
    ready: str
    reconciling: str
    stalled: str
    reason: str
    message: str


def _status_text(status: str | None) -> str:
    return one_line(status, MAX_DETAIL) or "<none>"


def _failure_details(failed_reason: Any, error_message: Any, error_code: Any) -> str:
    details = [
        text
        for text in (one_line(failed_reason, MAX_DETAIL), one_line(error_message, MAX_DETAIL))
        if text
    ]
    if error_code:
        details.append(f"code {one_line(error_code, 64)}")
    return "; ".join(dict.fromkeys(details))


def _task_conditions(
    status: str | None, *, failed_reason: Any, error_message: Any, error_code: Any
) -> _TaskConditions:
    shown = _status_text(status)
    group = group_of(status)
    t, f, u = c.STATUS_TRUE, c.STATUS_FALSE, c.STATUS_UNKNOWN
    if group is Group.IN_PROGRESS:
        return _TaskConditions(f, t, f, c.REASON_TASK_IN_PROGRESS, f"Task is {shown}")
    if group is Group.STEADY:
        if status == STATUS_PAUSING:
            return _TaskConditions(t, f, f, c.REASON_TASK_PAUSED, "Task is paused")
        return _TaskConditions(t, f, f, c.REASON_TASK_HEALTHY, f"Task is {shown}")
    details = _failure_details(failed_reason, error_message, error_code)
    if group is Group.FAILED:
        message = f"Task failed with status {shown}" + (f": {details}" if details else "")
        return _TaskConditions(f, f, t, c.REASON_TASK_FAILED, message)
    if group is Group.FINISHED:
        if status == STATUS_DELETED:
            return _TaskConditions(f, f, t, c.REASON_TASK_DELETED, "Task was deleted")
        return _TaskConditions(f, f, f, c.REASON_TASK_COMPLETED, f"Task is {shown}")
    if status is None:
        message = "Task reported no status" + (f": {details}" if details else "")
    else:
        message = f"Task status {shown} is not known to this operator"
    return _TaskConditions(u, f, f, c.REASON_UNKNOWN_STATUS, message)


def _job_conditions(job: JobDetail) -> _TaskConditions:
    return _task_conditions(
        job.status,
        failed_reason=job.failed_reason,
        error_message=job.error_message,
        error_code=job.error_code,
    )


def _status_conditions(status: Mapping[str, Any]) -> _TaskConditions:
    """The task's conditions again, from the fields a status kept."""
    task_status = status.get("taskStatus")
    return _task_conditions(
        task_status if isinstance(task_status, str) else None,
        failed_reason=status.get("failedReason"),
        error_message=status.get("errorMessage"),
        error_code=status.get("errorCode"),
    )


def _clip_message(message: str) -> str:
    return one_line(message, MAX_MESSAGE) or ""


def _apply(
    conditions: Sequence[Mapping[str, Any]] | None,
    *,
    updates: Sequence[tuple[str, str, str, str]],
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [dict(item) for item in conditions or ()]
    for kind, status, reason, message in updates:
        result = c.set_condition(
            result,
            type=kind,
            status=status,
            reason=reason,
            message=_clip_message(message),
            observed_generation=generation,
            now=now,
        )
    return result


def _old_conditions(current: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = current.get("conditions")
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _missing_message(missing: Missing) -> str:
    text = MESSAGE_NOT_FOUND
    if missing.message:
        text += f": {one_line(missing.message, MAX_DETAIL)}"
    details = []
    if missing.code:
        details.append(f"code {one_line(missing.code, 64)}")
    if missing.request_id:
        details.append(f"request {one_line(missing.request_id, 128)}")
    if details:
        text += f" ({', '.join(details)})"
    return text


_REQUEST_ID = re.compile(r"request [^\s,)]+")


def _same_news(
    conditions: Sequence[Mapping[str, Any]], *, kind: str, status: str, reason: str, message: str
) -> str:
    """Keep the standing message when only the request ID changed.

    A failure that persists (a missing task, a service that keeps failing)
    is not news: re-reporting it with a fresh request ID would write the
    status on every refresh. The first occurrence's request ID stays.
    """
    old = c.get_condition(conditions, kind)
    if old is None or old.get("status") != status or old.get("reason") != reason:
        return message
    old_message = str(old.get("message") or "")
    if _REQUEST_ID.sub("request", old_message) == _REQUEST_ID.sub("request", message):
        return old_message
    return message


# ---------------------------------------------------------------- drift


def _drift_message(drift: Drift) -> str:
    if drift.state == STATE_DELETED:
        return MESSAGE_DRIFT_DELETED
    if drift.state == STATE_IN_SYNC:
        return MESSAGE_IN_SYNC
    if drift.state == STATE_NOT_CHECKED:
        return MESSAGE_NOT_CHECKED
    shown = "; ".join(d.describe() for d in drift.differences[:5])
    more = len(drift.differences) - 5
    return f"Differs from spec.expect: {shown}" + (f"; and {more} more" if more > 0 else "")


_DRIFTED_CONDITION: Final = {
    STATE_MODIFIED: (c.STATUS_TRUE, c.REASON_MODIFIED),
    STATE_DELETED: (c.STATUS_TRUE, c.REASON_DELETED),
    STATE_IN_SYNC: (c.STATUS_FALSE, c.REASON_IN_SYNC),
    STATE_NOT_CHECKED: (c.STATUS_UNKNOWN, c.REASON_NOT_CHECKED),
}


def _drift_status(drift: Drift, old: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """``status.drift``; its ``lastCheckTime`` is kept while the result is the same."""
    value: dict[str, Any] = {"state": drift.state}
    if drift.differences:
        value["differences"] = [d.as_json() for d in drift.differences]
    before = old.get("drift")
    if isinstance(before, Mapping):
        same = {k: v for k, v in before.items() if k != "lastCheckTime"} == value
        if same and isinstance(before.get("lastCheckTime"), str):
            value["lastCheckTime"] = before["lastCheckTime"]
            return value
    value["lastCheckTime"] = c.format_time(now)
    return value


def _judge(
    status: dict[str, Any],
    *,
    old: Mapping[str, Any],
    expect: Expectations | None,
    task: _TaskConditions | None,
    force: bool,
    generation: int | None,
    now: datetime,
) -> None:
    """Drift: ``status.drift``, the ``Drifted`` condition and ``Ready`` False ``Drifted``.

    ``task`` is what the task itself says of Ready (None: keep Ready as it is,
    e.g. while the task is missing); Ready is set from it, turned False
    ``Drifted`` when a Ready task is ``Modified``, always with ``force`` (a new
    observation) and otherwise only when that changes it. Nothing declared: no
    drift, no Drifted.
    """
    conditions = status["conditions"]
    if expect is None or not expect.declares():
        status.pop("drift", None)
        status["conditions"] = [x for x in conditions if x.get("type") != c.DRIFTED]
        task_ready = task
    else:
        drift = evaluate(expect, status)
        status["drift"] = _drift_status(drift, old, now)
        kind, reason = _DRIFTED_CONDITION[drift.state]
        message = _drift_message(drift)
        conditions = _apply(
            conditions,
            updates=[(c.DRIFTED, kind, reason, message)],
            generation=generation,
            now=now,
        )
        status["conditions"] = conditions
        task_ready = task
        if drift.state == STATE_MODIFIED and task is not None and task.ready == c.STATUS_TRUE:
            task_ready = _TaskConditions(
                c.STATUS_FALSE, task.reconciling, task.stalled, c.REASON_DRIFTED, message
            )
    now_ready = c.get_condition(status["conditions"], c.READY) or {}
    if task_ready is not None and (
        force
        or (now_ready.get("status"), now_ready.get("reason"), now_ready.get("message"))
        != (task_ready.ready, task_ready.reason, _clip_message(task_ready.message))
    ):
        status["conditions"] = _apply(
            status["conditions"],
            updates=[(c.READY, task_ready.ready, task_ready.reason, task_ready.message)],
            generation=generation,
            now=now,
        )


# ---------------------------------------------------------------- the decision


def compute_status(
    *,
    current: Mapping[str, Any] | None,
    observation: Observation,
    generation: int | None,
    now: datetime,
    expect: Expectations | None = None,
) -> dict[str, Any]:
    """The complete new ``.status`` (JSON-ready, no nulls) for this observation.

    ``expect`` is the DrsJob's ``spec.expect`` (:func:`drs_operator.domain.drift.parse_expect`).
    """
    old: Mapping[str, Any] = current if isinstance(current, Mapping) else {}
    foreign = {k: v for k, v in old.items() if k not in OWNED_KEYS and v is not None}
    conditions = _old_conditions(old)
    status: dict[str, Any]
    task: _TaskConditions | None = None

    if isinstance(observation, Observed):
        job = observation.job
        task = _job_conditions(job)
        status = task_fields(job)
        status["phase"] = phase_of(job.status)
        status["conditions"] = _apply(  # Ready: below, with the drift judgment
            conditions,
            updates=[
                (c.SYNCED, c.STATUS_TRUE, c.REASON_REFRESHED, MESSAGE_REFRESHED),
                (c.RECONCILING, task.reconciling, task.reason, task.message),
                (c.STALLED, task.stalled, task.reason, task.message),
            ],
            generation=generation,
            now=now,
        )
    elif isinstance(observation, Missing):
        status = {k: v for k, v in old.items() if k in TASK_KEYS and v is not None}
        status["phase"] = phase_of(STATUS_DELETED)
        status["conditions"] = _apply(
            conditions,
            updates=[
                (c.READY, c.STATUS_FALSE, c.REASON_NOT_FOUND, MESSAGE_NOT_FOUND),
                (
                    c.SYNCED,
                    c.STATUS_FALSE,
                    c.REASON_NOT_FOUND,
                    _same_news(
                        conditions,
                        kind=c.SYNCED,
                        status=c.STATUS_FALSE,
                        reason=c.REASON_NOT_FOUND,
                        message=_clip_message(_missing_message(observation)),
                    ),
                ),
                (c.RECONCILING, c.STATUS_FALSE, c.REASON_NOT_FOUND, MESSAGE_NOT_FOUND),
                (c.STALLED, c.STATUS_TRUE, c.REASON_NOT_FOUND, MESSAGE_NOT_FOUND),
            ],
            generation=generation,
            now=now,
        )
    else:
        status = {
            k: v
            for k, v in old.items()
            if k in OWNED_KEYS and k not in ("observedGeneration", "conditions") and v is not None
        }
        if isinstance(observation, Failed):
            message = _same_news(
                conditions,
                kind=c.SYNCED,
                status=c.STATUS_FALSE,
                reason=observation.reason,
                message=_clip_message(observation.message),
            )
            updates = [(c.SYNCED, c.STATUS_FALSE, observation.reason, message)]
        else:  # Reevaluated: every condition stays, at the new generation
            updates = [
                (
                    kind,
                    str(x.get("status")),
                    str(x.get("reason") or ""),
                    str(x.get("message") or ""),
                )
                for kind in (c.READY, c.SYNCED, c.RECONCILING, c.STALLED)
                if (x := c.get_condition(conditions, kind)) is not None
            ]
        if c.get_condition(conditions, c.READY) is None:
            updates.append(
                (
                    c.READY,
                    c.STATUS_UNKNOWN,
                    c.REASON_AWAITING_FIRST_REFRESH,
                    MESSAGE_AWAITING_FIRST_REFRESH,
                )
            )
        status["conditions"] = _apply(conditions, updates=updates, generation=generation, now=now)
        ready = c.get_condition(conditions, c.READY)
        if ready is not None and "taskStatus" in status and status.get("phase") != PHASE_DELETED:
            # The task's own word on Ready again, for the drift judgment below (a
            # change of spec.expect may make or unmake Ready False Drifted).
            task = _status_conditions(status)
            if ready.get("reason") != c.REASON_DRIFTED and (
                ready.get("status"),
                ready.get("reason"),
            ) != (task.ready, task.reason):
                task = None  # Ready says something else (a missing task): leave it

    _judge(
        status,
        old=old,
        expect=expect,
        task=task,
        force=isinstance(observation, Observed),
        generation=generation,
        now=now,
    )
    if generation is not None:
        status["observedGeneration"] = generation
    elif "observedGeneration" in old and old["observedGeneration"] is not None:
        status["observedGeneration"] = old["observedGeneration"]
    return {**foreign, **status}
