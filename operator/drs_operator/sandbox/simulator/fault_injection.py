"""Applying ``sim.faults`` to requests: latency, error answers and body faults.

:class:`FaultInjection` draws every ratio from the simulator's seeded fault
RNG (see :mod:`drs_operator.sandbox.simulator.faults` for the fields and the
order in which they are checked), so a seed and a configuration reproduce the
same faults. The batch-detail handler calls the body-fault helpers while it
builds a page, in the documented order: malformed, truncated, empty, drop,
duplicate.
"""

from __future__ import annotations

import asyncio
from typing import Any

from drs_operator.sandbox.simulator.state import SimulatorState
from drs_operator.sandbox.simulator.wire import (
    CODE_BUSY,
    CODE_IN_PROGRESS,
    CODE_SERVER,
    CODE_THROTTLED,
    CODE_UNAVAILABLE,
    Answer,
    error_answer,
)

__all__ = ["FaultInjection"]


class FaultInjection(SimulatorState):
    """The fault-applying part of :class:`Simulator`."""

    async def _latency(self) -> None:
        """Sleep ``faults.latency`` seconds (DRS and IAM)."""
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)

    def _error_fault(self) -> Answer | None:
        """The first error fault that fires (throttle, busy, in progress, server), or None."""
        faults, rng = self.faults, self._fault_rng
        if faults.hit(rng, faults.throttle_ratio):
            extra = {}
            if faults.retry_after is not None:
                extra["Retry-After"] = f"{faults.retry_after:g}"
            answer = error_answer(429, CODE_THROTTLED, "The API has been throttled.")
            answer.headers = extra
            return answer
        if faults.hit(rng, faults.busy_ratio):
            return error_answer(400, CODE_BUSY, "The operation is too frequent. Try again later.")
        if faults.hit(rng, faults.in_progress_ratio):
            return error_answer(202, CODE_IN_PROGRESS, "Another operation is in progress.")
        if faults.hit(rng, faults.server_error_ratio):
            if rng.random() < 0.5:
                return error_answer(500, CODE_SERVER, "Internal server error.")
            return error_answer(503, CODE_UNAVAILABLE, "Backend unavailable.")
        return None

    # --- body faults, in the order the page builder calls them ------------------------

    def _malformed_fault(self) -> bool:
        """Draw the malformed fault: the answer's body is not JSON."""
        return self.faults.hit(self._fault_rng, self.faults.malformed_ratio)

    def _truncated_fault(self) -> bool:
        """Draw the truncated fault: the answer's JSON body is cut off halfway."""
        return self.faults.hit(self._fault_rng, self.faults.truncated_ratio)

    def _thin_listing(self, listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply the empty-results fault, then (to what is left) the drop-IDs fault."""
        faults, rng = self.faults, self._fault_rng
        if faults.hit(rng, faults.empty_results_ratio):
            listing = []
        if listing and faults.hit(rng, faults.drop_ids_ratio):
            drop = set(rng.sample(range(len(listing)), max(1, len(listing) // 2)))
            listing = [item for index, item in enumerate(listing) if index not in drop]
        return listing

    def _duplicate_item(self, page_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply the duplicate-items fault: one item of the page repeated."""
        faults, rng = self.faults, self._fault_rng
        if page_items and faults.hit(rng, faults.duplicate_items_ratio):
            index = rng.randrange(len(page_items))
            page_items = [*page_items[: index + 1], *page_items[index:]]
        return page_items

    @staticmethod
    def _truncate(body: bytes) -> bytes:
        """The first half of a body (at least one byte), for the truncated fault."""
        return body[: max(1, len(body) // 2)]
