"""Tests for drs_operator.drs.models: tolerant batch-detail parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from drs_operator.drs.errors import DrsParseError
from drs_operator.drs.lenient import parse_epoch_ms
from drs_operator.drs.models import (
    BatchDetailRequest,
    BatchDetailResponse,
    EndPoint,
    JobDetail,
    PageReq,
)
from drs_operator.drs.parsing import is_item_error, parse_batch_detail, parse_error_body

JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"

# The reference page's response example, verbatim (list under "jobs").
REFERENCE_EXAMPLE = """{ "jobs": [ { "id": "9a470239-2308-4bb5-a6bc-1040402fjb21",
"name": "DRS-4963-zltest", "status": "INCRE_TRANSFER_STARTED", "description": "Source database IP
 address or domain name: 192.168.6.178\\nDestination instance name: rds-zhangle-mysql-target",
"task_type": "FULL_INCR_TRANS", "source_endpoint": { "ip": "192.168.6.178", "db_type": "mysql",
"db_port": 3306, "ssl_link": false, "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
"db_user": "root" }, "target_endpoint": { "ip": "192.168.6.43", "region": "cn-xianhz-1",
"db_type": "mysql", "db_port": 3306, "ssl_link": false,
"inst_id": "bdf5f129b0f546e7b7179d2c61524696in01",
"project_id": "054ba152d480d55b2f5dc0069e7ddef0", "inst_name": "rds-zhangle-mysql-target",
"db_user": "root", "vpc_id": "65f0391c-0582-44a6-aa50-248f97ed82e1",
"subnet_id": "3f94e724-e99f-4477-8828-9fef481cbdd6" }, "inst_info": { "ip": "192.168.6.216",
"ipv6": "2001:db8:a583:46:3e7:3884:e9fa:5662", "inst_type": "high", "engine_type": "mysql",
"volume_size": 100, "public_ip": "10.154.218.127", "start_time": "0" },
"actual_start_time": "1597977829563", "full_transfer_complete_time": "1597978229586",
"update_time": "1597978233127", "job_direction": "up", "db_use_type": "sync",
"need_restart": false, "conflict_policy": "ignore", "filter_ddl_policy": "drop_database",
"schema_type": "Tungsten", "object_switch": true, "sync_database": false, "az_code": "az2xahz",
"vpc_id": "65f0391c-0582-44a6-aa50-248f97ed82e1",
"subnet_id": "3f94e724-e99f-4477-8828-9fef481cbdd6",
"security_group_id": "652cbe2d-d487-407e-b666-d01948b33879", "issue_coupon": false,
"support_ip_v6": false } ], "count": 1 }""".replace("IP\n address", "IP address")

SECRET_SENTINELS = {
    "db_password": "SENTINEL-db-password-1",
    "ssl_cert_password": "SENTINEL-ssl-cert-password-2",
    "ssl_cert_key": "SENTINEL-ssl-cert-key-3",
    "ssl_cert_check_sum": "SENTINEL-ssl-cert-check-sum-4",
    "ssl_cert_name": "SENTINEL-ssl-cert-name-5",
    "kerberos": {"krb5_conf": "SENTINEL-krb5-6", "key_tab_file": "SENTINEL-keytab-7"},
    "safe_mode": 987654321,
}


def _item(**fields: Any) -> dict[str, Any]:
    return {"id": JOB_ID, "status": "INCRE_TRANSFER_STARTED", **fields}


def _one(item: Any) -> JobDetail:
    response = parse_batch_detail({"results": [item], "count": 1})
    assert len(response.results) == 1
    return response.results[0]


# ---------------------------------------------------------------- the reference example


def test_reference_example_parses_from_jobs_key() -> None:
    response = parse_batch_detail(REFERENCE_EXAMPLE.encode())
    assert response.count == 1
    assert response.dropped_items == 0
    [job] = response.results
    assert job.id == JOB_ID
    assert job.status == "INCRE_TRANSFER_STARTED"
    assert job.name == "DRS-4963-zltest"
    assert job.source_endpoint is not None
    assert job.source_endpoint.db_port == 3306
    assert job.source_endpoint.ssl_link is False
    assert job.target_endpoint is not None
    assert job.target_endpoint.inst_name == "rds-zhangle-mysql-target"
    assert job.inst_info is not None
    assert job.inst_info.volume_size == 100
    assert job.inst_info.start_time == "0"
    assert job.actual_start_time == datetime(2020, 8, 21, 2, 43, 49, 563000, tzinfo=UTC)
    assert job.create_time is None
    assert job.schema_type == "Tungsten"


def test_results_key_wins_over_jobs() -> None:
    response = parse_batch_detail({"results": [_item()], "jobs": [{"id": "other"}]})
    assert [job.id for job in response.results] == [JOB_ID]


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "endpoint_key", ["source_endpoint", "target_endpoint", "dmq_endpoint", "source_sharding"]
)
def test_secret_fields_are_dropped_at_parse_time(endpoint_key: str) -> None:
    item = _item(**{endpoint_key: {"ip": "10.0.0.1", "db_port": 3306, **SECRET_SENTINELS}})
    item.update(SECRET_SENTINELS)  # also at the item level, for good measure
    response = parse_batch_detail(json.dumps({"results": [item]}).encode())
    dumped = response.model_dump_json() + repr(response) + str(response.model_dump())
    for secret in ("SENTINEL", "987654321"):
        assert secret not in dumped
    endpoint = getattr(response.results[0], endpoint_key)
    assert endpoint.ip == "10.0.0.1"
    assert not hasattr(endpoint, "db_password")


# ---------------------------------------------------------------- lenient coercion


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        pytest.param({"node_num": "3"}, "node_num", 3, id="node_num numeric string"),
        pytest.param({"node_num": 3}, "node_num", 3, id="node_num int"),
        pytest.param({"node_num": "abc"}, "node_num", None, id="node_num garbage becomes None"),
        pytest.param({"node_num": True}, "node_num", None, id="bool is not a number"),
        pytest.param({"node_num": 2.0}, "node_num", 2, id="integral float"),
        pytest.param({"node_num": 2.5}, "node_num", None, id="fractional float"),
        pytest.param({"node_num": 10**30}, "node_num", None, id="beyond int64"),
        pytest.param({"source_endpoint": "x"}, "source_endpoint", None, id="endpoint string"),
        pytest.param({"source_endpoint": [1]}, "source_endpoint", None, id="endpoint list"),
        pytest.param({"inst_info": 5}, "inst_info", None, id="inst_info number"),
        pytest.param({"multi_write": "true"}, "multi_write", True, id="bool string true"),
        pytest.param({"multi_write": "FALSE"}, "multi_write", False, id="bool string false"),
        pytest.param({"multi_write": "yes"}, "multi_write", None, id="bool garbage"),
        pytest.param({"name": 42}, "name", "42", id="number where string expected"),
        pytest.param({"name": {"a": 1}}, "name", None, id="object where string expected"),
        pytest.param({"status": "SOMETHING_NEW"}, "status", "SOMETHING_NEW", id="unknown status"),
        pytest.param({"status": None}, "status", None, id="null status"),
        pytest.param({"error_msg": "boom"}, "error_message", "boom", id="error_msg alias"),
        pytest.param({"error_message": "bang"}, "error_message", "bang", id="error_message"),
    ],
)
def test_lenient_field(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(_one(_item(**fields)), attribute) == expected


def test_inst_info_camel_case_alias() -> None:
    job = _one(_item(instInfo={"volume_size": "250", "inst_type": "high"}))
    assert job.inst_info is not None
    assert job.inst_info.volume_size == 250


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1597977829563", datetime(2020, 8, 21, 2, 43, 49, 563000, UTC), id="string"),
        pytest.param(1597977829563, datetime(2020, 8, 21, 2, 43, 49, 563000, UTC), id="int"),
        pytest.param(" 1597977829563 ", datetime(2020, 8, 21, 2, 43, 49, 563000, UTC), id="pad"),
        pytest.param(
            "2020-08-21T02:43:49Z", datetime(2020, 8, 21, 2, 43, 49, tzinfo=UTC), id="iso"
        ),
        pytest.param("0", None, id="zero string means unset"),
        pytest.param(0, None, id="zero int"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="null"),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param(-5, None, id="negative"),
        pytest.param(10**20, None, id="beyond datetime range"),
        pytest.param("1e400", None, id="infinite"),
        pytest.param("NaN", None, id="nan"),
        pytest.param(True, None, id="bool"),
        pytest.param([1], None, id="list"),
    ],
)
def test_epoch_ms(value: Any, expected: datetime | None) -> None:
    assert parse_epoch_ms(value) == expected
    assert _one(_item(update_time=value)).update_time == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"db_port": "5432"}, 5432, id="port string"),
        pytest.param({"db_port": "54x"}, None, id="port garbage"),
        pytest.param({"ssl_link": "true"}, True, id="ssl string"),
    ],
)
def test_endpoint_coercion(fields: dict[str, Any], expected: Any) -> None:
    endpoint = EndPoint.model_validate(fields)
    assert (endpoint.db_port if "db_port" in fields else endpoint.ssl_link) == expected


# ---------------------------------------------------------------- dropped items


@pytest.mark.parametrize(
    "bad_item",
    [
        pytest.param({"status": "CREATING"}, id="no id"),
        pytest.param({"id": ""}, id="empty id"),
        pytest.param({"id": "   "}, id="blank id"),
        pytest.param({"id": 12345}, id="numeric id"),
        pytest.param({"id": None}, id="null id"),
        pytest.param([JOB_ID], id="item is a list"),
        pytest.param("x", id="item is a string"),
        pytest.param(None, id="item is null"),
    ],
)
def test_items_without_usable_id_are_dropped_and_counted(bad_item: Any) -> None:
    response = parse_batch_detail({"results": [bad_item, _item()], "count": 2})
    assert [job.id for job in response.results] == [JOB_ID]
    assert response.dropped_items == 1


def test_count_accepts_string_and_garbage() -> None:
    assert parse_batch_detail({"results": [], "count": "7"}).count == 7
    assert parse_batch_detail({"results": [], "count": "seven"}).count is None


# ---------------------------------------------------------------- unusable bodies


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"<html>oops</html>", "response is not JSON", id="html"),
        pytest.param(b"", "response is empty", id="empty"),
        pytest.param(b"\xff\xfe{", "response is not valid UTF-8", id="bad utf-8"),
        pytest.param(b"[1, 2]", "response is not a JSON object", id="list"),
        pytest.param("null", "response is not a JSON object", id="null"),
        pytest.param(5, "response is not a JSON object", id="python int"),
        pytest.param({"count": 1}, "response has no results list", id="no results"),
        pytest.param({"results": None}, "response has no results list", id="results null"),
        pytest.param({"results": {"id": JOB_ID}}, "results is not a list", id="results dict"),
        pytest.param({"results": "x"}, "results is not a list", id="results string"),
        pytest.param(b"[" * 100_000, "response is nested too deeply", id="deep nesting"),
        pytest.param(
            b'{"results": [], "count": ' + b"9" * 5000 + b"}",
            "response is not JSON",
            id="int beyond the digit limit",
        ),
    ],
)
def test_unusable_bodies_raise_only_parse_errors(payload: Any, message: str) -> None:
    with pytest.raises(DrsParseError) as caught:
        parse_batch_detail(payload)
    assert caught.value.summary == message
    assert type(caught.value) is DrsParseError
    assert caught.value.__cause__ is None


def test_parse_error_never_echoes_the_body() -> None:
    body = b'{"results": "SENTINEL-db-password db_password=hunter2"}'
    with pytest.raises(DrsParseError) as caught:
        parse_batch_detail(body)
    assert "SENTINEL" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------- error bodies


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            b'{"error_code": "DRS.M00202", "error_msg": "bad"}',
            ("DRS.M00202", "bad"),
            id="error_msg",
        ),
        pytest.param(
            {"error_code": "APIG.0301", "error_message": "token"},
            ("APIG.0301", "token"),
            id="error_message",
        ),
        pytest.param(
            {"error": {"code": "APIG.0308", "message": "slow"}},
            ("APIG.0308", "slow"),
            id="nested error object",
        ),
        pytest.param({"error_code": "X", "error_msg": "a\n  b"}, ("X", "a b"), id="whitespace"),
        pytest.param({"error_code": 401}, ("401", None), id="numeric code"),
        pytest.param(b"not json", (None, None), id="junk"),
        pytest.param(b"\xff", (None, None), id="bad utf-8"),
        pytest.param(b"[" * 100_000, (None, None), id="deep"),
        pytest.param(None, (None, None), id="none"),
        pytest.param([1], (None, None), id="list"),
        pytest.param({"error_code": {"x": 1}}, (None, None), id="code object"),
    ],
)
def test_parse_error_body(payload: Any, expected: tuple[str | None, str | None]) -> None:
    assert parse_error_body(payload) == expected


def test_parse_error_body_clips_to_300() -> None:
    code, message = parse_error_body({"error_code": "C" * 1000, "error_msg": "m" * 1000})
    assert code is not None and len(code) == 300
    assert message is not None and len(message) == 300 and message.endswith("…")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param({"id": JOB_ID, "error_code": "DRS.M00289"}, True, id="error no status"),
        pytest.param(
            {"id": JOB_ID, "error_code": "X", "status": "CREATING"}, False, id="status wins"
        ),
        pytest.param({"id": JOB_ID, "status": "CREATING"}, False, id="no error"),
        pytest.param({"id": JOB_ID}, False, id="neither"),
    ],
)
def test_is_item_error(item: dict[str, Any], expected: bool) -> None:
    assert is_item_error(_one(item)) is expected


# ---------------------------------------------------------------- models themselves


def test_models_are_frozen() -> None:
    job = _one(_item())
    with pytest.raises(ValidationError):
        job.status = "DELETED"


def test_dumped_response_validates_back() -> None:
    response = parse_batch_detail(REFERENCE_EXAMPLE)
    again = BatchDetailResponse.model_validate(response.model_dump())
    assert again == response
    again_json = BatchDetailResponse.model_validate(response.model_dump(mode="json"))
    assert again_json == response


# ---------------------------------------------------------------- request


def test_request_body() -> None:
    request = BatchDetailRequest(jobs=[JOB_ID, "b"], page_req=PageReq(per_page=10))
    assert request.to_json() == {"jobs": [JOB_ID, "b"], "page_req": {"cur_page": 1, "per_page": 10}}
    assert BatchDetailRequest(jobs=[JOB_ID]).to_json() == {"jobs": [JOB_ID]}


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"jobs": []}, id="no ids"),
        pytest.param({"jobs": ["a", "a"]}, id="duplicate ids"),
        pytest.param({"jobs": [""]}, id="empty id"),
        pytest.param({"jobs": ["a"], "page_req": {"per_page": 101}}, id="per_page above 100"),
        pytest.param({"jobs": ["a"], "page_req": {"per_page": 5, "cur_page": 0}}, id="page 0"),
    ],
)
def test_request_rejects(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BatchDetailRequest.model_validate(kwargs)
