"""Property tests: the batch-detail parser returns a response or raises DrsParseError only,
and its clean path (pydantic-core straight from JSON) agrees with its lenient path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drs_operator.domain.phases import ALL_STATUSES
from drs_operator.drs.errors import DrsParseError
from drs_operator.drs.models import (
    MAX_ERROR_TEXT,
    BatchDetailResponse,
)
from drs_operator.drs.parsing import parse_batch_detail, parse_clean_answer, parse_error_body

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
    code, message = parse_error_body(value)
    try:
        data = json.loads(value)
    except ValueError:  # not JSON (most random bytes): nothing to read
        assert (code, message) == (None, None)
        return
    if not isinstance(data, dict):
        assert (code, message) == (None, None)
    for text in (code, message):
        assert text is None or (0 < len(text) <= MAX_ERROR_TEXT and "\n" not in text)


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


typed_items = st.fixed_dictionaries(
    {"id": job_ids},
    optional={
        "status": st.sampled_from(sorted(ALL_STATUSES)),
        "name": st.text(max_size=30),
        "description": st.text(max_size=30),
        "node_num": st.integers(-5, 2**64) | st.integers(0, 64).map(str) | st.just(" 7 "),
        "multi_write": st.booleans() | st.sampled_from(["true", "FALSE", "yes"]),
        "create_time": st.integers(-5, 2**64).map(str)
        | st.integers(-5, 4_000_000_000_000)
        | st.floats(allow_nan=False)
        | st.sampled_from(["", "0", "2024-01-02T03:04:05Z", "٣", " 12 ", "+5", "1e3"]),
        "update_time": st.integers(1, 4_000_000_000_000).map(str),
        "source_endpoint": st.fixed_dictionaries(
            {},
            optional={
                "ip": st.text(max_size=15),
                "db_port": st.integers(1, 65535) | st.integers(1, 65535).map(str),
                "ssl_link": st.booleans(),
                "db_password": st.text(max_size=8),
            },
        ),
        "instInfo": st.fixed_dictionaries({}, optional={"volume_size": st.integers(0, 10**6)}),
        "error_code": st.none() | st.text(max_size=10),
        "error_msg": st.text(max_size=20),
    },
)
clean_or_not = st.fixed_dictionaries(
    {},
    optional={
        "results": st.lists(typed_items | hostile_items, max_size=6),
        "jobs": st.lists(typed_items, max_size=3),
        "count": hostile_values,
        "error_code": st.none() | st.sampled_from(["", "DRS.M00289", "APIG.0308"]),
    },
)


@PROPERTY
@given(clean_or_not)
def test_the_clean_path_agrees_with_the_lenient_path(body: dict[str, Any]) -> None:
    try:
        raw = json.dumps(body).encode()
    except ValueError:
        return
    clean = parse_clean_answer(raw)
    if clean is None:
        return
    lenient = parse_batch_detail(json.loads(raw))  # a decoded value: the lenient path only
    assert lenient.dropped_items == 0 and clean.dropped_items == 0
    assert clean.count == lenient.count
    assert clean.results == lenient.results


@PROPERTY
@given(st.lists(typed_items, max_size=8, unique_by=lambda item: str(item["id"])), st.booleans())
def test_well_typed_answers_take_the_clean_path(
    items: list[dict[str, Any]], use_jobs: bool
) -> None:
    raw = json.dumps({"jobs" if use_jobs else "results": items, "count": "8"}).encode()
    clean = parse_clean_answer(raw)
    assert clean is not None
    assert [job.id for job in clean.results] == [item["id"] for item in items]
    assert clean == parse_batch_detail(raw)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"results": [{"id": "a", "name": 5}]}', "a number where text belongs"),
        (b'{"results": [{"id": "a", "source_endpoint": "x"}]}', "an endpoint that is no object"),
        (b'{"results": [{"id": ""}]}', "an item without a usable ID"),
        (b'{"results": [7]}', "an item that is no object"),
        (b'{"results": null}', "results is null"),
        (b'{"count": 3}', "no list at all"),
        (b'{"error_code": "APIG.0308", "results": []}', "an error code"),
        (b'{"error": {"code": "X"}, "results": []}', "a nested error"),
        (b'\xef\xbb\xbf{"results": []}', "a byte order mark"),
        (b'{"results": [{"id": "\\ud800"}]}', "a lone surrogate"),
        (b"[]", "not an object"),
    ],
)
def test_answers_that_are_not_clean_take_the_lenient_path(body: bytes, reason: str) -> None:
    assert parse_clean_answer(body) is None, reason


def test_lenient_path_coerces_what_the_clean_path_refuses() -> None:
    raw = (
        b'{"results": [{"id": "a", "name": 5, "description": 2.5, "status": true,'
        b' "source_endpoint": {"ip": 10, "db_port": "3306"}, "inst_info": "x"}]}'
    )
    job = parse_batch_detail(raw).results[0]
    assert (job.name, job.description, job.status) == ("5", "2.5", None)
    assert job.source_endpoint is not None
    assert (job.source_endpoint.ip, job.source_endpoint.db_port) == ("10", 3306)
    assert job.inst_info is None
