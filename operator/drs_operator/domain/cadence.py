"""When each job is refreshed next: the adaptive cadence (pure).

A job's interval depends on what its task was last seen doing: in-progress
tasks are refreshed often, healthy steady ones less, failed, deleted and
missing ones rarely, and a failed refresh is retried on its own interval.
``spec.refreshInterval`` overrides all of them (raised to the minimum before
jitter, so a jittered refresh may come up to ``jitter`` of it sooner).

Jitter only ever shortens an interval (a refresh is early, never late): the
next refresh comes after ``interval * (1 - jitter * draw)`` with ``draw`` in
[0, 1]. The refresher makes one draw per connection per pass and applies it
to every job the pass refreshes on that connection, so jobs refreshed together
stay together (their next call is shared), while different passes,
connections and operators drift apart instead of hitting the API in lockstep.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class CadenceSettings:
    """How often each job is refreshed, by what its task is doing."""

    in_progress: float = 15.0  # creating, configuring, full transfer, ...
    steady: float = 60.0  # incremental sync, paused, complete
    failed: float = 300.0  # failed, deleted, missing
    error: float = 30.0  # the last refresh failed (auth, throttling, API errors)
    jitter: float = 0.1  # up to this fraction of an interval earlier (never later)
    minimum: float = 5.0  # floor for spec.refreshInterval
    tick: float = 1.0  # how often the refresher looks for due jobs
    # Jobs due within this long are refreshed in the same pass (early, never late):
    # fewer, busier wake-ups cost less CPU per call than one call at a time, and
    # batches fill up. Refreshes come up to this much early (~lead/2 on average).
    lead: float = 1.0


class Pace(StrEnum):
    IMMEDIATE = "immediate"  # new or changed DrsJob
    IN_PROGRESS = "in_progress"
    STEADY = "steady"
    FAILED = "failed"  # failed, deleted, missing tasks
    ERROR = "error"  # the refresh itself failed


def base_interval(pace: Pace, *, settings: CadenceSettings, override: float | None) -> float:
    """The interval before jitter, in seconds."""
    if pace is Pace.IMMEDIATE:
        return 0.0
    if override is not None:
        return max(override, settings.minimum)
    return {
        Pace.IN_PROGRESS: settings.in_progress,
        Pace.STEADY: settings.steady,
        Pace.FAILED: settings.failed,
        Pace.ERROR: settings.error,
    }[pace]


def next_interval(
    pace: Pace,
    *,
    settings: CadenceSettings,
    override: float | None = None,
    draw: float = 0.0,
) -> float:
    """The interval shortened by jitter: ``interval * (1 - jitter * draw)``, ``draw`` in [0, 1]."""
    interval = base_interval(pace, settings=settings, override=override)
    return jittered(interval, settings=settings, draw=draw)


def jittered(interval: float, *, settings: CadenceSettings, draw: float) -> float:
    """``interval`` shortened by the jitter of ``draw``, as :func:`next_interval` does."""
    if interval <= 0 or settings.jitter <= 0:
        return interval
    return interval * (1.0 - settings.jitter * min(1.0, max(0.0, draw)))
