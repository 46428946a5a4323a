"""Runtime-switchable fault injection for the DRS simulator.

A :class:`Faults` object holds plain fields that tests, the demo and
benchmarks change while the server runs (in-process by attribute, or out of
process with ``POST /_sim/faults``). Ratios are probabilities in ``0..1``,
drawn per batch-detail request from the simulator's seeded
:class:`random.Random`, so a given seed and configuration reproduce the same
sequence of faults. A ratio of ``0`` never draws from the RNG and ``1`` always
fires without drawing.

Fields (defaults: everything off):

=====================  ==========================================================
``latency``            seconds slept before answering (DRS and IAM)
``throttle_ratio``     429 ``APIG.0308`` (with ``Retry-After`` if ``retry_after``)
``busy_ratio``         400 ``DRS.M01503`` (operation too frequent)
``in_progress_ratio``  202 ``DRS.M01504`` (another operation in progress)
``server_error_ratio`` 500 ``DRS.M00500`` or 503 ``APIG.0202`` (coin flip)
``malformed_ratio``    200 with a body that is not JSON
``truncated_ratio``    200 with a JSON body cut off halfway
``empty_results_ratio`` 200 with ``results: []`` and ``count: 0``
``drop_ids_ratio``     200 that silently omits some found jobs (count adjusted)
``duplicate_items_ratio`` 200 that repeats one item
``count_inflate``      added to ``count`` in every 200 answer
``ignore_paging``      answer every found job regardless of ``page_req``
``clock_skew``         seconds added to the server clock for the AK/SK date check
``retry_after``        seconds sent as ``Retry-After`` on 429s (``None``: no header)
=====================  ==========================================================

The error faults are checked in the order throttle, busy, in-progress,
server error; the first that fires answers the request. The body faults are
checked in the order malformed, truncated, empty, drop, duplicate.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RATIO_FIELDS", "Faults", "FaultsError"]

RATIO_FIELDS = (
    "throttle_ratio",
    "busy_ratio",
    "in_progress_ratio",
    "server_error_ratio",
    "malformed_ratio",
    "truncated_ratio",
    "empty_results_ratio",
    "drop_ids_ratio",
    "duplicate_items_ratio",
)


class FaultsError(ValueError):
    """A fault field was unknown or out of range."""


@dataclass
class Faults:
    """The simulator's current fault configuration (mutable)."""

    latency: float = 0.0
    throttle_ratio: float = 0.0
    busy_ratio: float = 0.0
    in_progress_ratio: float = 0.0
    server_error_ratio: float = 0.0
    malformed_ratio: float = 0.0
    truncated_ratio: float = 0.0
    empty_results_ratio: float = 0.0
    drop_ids_ratio: float = 0.0
    duplicate_items_ratio: float = 0.0
    count_inflate: int = 0
    ignore_paging: bool = False
    clock_skew: float = 0.0
    retry_after: float | None = None

    def reset(self) -> None:
        """Switch every fault off."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, field.default)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, values: Mapping[str, Any]) -> None:
        """Set several fields at once, validating all of them before changing any.

        Raises :class:`FaultsError` naming the first bad field.
        """
        checked: dict[str, Any] = {}
        for name, value in values.items():
            checked[name] = _check(name, value)
        for name, value in checked.items():
            setattr(self, name, value)

    def hit(self, rng: random.Random, ratio: float) -> bool:
        """Whether a fault with this ``ratio`` fires for the current request."""
        if ratio <= 0.0:
            return False
        if ratio >= 1.0:
            return True
        return rng.random() < ratio


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Faults))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultsError(f"fault {name!r} must be a number, not {type(value).__name__}")
    return float(value)


def _check(name: str, value: Any) -> Any:
    if name not in _FIELD_NAMES:
        raise FaultsError(f"unknown fault {name!r} (known: {', '.join(sorted(_FIELD_NAMES))})")
    if name in RATIO_FIELDS:
        number = _number(name, value)
        if not 0.0 <= number <= 1.0:
            raise FaultsError(f"fault {name!r} must be between 0 and 1, got {number}")
        return number
    if name == "ignore_paging":
        if not isinstance(value, bool):
            raise FaultsError(f"fault {name!r} must be true or false")
        return value
    if name == "count_inflate":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultsError(f"fault {name!r} must be an integer >= 0")
        return value
    if name == "retry_after":
        if value is None:
            return None
        number = _number(name, value)
        if number < 0:
            raise FaultsError(f"fault {name!r} must be >= 0 or null")
        return number
    if name == "clock_skew":
        return _number(name, value)
    # latency
    number = _number(name, value)
    if number < 0:
        raise FaultsError(f"fault {name!r} must be >= 0")
    return number
