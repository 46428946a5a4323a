"""What a refresh observed, as facts, and what the facts mean for the cadence (pure).

Observation returns facts; :mod:`drs_operator.domain.mapping` is the one place
that turns them into a status. The three facts:

* :class:`Observed`: the task was read;
* :class:`Missing`: the task does not exist or was deleted;
* :class:`Failed`: this refresh failed or was not attempted, with the
  condition reason and a message naming the cause;
* :class:`Reevaluated`: no refresh at all: the declared expectations changed
  and the last observation is judged again (no DRS call).

The decisions from a DRS answer to facts live here, next to the mapping, so
the refresher only does I/O (calls, retries, splitting batches):

* :func:`observe` turns a :class:`~drs_operator.drs.classify.BatchDetailResult`
  into one fact per answered ID: a found job is :class:`Observed`; an item
  error with a not-found code (:data:`~drs_operator.drs.errors.NOT_FOUND_CODES`)
  is :class:`Missing`; any other item error is :class:`Failed` ``ApiError``.
* :func:`unanswered` is the fact for an ID the service never answered, once
  the refresher has asked it alone (twice).
* :func:`named_missing` reads the IDs a not-found error names.
* :func:`failure` turns any DRS error into :class:`Failed` with the reason of
  :data:`ERROR_REASONS` (the one table from the error tree to condition reasons).
* :func:`invalid_spec`, :func:`suspended`, :func:`no_answer` and
  :func:`internal_error` are the facts for refreshes that made no call or
  whose call went wrong inside the operator.
* :func:`pace_of` picks the cadence from the fact: in-progress tasks often,
  steady ones less, failed, deleted and missing ones rarely (and so an
  invalid or suspended spec or a refused ``spec.endpoint``, which only a
  spec change can alter: that refreshes at once), and a refresh that failed
  on the error interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from drs_operator.domain import conditions as c
from drs_operator.domain.cadence import Pace
from drs_operator.domain.phases import Group, group_of
from drs_operator.drs.classify import BatchDetailResult
from drs_operator.drs.errors import (
    NOT_FOUND_CODES,
    DrsAuthError,
    DrsError,
    DrsNotFoundError,
    DrsParseError,
    DrsPermissionError,
    DrsRedirectError,
    DrsRequestError,
    DrsServerError,
    DrsThrottledError,
    DrsTransportError,
)
from drs_operator.drs.models import JobDetail

__all__ = [
    "ERROR_REASONS",
    "MESSAGE_NO_ANSWER",
    "MESSAGE_NO_RECORD",
    "MESSAGE_SUSPENDED",
    "Failed",
    "Missing",
    "Observation",
    "Observed",
    "Reevaluated",
    "failure",
    "internal_error",
    "invalid_spec",
    "named_missing",
    "no_answer",
    "observe",
    "pace_of",
    "reason_of",
    "suspended",
    "unanswered",
]


@dataclass(frozen=True)
class Observed:
    """The task was read successfully."""

    job: JobDetail


@dataclass(frozen=True)
class Missing:
    """The task does not exist or was deleted (not-found code, empty results, ...)."""

    code: str | None
    message: str | None
    request_id: str | None


@dataclass(frozen=True)
class Failed:
    """This refresh failed, or was not attempted (suspended, bad spec, bad Secret)."""

    reason: str  # condition reason, e.g. "Throttled", "CredentialsMissing", "Suspended"
    message: str  # safe, human text naming the cause (already includes code/request id)


@dataclass(frozen=True)
class Reevaluated:
    """Nothing new was observed: the spec changed (``spec.expect``), the status is re-decided."""


Observation = Observed | Missing | Failed | Reevaluated

#: Reasons only a change of the spec (which refreshes at once) or a restart can alter.
_UNTIL_CHANGED: Final = frozenset(
    {c.REASON_INVALID_SPEC, c.REASON_SUSPENDED, c.REASON_ENDPOINT_NOT_ALLOWED}
)
MESSAGE_SUSPENDED: Final = "Refreshing is suspended by spec.suspend"
MESSAGE_NO_ANSWER: Final = "no answer for this job"
MESSAGE_NO_RECORD: Final = "the service returned no record for this task"
MESSAGE_INVALID_SPEC: Final = "invalid spec"

#: The condition reason of each kind of DRS error (most specific class first).
ERROR_REASONS: Final[Mapping[type[DrsError], str]] = {
    DrsTransportError: c.REASON_UNREACHABLE,
    DrsThrottledError: c.REASON_THROTTLED,
    DrsAuthError: c.REASON_AUTH_FAILED,
    DrsPermissionError: c.REASON_PERMISSION_DENIED,
    DrsNotFoundError: c.REASON_NOT_FOUND,
    DrsServerError: c.REASON_API_ERROR,
    DrsParseError: c.REASON_INVALID_RESPONSE,
    DrsRedirectError: c.REASON_API_ERROR,
    DrsRequestError: c.REASON_API_ERROR,
}


def reason_of(error: DrsError) -> str:
    """The condition reason for a DRS error (``ApiError`` for any other kind)."""
    for cls in type(error).__mro__:
        reason = ERROR_REASONS.get(cls)  # type: ignore[call-overload]
        if reason is not None:
            return reason
    return c.REASON_API_ERROR


def failure(error: DrsError) -> Failed:
    """This refresh failed with ``error``: its reason, and its one-line description."""
    return Failed(reason_of(error), error.describe())


def observe(result: BatchDetailResult) -> dict[str, Observation]:
    """One fact per ID the answer covered (found or item error); unanswered IDs are absent."""
    observations: dict[str, Observation] = {
        job_id: Observed(job) for job_id, job in result.jobs.items()
    }
    for job_id, (code, message) in result.errors.items():
        if code in NOT_FOUND_CODES:
            observations[job_id] = Missing(code, message, result.request_id)
        else:
            text = f"the service reported an error for this task: {message or code}"
            if code or result.request_id:
                text += f" (code {code or '-'}, request {result.request_id or '-'})"
            observations[job_id] = Failed(c.REASON_API_ERROR, text)
    return observations


def unanswered(request_id: str | None) -> Missing:
    """An ID asked alone, twice, that got no record: the task is gone."""
    return Missing(None, MESSAGE_NO_RECORD, request_id)


def named_missing(error: DrsNotFoundError, ids: Sequence[str]) -> dict[str, Observation]:
    """The facts a not-found answer gives for ``ids``.

    The IDs it names are :class:`Missing` with their own code and message;
    when ``ids`` is a single ID the answer is about that ID even if it names
    none. Other IDs get no fact (the caller asks again to isolate them).
    """
    observations: dict[str, Observation] = {
        i: Missing(error.missing[i][0] or error.code, error.missing[i][1], error.request_id)
        for i in ids
        if i in error.missing
    }
    if len(ids) == 1 and not observations:
        observations[ids[0]] = Missing(error.code, error.api_message, error.request_id)
    return observations


def invalid_spec(message: str | None) -> Failed:
    return Failed(c.REASON_INVALID_SPEC, message or MESSAGE_INVALID_SPEC)


def suspended() -> Failed:
    return Failed(c.REASON_SUSPENDED, MESSAGE_SUSPENDED)


def no_answer() -> Failed:
    return Failed(c.REASON_API_ERROR, MESSAGE_NO_ANSWER)


def internal_error(error: BaseException) -> Failed:
    """A bug of the operator: the class name only (its text may hold anything)."""
    return Failed(c.REASON_API_ERROR, f"internal error: {type(error).__name__}")


def pace_of(observation: Observation) -> Pace:
    """The cadence after this fact."""
    if isinstance(observation, Observed):
        group = group_of(observation.job.status)
        if group is Group.IN_PROGRESS:
            return Pace.IN_PROGRESS
        if group in (Group.FAILED, Group.FINISHED):
            return Pace.FAILED
        return Pace.STEADY
    if isinstance(observation, Missing):
        return Pace.FAILED
    if isinstance(observation, Reevaluated):  # not a refresh: the schedule is not touched
        raise ValueError("a re-evaluation has no pace")
    if observation.reason in _UNTIL_CHANGED:
        return Pace.FAILED
    return Pace.ERROR
