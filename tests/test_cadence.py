"""The adaptive cadence: interval per pace, override, floor and jitter."""

from __future__ import annotations

import random

import pytest

from drs_operator.domain.cadence import Pace, base_interval, next_interval
from drs_operator.engine.settings import CadenceSettings

SETTINGS = CadenceSettings(in_progress=15, steady=60, failed=300, error=30, jitter=0.1, minimum=5)


@pytest.mark.parametrize(
    ("pace", "override", "expected"),
    [
        pytest.param(Pace.IMMEDIATE, None, 0.0, id="new-or-changed-job-now"),
        pytest.param(Pace.IMMEDIATE, 600.0, 0.0, id="override-does-not-delay-a-new-job"),
        pytest.param(Pace.IN_PROGRESS, None, 15.0, id="in-progress-often"),
        pytest.param(Pace.STEADY, None, 60.0, id="steady-less"),
        pytest.param(Pace.FAILED, None, 300.0, id="failed-rarely"),
        pytest.param(Pace.ERROR, None, 30.0, id="refresh-error-retry"),
        pytest.param(Pace.STEADY, 10.0, 10.0, id="spec-override-wins"),
        pytest.param(Pace.FAILED, 1.0, 5.0, id="override-floored-at-minimum"),
    ],
)
def test_base_interval(pace: Pace, override: float | None, expected: float) -> None:
    assert base_interval(pace, settings=SETTINGS, override=override) == expected


def test_jitter_only_ever_shortens_and_spreads() -> None:
    rng = random.Random(1)
    draws = [next_interval(Pace.STEADY, settings=SETTINGS, draw=rng.random()) for _ in range(500)]
    assert min(draws) >= 54 and max(draws) <= 60, "early by at most 10%, never late"
    assert max(draws) - min(draws) > 5  # really spread, not constant
    assert next_interval(Pace.STEADY, settings=SETTINGS, draw=7.0) == 54, "draw clamped to 1"


def test_no_jitter_is_exact() -> None:
    settings = CadenceSettings(jitter=0.0)
    assert next_interval(Pace.IN_PROGRESS, settings=settings) == settings.in_progress
