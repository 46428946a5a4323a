"""Batch planning: grouping, dedupe, sizes, isolation of known-missing IDs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drs_operator.domain.batching import Batch, halves, plan_batches


@pytest.mark.parametrize(
    ("wanted", "size", "missing", "expected"),
    [
        pytest.param([("c", "a"), ("c", "b")], 10, set(), [Batch("c", ("a", "b"))], id="one-batch"),
        pytest.param(
            [("c", "a"), ("c", "a"), ("c", "b")],
            10,
            set(),
            [Batch("c", ("a", "b"))],
            id="duplicate-ids-cost-one",
        ),
        pytest.param(
            [("c", "a"), ("d", "a")],
            10,
            set(),
            [Batch("c", ("a",)), Batch("d", ("a",))],
            id="same-id-other-connection-is-another-task",
        ),
        pytest.param(
            [("c", str(i)) for i in range(5)],
            2,
            set(),
            [Batch("c", ("0", "1")), Batch("c", ("2", "3")), Batch("c", ("4",))],
            id="split-by-size-order-kept",
        ),
        pytest.param(
            [("c", "a"), ("c", "x"), ("c", "b")],
            10,
            {("c", "x")},
            [Batch("c", ("a", "b")), Batch("c", ("x",), isolated=True)],
            id="known-missing-queried-alone",
        ),
    ],
)
def test_plan_batches(
    wanted: list[tuple[str, str]],
    size: int,
    missing: set[tuple[str, str]],
    expected: list[Batch[str]],
) -> None:
    assert plan_batches(wanted, batch_size=size, known_missing=missing) == expected


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.text("0123456789", min_size=1, max_size=3))),
    st.integers(min_value=1, max_value=15),
)
def test_batches_cover_each_pair_once_and_are_minimal(
    wanted: list[tuple[str, str]], size: int
) -> None:
    batches = plan_batches(wanted, batch_size=size)
    seen = [(b.connection, i) for b in batches for i in b.job_ids]
    assert sorted(seen) == sorted(set(wanted))
    assert all(1 <= len(b.job_ids) <= size for b in batches)
    for connection in {c for c, _ in wanted}:
        unique = len({i for c, i in wanted if c == connection})
        assert sum(1 for b in batches if b.connection == connection) == math.ceil(unique / size)


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches([("c", "a")], batch_size=0)


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (("a", "b"), (("a",), ("b",))),
        (("a", "b", "c"), (("a", "b"), ("c",))),
    ],
)
def test_halves(ids: tuple[str, ...], expected: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
    assert halves(ids) == expected
