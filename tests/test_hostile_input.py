"""Hostile input: fuzzed DRS answers, specs, Secrets, names and IDs, oversized bodies.

Complements ``tests/test_models_property.py`` (the response models) and
``tests/test_specs.py`` (spec/Secret rules) with properties of the whole path
from untrusted bytes to what the operator writes or logs:

- :func:`classify` (status + body + headers of any answer) returns a parsed
  response or raises a :class:`DrsError`; the error's text is one bounded
  line, whatever the service put in its message or ``X-Request-Id``;
- an observation built from a fuzzed answer becomes a status that is JSON,
  whose condition messages are single bounded lines (no log/event injection);
- a spec's ``jobId`` is either rejected with a one-line :class:`SpecError` or
  is a 36-character ``[a-z0-9-]`` string (safe in bodies, logs and labels);
- a Secret's values never appear in the text of the error that rejects them;
- names and project IDs that reach a URL are percent-encoded into exactly
  one path segment;
- a body larger than ``max_body_bytes`` is refused after reading at most the
  limit plus one chunk, with or without ``Content-Length``.

Example counts: cheap pure properties run 1,000 to 2,000 examples (a second or
two each); ``HYPOTHESIS_PROFILE=hostile-long`` multiplies them by ten.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drs_operator.domain import observations as facts
from drs_operator.domain.credentials import (
    CredentialsError,
    decode_secret_data,
    parse_credentials,
)
from drs_operator.domain.mapping import MAX_MESSAGE, compute_status
from drs_operator.domain.observations import Observation
from drs_operator.domain.spec import SpecError, parse_spec
from drs_operator.drs import endpoints
from drs_operator.drs.auth import TokenAuth
from drs_operator.drs.classify import classify
from drs_operator.drs.client import DrsClient
from drs_operator.drs.errors import DrsError, DrsParseError
from drs_operator.engine.kube import drsjob_path

SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "hostile-long" else 1
CHEAP = settings(
    max_examples=2000 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
MEDIUM = settings(
    max_examples=1000 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
JOB_ID = "a1b2c3d4-e5f6-7a8b-9c0d-e1f2a3b4jb21"
SAFE_ID = re.compile(r"^[a-z0-9-]{36}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc", "Cf"]),
    max_size=300,
) | st.sampled_from(
    ["", "..", ".", "/", "a/../b", "\r\nX-Injected: 1", "%2e%2e", "\x00", "é" * 2000, "{}", "[]"]
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | hostile_text
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            hostile_text | st.sampled_from(["id", "status", "results"]), children, max_size=4
        )
    ),
    max_leaves=20,
)
item_fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from([JOB_ID]) | hostile_text,
        "status": st.sampled_from(["INCRE_TRANSFER_STARTED", "CREATE_FAILED", "DELETED"])
        | hostile_text,
        "name": hostile_text,
        "error_code": hostile_text | st.sampled_from(["DRS.M00289", "DRS.M05004"]),
        "error_message": hostile_text,
        "failed_reason": hostile_text,
        "create_time": hostile_text | st.integers(),
        "node_num": json_values,
        "source_endpoint": json_values,
        "inst_info": json_values,
        "db_password": hostile_text,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"results": st.lists(item_fields, max_size=4)},
        optional={"count": json_values, "error_code": hostile_text, "error_msg": hostile_text},
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"error_code": hostile_text, "error_msg": hostile_text}).map(
        lambda v: json.dumps(v).encode()
    ),
)
statuses = st.sampled_from([200, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429, 500, 503]) | (
    st.integers(min_value=100, max_value=599)
)
header_values = hostile_text.filter(lambda s: "\r" not in s and "\n" not in s) | st.just("x" * 5000)


def one_bounded_line(text: str, limit: int = 4 * MAX_MESSAGE, *, printable: bool = True) -> None:
    """One line (no forged log lines), bounded, and (``printable``) no terminal escapes."""
    assert not LINE_BREAK.search(text), repr(text)
    if printable:
        assert not CONTROL.search(text), repr(text)
    assert len(text) <= limit, len(text)


# -- DRS answers -----------------------------------------------------------------------------------


async def _ask(status: int, body: bytes, headers: dict[str, str]) -> Any:
    """One batch-detail call through the real client against a canned answer."""
    raw = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=raw, content=body)

    client = DrsClient(
        endpoint="https://drs.example.test",
        project_id="p1",
        auth=TokenAuth("t"),
        transport=httpx.MockTransport(answer),
    )
    async with client:
        try:
            return await client.batch_detail([JOB_ID])
        except DrsError as exc:
            return exc


@MEDIUM
@given(status=statuses, body=bodies, request_id=st.none() | header_values,
       retry_after=st.none() | header_values)  # fmt: skip
def test_any_answer_is_a_result_or_one_bounded_drs_error(
    status: int, body: bytes, request_id: str | None, retry_after: str | None
) -> None:
    headers = {}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    try:
        classify(status, body, headers, asked=[JOB_ID])  # the classification alone
    except DrsError:
        pass
    result = asyncio.run(_ask(status, body, headers))
    observation: Observation
    if isinstance(result, DrsError):
        for text in (str(result), result.describe(), result.summary, result.api_message or ""):
            one_bounded_line(text)
        retry = getattr(result, "retry_after", None)
        assert retry is None or (retry >= 0 and retry != float("inf"))
        observation = facts.failure(result)
    else:  # the refresher's own step from a result to observations
        assert 200 <= status < 300
        observation = facts.observe(result).get(JOB_ID) or facts.unanswered(result.request_id)
        if result.request_id:
            one_bounded_line(result.request_id)
    for current in (None, {"taskStatus": "X", "conditions": "not a list"}):
        status_out = compute_status(current=current, observation=observation, generation=3, now=NOW)
        text = json.dumps(status_out, allow_nan=False)  # JSON as the API server takes it
        assert "db_password" not in text and "dbPassword" not in text
        for condition in status_out["conditions"]:
            one_bounded_line(condition["message"], MAX_MESSAGE)
            assert re.fullmatch(r"[A-Z][A-Za-z]*", condition["reason"]), condition


def test_task_text_from_the_service_is_printable_in_condition_messages() -> None:
    body = json.dumps(
        {"results": [{"id": JOB_ID, "status": "CREATE_FAILED", "failed_reason": "x\x1b[2Jy"}]}
    ).encode()
    result = asyncio.run(_ask(200, body, {}))
    status = compute_status(
        current=None, observation=facts.Observed(result.jobs[JOB_ID]), generation=1, now=NOW
    )
    for condition in status["conditions"]:
        one_bounded_line(condition["message"], MAX_MESSAGE)


# -- specs, Secrets, names -------------------------------------------------------------------------


@MEDIUM
@given(
    job_id=hostile_text | json_values, extra=st.dictionaries(hostile_text, json_values, max_size=3)
)
def test_job_id_is_rejected_in_one_line_or_safe(job_id: Any, extra: dict[str, Any]) -> None:
    try:
        spec = parse_spec(
            {**extra, "jobId": job_id}, default_credentials="drs-credentials",
            min_refresh_interval=5.0,
        )  # fmt: skip
    except SpecError as exc:
        one_bounded_line(str(exc), 2000)
        return
    assert SAFE_ID.match(spec.job_id), spec.job_id


@CHEAP
@given(key=st.sampled_from(["token", "password", "secretKey", "accessKey", "projectId",
                            "endpoint", "caBundle", "region"]),
       value=st.binary(min_size=8, max_size=64))  # fmt: skip
def test_secret_values_never_appear_in_the_error_that_rejects_them(key: str, value: bytes) -> None:
    base = {"endpoint": "https://drs.example.test", "projectId": "p1", "token": "t0k3n-ok"}
    data = {k: base64.b64encode(v.encode()).decode() for k, v in base.items()}
    data[key] = base64.b64encode(value).decode()
    as_text = value.decode("utf-8", errors="replace")
    try:
        values = decode_secret_data(data, secret_name="creds")
        parse_credentials(values, secret_name="creds")
    except CredentialsError as exc:
        one_bounded_line(str(exc), 2000)
        if key not in ("endpoint", "region", "projectId") and len(as_text.strip()) >= 8:
            assert as_text.strip() not in str(exc)
            assert data[key] not in str(exc)


@CHEAP
@given(project=hostile_text)
def test_a_project_id_that_passes_the_secret_rules_is_one_url_segment(project: str) -> None:
    values = {"endpoint": "https://drs.example.test", "projectId": project, "token": "t"}
    try:
        credentials = parse_credentials(values, secret_name="creds")
    except CredentialsError:
        return
    assert credentials.project_id is not None
    path = endpoints.batch_detail_path(credentials.project_id)
    segments = path.split("/")
    assert len(segments) == 5 and segments[0] == "" and segments[1] == "v3", path
    assert segments[2] not in (".", "..") and not CONTROL.search(segments[2]), path
    assert httpx.URL("https://h" + path).path == path  # no normalisation moves it


@CHEAP
@given(namespace=hostile_text.filter(bool), name=hostile_text.filter(bool))
def test_kubernetes_names_are_percent_encoded_path_segments(namespace: str, name: str) -> None:
    path = drsjob_path(namespace, name, status=True)
    segments = path.split("/")
    assert len(segments) == 9, path  # /apis/group/version/namespaces/ns/drsjobs/name/status
    assert segments[-1] == "status" and segments[-3] == "drsjobs"
    for segment in (segments[5], segments[7]):
        assert not re.search(r"[/?#\s%]", segment.replace("%", "")), segment
        assert re.fullmatch(r"[A-Za-z0-9_.~%-]+", segment), segment


def test_dot_segments_of_project_ids_are_refused_by_the_secret_rules() -> None:
    for project in (".", "..", "%2e%2e", "a/b", "a?b", "a#b", "a b"):
        with pytest.raises(CredentialsError):
            parse_credentials(
                {"endpoint": "https://drs.example.test", "projectId": project, "token": "t"},
                secret_name="creds",
            )


# -- oversized bodies ------------------------------------------------------------------------------

CHUNK = 16 * 1024


class Endless(httpx.AsyncByteStream):
    """An answer that never ends; counts what the client pulled."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += CHUNK
            yield b" " * CHUNK


@pytest.mark.parametrize(
    ("declared", "why"),
    [
        (None, "chunked: refused while streaming, after at most the limit plus one chunk"),
        ("999999999", "a declared Content-Length over the limit is refused before reading"),
        ("100", "a lying Content-Length does not lift the limit"),
    ],
)
async def test_oversized_bodies_are_refused_after_a_bounded_read(
    declared: str | None, why: str
) -> None:
    limit = 64 * 1024
    streams: list[Endless] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stream = Endless()
        streams.append(stream)
        headers = {"X-Request-Id": "r1"}
        if declared is not None:
            headers["Content-Length"] = declared
        return httpx.Response(200, headers=headers, stream=stream)

    client = DrsClient(
        endpoint="https://drs.example.test",
        project_id="p1",
        auth=TokenAuth("t"),
        max_body_bytes=limit,
        transport=httpx.MockTransport(answer),
    )
    async with client:
        with pytest.raises(DrsParseError, match=f"exceeds {limit} bytes") as caught:
            await client.batch_detail([JOB_ID])
    assert caught.value.request_id == "r1", why
    assert streams[0].sent <= limit + CHUNK, why
