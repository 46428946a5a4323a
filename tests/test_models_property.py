"""Property tests: the batch-detail parser returns a response or raises DrsParseError only."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drs_operator.drs.errors import DrsParseError
from drs_operator.drs.models import BatchDetailResponse, parse_batch_detail, parse_error_body
from drs_operator.phases import ALL_STATUSES

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

FIELDS = [
    "id",
    "status",
    "name",
    "node_num",
    "create_time",
    "update_time",
    "actual_start_time",
    "source_endpoint",
    "target_endpoint",
    "dmq_endpoint",
    "source_sharding",
    "inst_info",
    "instInfo",
    "multi_write",
    "error_code",
    "error_message",
    "error_msg",
    "count",
    "db_port",
    "ssl_link",
    "volume_size",
]
hostile_values = (
    json_values
    | st.sampled_from(["0", "", "abc", "3", "1597977829563", "true", "1e400", "-1", " 12 "])
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
)
hostile_items = st.dictionaries(st.sampled_from(FIELDS), hostile_values, max_size=12) | json_values
hostile_bodies = st.fixed_dictionaries(
    {},
    optional={
        "results": st.lists(hostile_items, max_size=5) | hostile_values,
        "jobs": st.lists(hostile_items, max_size=5) | hostile_values,
        "count": hostile_values,
    },
)


def _parses_or_parse_error(payload: Any) -> None:
    try:
        result = parse_batch_detail(payload)
    except DrsParseError:
        return
    assert isinstance(result, BatchDetailResponse)
    assert all(isinstance(job.id, str) and job.id.strip() for job in result.results)
    result.model_dump_json()  # a parsed response is always serialisable


@PROPERTY
@given(json_values)
def test_random_json_values(value: Any) -> None:
    _parses_or_parse_error(value)
    try:
        text = json.dumps(value)
    except ValueError:
        return
    _parses_or_parse_error(text)
    _parses_or_parse_error(text.encode())


@PROPERTY
@given(st.binary(max_size=200))
def test_random_bytes(value: bytes) -> None:
    _parses_or_parse_error(value)
    assert isinstance(parse_error_body(value), tuple)


@PROPERTY
@given(hostile_bodies)
def test_hostile_shapes(body: dict[str, Any]) -> None:
    _parses_or_parse_error(body)
    _parses_or_parse_error(json.dumps(body).encode())
    code, message = parse_error_body(body)
    assert code is None or len(code) <= 300
    assert message is None or len(message) <= 300


@PROPERTY
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", '{"a":', '[{"results":']))
def test_deep_nesting(depth: int, opener: str) -> None:
    _parses_or_parse_error((opener * depth).encode())


job_ids = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Zs", "Zl", "Zp", "Cc", "Cs")
    ),
    min_size=1,
    max_size=40,
)
good_items = st.fixed_dictionaries(
    {
        "id": job_ids,
        "status": st.sampled_from(sorted(ALL_STATUSES)) | st.text(min_size=1, max_size=30),
    },
    optional={
        "name": st.text(max_size=30),
        "node_num": st.integers(min_value=0, max_value=64) | st.integers(0, 64).map(str),
        "update_time": st.integers(min_value=1, max_value=4_000_000_000_000).map(str),
        "source_endpoint": st.fixed_dictionaries(
            {"ip": st.text(max_size=15), "db_port": st.integers(1, 65535)}
        ),
    },
)


@PROPERTY
@given(st.lists(good_items, max_size=10, unique_by=lambda item: str(item["id"])), st.booleans())
def test_round_trip_of_well_formed_responses(items: list[dict[str, Any]], use_jobs: bool) -> None:
    body = {"jobs" if use_jobs else "results": items, "count": len(items)}
    response = parse_batch_detail(json.dumps(body).encode())
    assert response.count == len(items)
    assert response.dropped_items == 0
    assert [(job.id, job.status) for job in response.results] == [
        (item["id"], item["status"]) for item in items
    ]
