"""Printer columns as kubectl shows them: the CRD's JSONPaths evaluated on realistic DrsJobs,
kubectl's HumanDuration rule by rule, and golden tables in kubectl's tabwriter layout."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drs_operator.domain.crd import printer_columns
from drs_operator.domain.printing import (
    NONE_MARKER,
    Column,
    JSONPathError,
    cell,
    columns_from_crd,
    evaluate,
    find,
    format_value,
    human_duration,
    layout,
    parse_timestamp,
    render_table,
)

NOW = datetime(2024, 5, 11, 10, 0, 0, tzinfo=UTC)
COLUMNS = printer_columns()
BY_NAME = {c.name: c for c in COLUMNS}


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "observedGeneration": 2,
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "reason": reason,
        "message": message,
    }


def drsjob(
    name: str,
    *,
    namespace: str = "data",
    created: str = "2024-05-01T10:00:00Z",
    job_id: str = "9a470239-2308-4bb5-a6bc-1040402fjb21",
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "drs.operators.dev/v1alpha1",
        "kind": "DrsJob",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {"jobId": job_id},
    }
    if status is not None:
        obj["status"] = status
    return obj


HEALTHY = drsjob(
    "orders-sync",
    status={
        "observedGeneration": 2,
        "taskStatus": "INCRE_TRANSFER_STARTED",
        "phase": "Running",
        "taskType": "FULL_INCR_TRANS",
        "sourceEndpoint": {"address": "192.168.0.10:3306", "ip": "192.168.0.10", "port": 3306},
        "targetEndpoint": {"address": "10.0.0.20:3306", "ip": "10.0.0.20", "port": 3306},
        "conditions": [
            condition("Synced", "True", "Refreshed"),
            condition("Ready", "True", "IncrementalTransfer"),
            condition("Reconciling", "False", "Steady"),
            condition("Stalled", "False", "Healthy"),
        ],
        "drift": {"state": "InSync", "lastCheckTime": "2024-05-01T00:00:00Z"},
    },
)
AUTH_FAILED = drsjob(
    "billing-dr",
    namespace="finance",
    created="2024-05-11T09:57:30Z",
    job_id="dc67695a-ee3e-49b8-a022-a099bd81jb21",
    status={
        "taskStatus": "FULL_TRANSFER_FAILED",
        "phase": "Failed",
        "taskType": "FULL_TRANS",
        "sourceEndpoint": {"address": "172.16.1.5:3306"},
        "targetEndpoint": {"address": "172.16.9.9:3307"},
        "conditions": [
            condition("Ready", "False", "TaskFailed"),
            condition("Synced", "False", "AuthFailed", "APIG.0301: token expired"),
        ],
    },
)
NEW = drsjob("fresh", created="2024-05-11T09:59:15Z")  # no status yet


# --- columns ------------------------------------------------------------------------------------


def test_columns_from_crd_reads_every_field() -> None:
    crd = {
        "spec": {
            "versions": [
                {"name": "v1", "additionalPrinterColumns": [{"name": "X", "jsonPath": ".x"}]},
                {
                    "name": "v2",
                    "additionalPrinterColumns": [
                        {
                            "name": "Y",
                            "jsonPath": ".y",
                            "type": "integer",
                            "priority": 1,
                            "description": "why",
                        }
                    ],
                },
            ]
        }
    }
    assert columns_from_crd(crd, version="v1") == [Column("X", ".x", "string", 0)]
    assert columns_from_crd(crd, version="v2") == [Column("Y", ".y", "integer", 1, "why")]
    with pytest.raises(KeyError):
        columns_from_crd(crd, version="v3")


def test_packaged_columns_in_order() -> None:
    assert [(c.name, c.priority) for c in COLUMNS] == [
        ("Status", 0), ("Ready", 0), ("Synced", 0), ("Source", 0), ("Target", 0), ("Age", 0),
        ("Job ID", 1), ("Type", 1), ("Reason", 1), ("Drift", 1),
    ]  # fmt: skip


# --- JSONPath -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "obj", "expected"),
    [
        ("Status", HEALTHY, "INCRE_TRANSFER_STARTED"),
        ("Ready", HEALTHY, "True"),
        ("Synced", HEALTHY, "True"),
        ("Source", HEALTHY, "192.168.0.10:3306"),
        ("Target", HEALTHY, "10.0.0.20:3306"),
        ("Age", HEALTHY, "2024-05-01T10:00:00Z"),
        ("Job ID", HEALTHY, "9a470239-2308-4bb5-a6bc-1040402fjb21"),
        ("Type", HEALTHY, "FULL_INCR_TRANS"),
        ("Reason", HEALTHY, "Refreshed"),
        # the filters pick by type, not by position
        ("Ready", AUTH_FAILED, "False"),
        ("Synced", AUTH_FAILED, "False"),
        ("Reason", AUTH_FAILED, "AuthFailed"),
        # nothing to show yet
        ("Status", NEW, ""),
        ("Ready", NEW, ""),
        ("Source", NEW, ""),
        ("Reason", NEW, ""),
        ("Job ID", NEW, "9a470239-2308-4bb5-a6bc-1040402fjb21"),
    ],
)
def test_crd_json_paths(column: str, obj: dict[str, Any], expected: str) -> None:
    assert evaluate(BY_NAME[column].json_path, obj) == expected


DOC = {
    "a": {"b": [{"k": "x", "v": 1}, {"k": "y", "v": 2.5}, {"k": "z", "v": True}]},
    "m": {"q-r": "dash", "n": None, "e": ""},
    "list": ["p", "q", "r"],
}


@pytest.mark.parametrize(
    ("path", "expected", "why"),
    [
        (".a.b[0].k", ["x"], "index"),
        (".a.b[-1].k", ["z"], "negative index"),
        (".a.b[3].k", [], "index out of range"),
        (".a.b[*].v", [1, 2.5, True], "wildcard"),
        ('.a.b[?(@.k=="y")].v', [2.5], "filter =="),
        (".a.b[?(@.k=='y')].v", [2.5], "single quotes"),
        ('.a.b[?(@.k!="y")].k', ["x", "z"], "filter !="),
        (".a.b[?(@.v==1)].k", ["x"], "numeric literal"),
        (".a.b[?(@.v==true)].k", ["z"], "boolean literal"),
        ('.a.b[?(@.nope=="y")].k', [], "filter on a missing key"),
        (".m.q-r", ["dash"], "dash in a name"),
        (".m['q-r']", ["dash"], "bracketed name"),
        ("{.m.e}", [""], "braces and an empty string"),
        (".m.n", [None], "null value"),
        (".list[1]", ["q"], "list index"),
        (".list.x", [], "field of a list"),
        (".a.b.k", [], "field of a list is not a wildcard"),
        (".missing.deeper", [], "missing"),
        ("$.list[0]", ["p"], "root marker"),
    ],
)
def test_find(path: str, expected: list[Any], why: str) -> None:
    assert find(path, DOC) == expected, why


@pytest.mark.parametrize("path", [".a..b", ".a[", '.a[?(@.k~="x")]', ".a|b", "a.b"])
def test_unsupported_json_path(path: str) -> None:
    with pytest.raises(JSONPathError):
        find(path, DOC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (3306, "3306"),
        (3306.0, "3306"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        ({"b": 1, "a": "x"}, "map[a:x b:1]"),
        (["a", 1], "[a 1]"),
    ],
)
def test_format_value_like_go(value: Any, text: str) -> None:
    assert format_value(value) == text


# --- HumanDuration ------------------------------------------------------------------------------

S, M, H, D = 1, 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),  # Go truncates -1.5s to -1: "almost now"
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (45, "45s"),
        (119, "119s"),
        (2 * M, "2m"),
        (2 * M + 30, "2m30s"),
        (9 * M + 59, "9m59s"),
        (10 * M, "10m"),
        (10 * M + 59, "10m"),
        (179 * M + 59, "179m"),
        (3 * H, "3h"),
        (3 * H + 30 * M + 59, "3h30m"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H, "8h"),
        (8 * H + 59 * M, "8h"),
        (47 * H + 59 * M, "47h"),
        (2 * D, "2d"),
        (2 * D + H, "2d1h"),
        (7 * D + 23 * H, "7d23h"),
        (8 * D, "8d"),
        (8 * D + 23 * H, "8d"),
        (729 * D, "729d"),
        (730 * D, "2y"),
        (731 * D, "2y1d"),
        (2919 * D, "7y364d"),
        (2920 * D, "8y"),
        (3660 * D, "10y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01t10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T05:30:00-04:30", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01 10:00:00Z", None),
        ("2024-05-01T10:00:00", None),
        ("2024-02-30T10:00:00Z", None),
        ("1714557600000", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2024-05-11T09:59:15Z", "45s"),
        ("2024-05-11T10:00:01Z", "0s"),
        ("2024-05-11T10:00:05Z", "<invalid>"),
        ("yesterday", "<invalid>"),
        ("", "<unknown>"),
        (12345, None),  # a non-string date is a null cell
    ],
)
def test_date_cells(value: Any, text: str | None) -> None:
    obj = {"metadata": {"name": "x", "creationTimestamp": value}}
    assert cell(BY_NAME["Age"], obj, now=NOW) == text


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        (Column("N", ".v", "integer", 0), 3306, "3306"),
        (Column("N", ".v", "integer", 0), 2.0, "2"),
        (Column("N", ".v", "integer", 0), "3306", None),
        (Column("N", ".v", "integer", 0), True, None),
        (Column("F", ".v", "number", 0), 1, "1"),
        (Column("F", ".v", "number", 0), 0.25, "0.25"),
        (Column("B", ".v", "boolean", 0), False, "false"),
        (Column("B", ".v", "boolean", 0), "false", None),
        (Column("S", ".v", "string", 0), 3306, "3306"),  # string columns print anything
        (Column("S", ".v", "string", 0), None, "<nil>"),
    ],
)
def test_typed_cells_follow_the_api_server(column: Column, value: Any, text: str | None) -> None:
    assert cell(column, {"v": value}, now=NOW) == text


# --- tables -------------------------------------------------------------------------------------


def test_layout_is_kubectls_tabwriter() -> None:
    # minimum cell width 6, padding 3, last column not padded, trailing newline
    assert layout([["A", "BB", "C"], ["", "x", "tail"]]) == "A     BB    C\n      x     tail\n"
    assert layout([["NAME", "LONGER-HEADER"], ["a-very-long-name", "v"]]) == (
        "NAME               LONGER-HEADER\na-very-long-name   v\n"
    )
    assert layout([]) == ""


DEFAULT_TABLE = """\
NAME          STATUS                   READY   SYNCED   SOURCE              TARGET            AGE
orders-sync   INCRE_TRANSFER_STARTED   True    True     192.168.0.10:3306   10.0.0.20:3306    10d
billing-dr    FULL_TRANSFER_FAILED     False   False    172.16.1.5:3306     172.16.9.9:3307   2m30s
fresh                                                                                         45s
"""

WIDE_TABLE = (
    "NAMESPACE   NAME          STATUS                   READY   SYNCED   SOURCE              "
    "TARGET            AGE     JOB ID                                 "
    "TYPE              REASON       DRIFT\n"
    "data        orders-sync   INCRE_TRANSFER_STARTED   True    True     192.168.0.10:3306   "
    "10.0.0.20:3306    10d     9a470239-2308-4bb5-a6bc-1040402fjb21   "
    "FULL_INCR_TRANS   Refreshed    InSync\n"
    "finance     billing-dr    FULL_TRANSFER_FAILED     False   False    172.16.1.5:3306     "
    "172.16.9.9:3307   2m30s   dc67695a-ee3e-49b8-a022-a099bd81jb21   "
    "FULL_TRANS        AuthFailed   \n"
)


def test_default_table() -> None:
    assert render_table([HEALTHY, AUTH_FAILED, NEW], COLUMNS, now=NOW) == DEFAULT_TABLE


def test_wide_table_with_namespaces() -> None:
    table = render_table([HEALTHY, AUTH_FAILED], COLUMNS, wide=True, with_namespace=True, now=NOW)
    assert table == WIDE_TABLE


def test_missing_marker_is_selectable() -> None:
    table = render_table([NEW], COLUMNS, now=NOW, missing=NONE_MARKER)
    assert table == (
        "NAME    STATUS   READY    SYNCED   SOURCE   TARGET   AGE\n"
        "fresh   <none>   <none>   <none>   <none>   <none>   45s\n"
    )


def test_no_objects_no_table() -> None:
    assert render_table([], COLUMNS, now=NOW) == ""


def test_a_message_with_newlines_is_cut_like_kubectl() -> None:
    obj = copy.deepcopy(HEALTHY)
    obj["status"]["taskStatus"] = "LINE1\nLINE2"
    columns = [BY_NAME["Status"]]
    assert render_table([obj], columns, now=NOW) == "NAME          STATUS\norders-sync   LINE1...\n"


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert render_table([NEW], [BY_NAME["Age"]], now=naive) == "NAME    AGE\nfresh   45s\n"
