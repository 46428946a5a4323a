"""Declared expectations and drift (domain/drift.py): parsing, comparison, bounds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_operator.domain.drift import (
    MAX_DIFFERENCES,
    MAX_TEXT,
    STATE_DELETED,
    STATE_IN_SYNC,
    STATE_MODIFIED,
    STATE_NOT_CHECKED,
    Difference,
    ExpectError,
    evaluate,
    parse_expect,
)

OBSERVED: dict[str, Any] = {
    "taskStatus": "INCRE_TRANSFER_STARTED",
    "phase": "Running",
    "jobName": "orders-sync",
    "taskType": "FULL_INCR_TRANS",
    "jobDirection": "up",
    "dbUseType": "sync",
    "netType": "vpc",
    "nodeNum": 1,
    "multiWrite": False,
    "sourceEndpoint": {"dbType": "mysql", "ip": "192.168.0.10", "port": 3306, "user": "root",
                       "instId": "i-1", "region": "cn-north-4", "projectId": "p1",
                       "dbName": "orders"},
    "targetEndpoint": {"dbType": "mysql", "ip": "2001:db8::1", "port": 3306},
}  # fmt: skip


def judge(expect: dict[str, Any] | None, observed: dict[str, Any] | None = None) -> Any:
    return evaluate(parse_expect(expect), OBSERVED if observed is None else observed)


@pytest.mark.parametrize(
    ("expect", "state", "differences", "reason"),
    [
        (None, STATE_NOT_CHECKED, [], "nothing declared"),
        ({"phases": ["Running"]}, STATE_IN_SYNC, [], "an acceptable phase"),
        ({"phases": ["Paused", "Completed"]}, STATE_MODIFIED,
         [("phase", "[Paused, Completed]", "Running")], "a phase not in the list"),
        ({"taskStatuses": ["INCRE_TRANSFER_STARTED", "PAUSING"]}, STATE_IN_SYNC, [],
         "an acceptable status"),
        ({"taskStatuses": ["PAUSING"]}, STATE_MODIFIED,
         [("taskStatus", "[PAUSING]", "INCRE_TRANSFER_STARTED")], "another status"),
        ({"jobName": "orders-sync", "taskType": "FULL_INCR_TRANS"}, STATE_IN_SYNC, [],
         "text fields by equality"),
        ({"jobName": "orders"}, STATE_MODIFIED, [("jobName", "orders", "orders-sync")],
         "a renamed task"),
        ({"jobDirection": "down"}, STATE_MODIFIED, [("jobDirection", "down", "up")], "direction"),
        ({"nodeNum": 1, "multiWrite": False}, STATE_IN_SYNC, [], "number and boolean"),
        ({"nodeNum": 2}, STATE_MODIFIED, [("nodeNum", "2", "1")], "another node count"),
        ({"multiWrite": True}, STATE_MODIFIED, [("multiWrite", "true", "false")], "a boolean"),
        ({"sourceEndpoint": {"port": 3306, "ip": "192.168.0.10"}}, STATE_IN_SYNC, [],
         "declared endpoint keys only"),
        ({"sourceEndpoint": {"port": 3307}}, STATE_MODIFIED,
         [("sourceEndpoint.port", "3307", "3306")], "a moved port"),
        ({"targetEndpoint": {"ip": "2001:DB8:0:0:0:0:0:1"}}, STATE_IN_SYNC, [],
         "IPv6 in canonical form"),
        ({"targetEndpoint": {"ip": "2001:db8::2"}}, STATE_MODIFIED,
         [("targetEndpoint.ip", "2001:db8::2", "2001:db8::1")], "another IPv6 address"),
        ({"targetEndpoint": {"user": "root"}}, STATE_MODIFIED,
         [("targetEndpoint.user", "root", "<none>")], "a missing observed value"),
        ({"sourceEndpoint": {"dbName": "orders", "region": "cn-north-4", "projectId": "p1",
                             "instId": "i-1", "user": "root", "dbType": "mysql"}},
         STATE_IN_SYNC, [], "every endpoint key"),
    ],
)  # fmt: skip
def test_declared_leaves_only(
    expect: dict[str, Any] | None,
    state: str,
    differences: list[tuple[str, str, str]],
    reason: str,
) -> None:
    drift = judge(expect)
    assert drift.state == state, reason
    assert [(d.field, d.expected, d.observed) for d in drift.differences] == differences, reason


@pytest.mark.parametrize(
    ("observed", "value", "reason"),
    [
        ({**OBSERVED, "nodeNum": "1"}, {"nodeNum": 1}, "a number that arrives as a string"),
        ({**OBSERVED, "multiWrite": "false"}, {"multiWrite": False}, "a boolean as a string"),
        (
            {**OBSERVED, "sourceEndpoint": {"port": "3306"}},
            {"sourceEndpoint": {"port": 3306}},
            "a port as a string",
        ),
        (
            {**OBSERVED, "sourceEndpoint": {"ip": "[::1]"}},
            {"sourceEndpoint": {"ip": "::1"}},
            "a bracketed IPv6 address",
        ),
    ],
)
def test_equal_whatever_the_json_type(
    observed: dict[str, Any], value: dict[str, Any], reason: str
) -> None:
    assert judge(value, observed).state == STATE_IN_SYNC, reason


@pytest.mark.parametrize(
    ("observed", "state", "reason"),
    [
        ({}, STATE_NOT_CHECKED, "nothing observed yet"),
        ({"phase": "Running"}, STATE_NOT_CHECKED, "no task fields yet"),
        ({**OBSERVED, "phase": "Deleted"}, STATE_DELETED, "the task is gone"),
    ],
)
def test_states_without_a_comparison(observed: dict[str, Any], state: str, reason: str) -> None:
    drift = judge({"jobName": "orders-sync"}, observed)
    assert drift.state == state and drift.differences == (), reason


def test_differences_are_capped_and_clipped() -> None:
    long = "x" * 1000
    expect = {
        "jobName": long, "taskType": "a", "jobDirection": "b", "dbUseType": "c",
        "netType": "d", "nodeNum": 9, "multiWrite": True, "phases": ["Paused"],
        "taskStatuses": ["PAUSING"],
        "sourceEndpoint": {k: "z" for k in ("dbType", "ip", "instId", "region", "projectId",
                                            "user", "dbName")} | {"port": 1},
        "targetEndpoint": {k: "z" for k in ("dbType", "ip", "instId", "region", "projectId",
                                            "user", "dbName")} | {"port": 1},
    }  # fmt: skip
    drift = evaluate(parse_expect(expect | {"jobName": long[:MAX_TEXT]}), OBSERVED)
    assert drift.state == STATE_MODIFIED
    assert len(drift.differences) == MAX_DIFFERENCES
    assert all(len(text) <= MAX_TEXT for d in drift.differences for text in (d.field, d.expected))
    observed = {**OBSERVED, "jobName": long + "\nforged"}
    [difference] = judge({"jobName": "orders-sync"}, observed).differences
    assert len(difference.observed) <= MAX_TEXT and "\n" not in difference.observed


@pytest.mark.parametrize(
    ("expect", "fragment"),
    [
        ("running", "spec.expect: must be an object"),
        ({"password": "x"}, "spec.expect.password: unknown field"),
        ({"sourceEndpoint": {"password": "x"}}, "spec.expect.sourceEndpoint.password: unknown"),
        ({"sourceEndpoint": {}}, "at least one key"),
        ({"phases": []}, "spec.expect.phases: must be a non-empty list"),
        ({"phases": ["Sleeping"]}, "'Sleeping' is not one of"),
        ({"taskStatuses": "PAUSING"}, "spec.expect.taskStatuses: must be a non-empty list"),
        ({"nodeNum": "2"}, "spec.expect.nodeNum: must be a non-negative integer"),
        ({"nodeNum": True}, "spec.expect.nodeNum: must be a non-negative integer"),
        ({"multiWrite": "yes"}, "spec.expect.multiWrite: must be true or false"),
        ({"sourceEndpoint": {"port": 70000}}, "a port from 1 to 65535"),
        ({"jobName": ""}, "spec.expect.jobName: must be a non-empty string"),
    ],
)
def test_a_malformed_expect_is_refused_by_name(expect: Any, fragment: str) -> None:
    with pytest.raises(ExpectError, match=r".*") as caught:
        parse_expect(expect)
    assert fragment in str(caught.value)


def test_no_secret_field_can_be_declared_nor_echoed() -> None:
    for key in ("db_password", "dbPassword", "password", "sslCertKey", "kerberos"):
        with pytest.raises(ExpectError):
            parse_expect({"sourceEndpoint": {key: "s3cr3t"}})
    observed = {**OBSERVED, "sourceEndpoint": {**OBSERVED["sourceEndpoint"],
                                               "db_password": "s3cr3t"}}  # fmt: skip
    drift = judge({"sourceEndpoint": {"port": 1}}, observed)
    assert "s3cr3t" not in repr(drift)


def test_difference_shapes() -> None:
    difference = Difference("sourceEndpoint.port", "3306", "3307")
    assert difference.as_json() == {
        "field": "sourceEndpoint.port", "expected": "3306", "observed": "3307"
    }  # fmt: skip
    assert difference.describe() == "sourceEndpoint.port: 3306 -> 3307"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    expect=st.dictionaries(
        st.sampled_from(["jobName", "nodeNum", "multiWrite", "phases", "sourceEndpoint"]),
        json_values,
    ),
    observed=st.dictionaries(st.text(max_size=20), json_values) | json_values,
)
def test_never_raises_beyond_expect_errors_and_stays_bounded(expect: Any, observed: Any) -> None:
    try:
        parsed = parse_expect(expect)
    except ExpectError:
        return
    drift = evaluate(parsed, observed if isinstance(observed, dict) else None)
    assert len(drift.differences) <= MAX_DIFFERENCES
    for d in drift.differences:
        for text in (d.field, d.expected, d.observed):
            assert 0 < len(text) <= MAX_TEXT and "\n" not in text


def test_a_long_list_of_acceptable_values_is_clipped_as_a_whole() -> None:
    """40 taskStatuses of 64 characters (what the CRD allows) must not make a
    difference the CRD refuses (``expected`` is capped at 256 characters)."""
    statuses = [f"S{i:02d}_" + "X" * 60 for i in range(40)]
    [difference] = judge({"taskStatuses": statuses}, OBSERVED).differences
    assert len(difference.expected) <= MAX_TEXT


def test_port_zero_is_refused_as_the_crd_refuses_it() -> None:
    with pytest.raises(ExpectError, match="a port from 1 to 65535"):
        parse_expect({"sourceEndpoint": {"port": 0}})
