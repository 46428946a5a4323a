"""When each job is refreshed next: the adaptive cadence (pure).

A job's interval depends on what its task was last seen doing: in-progress
tasks are refreshed often, healthy steady ones less, failed, deleted and
missing ones rarely, and a failed refresh is retried on its own interval.
``spec.refreshInterval`` overrides all of them (never below the minimum).
Jitter spreads jobs that became due together so that the load stays even.
"""

from __future__ import annotations

import random
from enum import StrEnum

from drs_operator.settings import CadenceSettings


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
    rng: random.Random | None = None,
) -> float:
    """The interval with jitter (± ``settings.jitter`` of it), never negative."""
    interval = base_interval(pace, settings=settings, override=override)
    if interval <= 0 or settings.jitter <= 0:
        return interval
    spread = interval * settings.jitter
    draw = (rng or random).uniform(-spread, spread)
    return max(0.0, interval + draw)
