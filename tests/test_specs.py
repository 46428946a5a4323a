"""Tests for drs_operator.domain.spec, .credentials and .formats: spec, Secret, durations."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_operator.domain.credentials import (
    Credentials,
    CredentialsError,
    decode_secret_data,
    parse_credentials,
)
from drs_operator.domain.formats import JOB_ID_PATTERN, parse_duration
from drs_operator.domain.spec import JobSpec, SpecError, parse_spec

JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"
DEFAULT = "drs-credentials"
SECRET = "drs-credentials"


def _spec(**fields: Any) -> dict[str, Any]:
    return {"jobId": JOB_ID, **fields}


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("5m", 300.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1h30m", 5400.0, id="compound"),
        pytest.param("500ms", 0.5, id="milliseconds, not minutes+seconds"),
        pytest.param("1.5m", 90.0, id="decimal"),
        pytest.param("1m1s1ms", 61.001, id="three parts"),
        pytest.param("0s", 0.0, id="zero parses (the minimum check is separate)"),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("30", id="no unit"),
        pytest.param("", id="empty"),
        pytest.param("5 m", id="space"),
        pytest.param("-5s", id="negative"),
        pytest.param("1d", id="days unsupported"),
        pytest.param(".5s", id="leading dot"),
        pytest.param("5S", id="upper-case unit"),
        pytest.param("1" * 400 + "h", id="too long"),
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"must be|too large"):
        parse_duration(text)


# ---------------------------------------------------------------- spec


def test_minimal_spec_defaults() -> None:
    assert parse_spec({"jobId": JOB_ID}, default_credentials=DEFAULT) == JobSpec(
        job_id=JOB_ID,
        credentials_name=DEFAULT,
        project_id=None,
        region=None,
        endpoint=None,
        refresh_interval=None,
        suspend=False,
    )


def test_full_spec() -> None:
    spec = parse_spec(
        _spec(
            credentialsRef={"name": "team-a.drs"},
            projectId="054ba152d480d55b2f5dc0069e7ddef0",
            region="eu-west-101",
            endpoint="https://drs.example.test:8443/",
            refreshInterval="1m30s",
            suspend=True,
        ),
        default_credentials=DEFAULT,
    )
    assert spec == JobSpec(
        job_id=JOB_ID,
        credentials_name="team-a.drs",
        project_id="054ba152d480d55b2f5dc0069e7ddef0",
        region="eu-west-101",
        endpoint="https://drs.example.test:8443",
        refresh_interval=90.0,
        suspend=True,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(None, "spec: required", id="no spec"),
        pytest.param({}, "spec.jobId: required", id="no jobId"),
        pytest.param({"jobId": 5}, "spec.jobId: must be a string, got a number", id="jobId number"),
        pytest.param(
            {"jobId": JOB_ID[:-1]},
            "spec.jobId: must be 36 characters in UUID layout (8-4-4-4-12), got 35",
            id="jobId 35 characters",
        ),
        pytest.param(
            {"jobId": JOB_ID.upper()},
            "spec.jobId: must use lower-case letters",
            id="jobId upper case",
        ),
        pytest.param(
            {"jobId": "9a470239x2308-4bb5-a6bc-1040402fjb21"},
            "spec.jobId: must be lower-case letters and digits in UUID layout",
            id="jobId wrong layout",
        ),
        pytest.param(
            {"jobId": "9a470239-2308-4bb5-a6bc-1040402f/b21"},
            "spec.jobId: must be lower-case letters and digits in UUID layout",
            id="jobId path character",
        ),
        pytest.param(
            _spec(credentialsRef="x"), "spec.credentialsRef: must be an object", id="ref string"
        ),
        pytest.param(
            _spec(credentialsRef={"name": "Bad_Name"}),
            "spec.credentialsRef.name: must be a DNS-1123 subdomain",
            id="ref name not DNS-1123",
        ),
        pytest.param(
            _spec(credentialsRef={"name": "a" * 254}),
            "spec.credentialsRef.name: must be a DNS-1123 subdomain",
            id="ref name too long",
        ),
        pytest.param(
            _spec(refreshInterval="2s"),
            "spec.refreshInterval: must be at least 5s, got 2s",
            id="interval below minimum",
        ),
        pytest.param(
            _spec(refreshInterval="soon"),
            "spec.refreshInterval: must be a number with a unit",
            id="interval garbage",
        ),
        pytest.param(
            _spec(refreshInterval=30),
            "spec.refreshInterval: must be a duration string",
            id="interval number",
        ),
        pytest.param(
            _spec(endpoint="ftp://x"), "spec.endpoint: must be an http or https URL", id="ftp"
        ),
        pytest.param(
            _spec(endpoint="https://user:pw@x"),
            "spec.endpoint: must not contain user info",
            id="credentials in URL",
        ),
        pytest.param(_spec(endpoint="https://"), "spec.endpoint: must name a host", id="no host"),
        pytest.param(
            _spec(endpoint="https://x?a=1"),
            "spec.endpoint: must not contain a query",
            id="query string",
        ),
        pytest.param(
            _spec(suspend="yes"), "spec.suspend: must be true or false", id="suspend string"
        ),
        pytest.param(
            _spec(projectId="../../admin"),
            "spec.projectId: must be 1-64 letters",
            id="projectId path traversal",
        ),
        pytest.param(
            _spec(region="EU West"), "spec.region: must be lower-case", id="region with space"
        ),
        pytest.param(_spec(region=5), "spec.region: must be a string", id="region number"),
    ],
)
def test_spec_rules(spec: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec, default_credentials=DEFAULT)
    assert caught.value.message.startswith(message)
    assert caught.value.reason == "InvalidSpec"


def test_job_id_pattern_accepts_the_reference_example_and_non_hex() -> None:
    assert re.match(JOB_ID_PATTERN, JOB_ID)
    assert parse_spec(
        {"jobId": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}, default_credentials=DEFAULT
    )


def test_minimum_interval_is_configurable() -> None:
    spec = parse_spec(
        _spec(refreshInterval="2s"), default_credentials=DEFAULT, min_refresh_interval=1.0
    )
    assert spec.refresh_interval == 2.0


def test_empty_optional_strings_are_unset() -> None:
    spec = parse_spec(
        _spec(region="", projectId=" ", credentialsRef={"name": ""}, suspend=None),
        default_credentials="other",
    )
    assert (spec.region, spec.project_id, spec.credentials_name, spec.suspend) == (
        None,
        None,
        "other",
        False,
    )


# ---------------------------------------------------------------- Secret data


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_decode_secret_data() -> None:
    data = {"token": _b64("tok\n"), "region": _b64("cn-north-4"), "blob": "!!notbase64!!"}
    assert decode_secret_data(data, secret_name=SECRET) == {
        "token": "tok\n",
        "region": "cn-north-4",
    }
    assert decode_secret_data(None, secret_name=SECRET) == {}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("!!notbase64!!", id="not base64"),
        pytest.param(base64.b64encode(b"\xff\xfe").decode(), id="not utf-8"),
        pytest.param(5, id="not a string"),
    ],
)
def test_decode_secret_data_rejects_known_keys(value: Any) -> None:
    with pytest.raises(CredentialsError) as caught:
        decode_secret_data({"password": value}, secret_name=SECRET)
    assert caught.value.reason == "CredentialsInvalid"
    assert "key password" in caught.value.message
    assert SECRET in caught.value.message


# ---------------------------------------------------------------- credentials


BASE = {"projectId": "054ba152d480d55b2f5dc0069e7ddef0", "region": "cn-north-4"}
TOKEN = {"token": "MIIToken-SENTINEL"}
AKSK = {"accessKey": "AKSENTINEL", "secretKey": "SK-SENTINEL-secret"}
PASSWORD = {"username": "alice", "password": "pw SENTINEL", "domain": "acme"}


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        pytest.param({**BASE, **TOKEN}, "token", id="token"),
        pytest.param({**BASE, **AKSK}, "aksk", id="aksk"),
        pytest.param({**BASE, **AKSK, "securityToken": "ST-SENTINEL"}, "aksk", id="temporary aksk"),
        pytest.param({**BASE, **PASSWORD}, "password", id="password"),
        pytest.param({**BASE, **TOKEN, **AKSK, **PASSWORD}, "aksk", id="all: aksk wins"),
        pytest.param({**BASE, **TOKEN, **PASSWORD}, "password", id="password beats token"),
    ],
)
def test_auth_modes(values: dict[str, str], mode: str) -> None:
    credentials = parse_credentials(values, secret_name=SECRET)
    assert credentials.mode == mode
    kept = {
        "token": credentials.token,
        "aksk": credentials.access_key,
        "password": credentials.password,
    }
    assert {m for m, v in kept.items() if v} == {mode}  # only the chosen mode's secrets


def test_values_are_stripped_and_overrides_win() -> None:
    credentials = parse_credentials(
        {**BASE, "token": " tok\n", "endpoint": "https://drs.secret.test/"},
        secret_name=SECRET,
        project_id="override0project",
        region="eu-west-101",
        endpoint="http://127.0.0.1:8080",
    )
    assert credentials.token == "tok"
    assert credentials.project_id == "override0project"
    assert credentials.region == "eu-west-101"
    assert credentials.endpoint == "http://127.0.0.1:8080"


def test_endpoint_without_region() -> None:
    credentials = parse_credentials(
        {"projectId": "p1", "endpoint": "http://127.0.0.1:9000", **TOKEN}, secret_name=SECRET
    )
    assert credentials.region is None
    password = parse_credentials(
        {
            "projectId": "p1",
            "endpoint": "http://127.0.0.1:9000",
            "iamEndpoint": "http://127.0.0.1:9001",
            "caBundle": "-----BEGIN CERTIFICATE-----\nx",
            **PASSWORD,
        },
        secret_name=SECRET,
    )
    assert password.iam_endpoint == "http://127.0.0.1:9001"


@pytest.mark.parametrize(
    ("values", "reason", "fragment"),
    [
        pytest.param(
            {},
            "CredentialsMissing",
            "no credentials keys (expected token; or accessKey",
            id="empty secret",
        ),
        pytest.param(BASE, "CredentialsMissing", "no credentials keys", id="no auth keys"),
        pytest.param(
            {**BASE, "accessKey": "AK"},
            "CredentialsMissing",
            "accessKey given but secretKey missing",
            id="half aksk",
        ),
        pytest.param(
            {**BASE, **TOKEN, "username": "u"},
            "CredentialsMissing",
            "username given but password, domain missing",
            id="half password mode is not masked by a token",
        ),
        pytest.param(
            {**BASE, **TOKEN, "securityToken": "st"},
            "CredentialsMissing",
            "securityToken needs accessKey and secretKey",
            id="stray securityToken",
        ),
        pytest.param(
            {"region": "r1", **TOKEN},
            "CredentialsMissing",
            "key projectId missing",
            id="no project",
        ),
        pytest.param(
            {"projectId": "p", **TOKEN},
            "CredentialsMissing",
            "key region missing",
            id="no region nor endpoint",
        ),
        pytest.param(
            {"projectId": "p", "endpoint": "http://x", **PASSWORD},
            "CredentialsMissing",
            "password mode needs region or iamEndpoint",
            id="password mode without IAM",
        ),
        pytest.param(
            {**BASE, **TOKEN, "endpoint": "drs.example.com"},
            "CredentialsInvalid",
            "key endpoint: must be an http or https URL",
            id="endpoint not a URL",
        ),
        pytest.param(
            {**BASE, **TOKEN, "iamEndpoint": "https://a:b@iam"},
            "CredentialsInvalid",
            "key iamEndpoint: must not contain user info",
            id="iam endpoint user info",
        ),
        pytest.param(
            {**BASE, "token": "to ken"},
            "CredentialsInvalid",
            "key token must be visible ASCII",
            id="token with space",
        ),
        pytest.param(
            {**BASE, "accessKey": "AK\r\nX-Evil: 1", "secretKey": "s"},
            "CredentialsInvalid",
            "key accessKey must be visible ASCII",
            id="header injection",
        ),
        pytest.param(
            {**BASE, **PASSWORD, "password": "p\x00w"},
            "CredentialsInvalid",
            "key password must not contain control characters",
            id="control char",
        ),
        pytest.param(
            {**TOKEN, "projectId": "a/b", "region": "r"},
            "CredentialsInvalid",
            "key projectId must be",
            id="project with slash",
        ),
        pytest.param(
            {**TOKEN, "projectId": "p", "region": "Cn North"},
            "CredentialsInvalid",
            "key region must be",
            id="bad region",
        ),
        pytest.param(
            {**BASE, **TOKEN, "caBundle": "not pem"},
            "CredentialsInvalid",
            "key caBundle must hold PEM",
            id="bad CA bundle",
        ),
    ],
)
def test_credentials_rules(values: dict[str, str], reason: str, fragment: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        parse_credentials(values, secret_name=SECRET)
    assert caught.value.reason == reason
    assert fragment in caught.value.message
    assert caught.value.message.startswith(f"Secret {SECRET}")
    for value in values.values():
        if len(value) > 3 and value not in ("cn-north-4",):  # never echo a value
            assert value not in caught.value.message


def test_credentials_repr_hides_secrets() -> None:
    every = {**BASE, **TOKEN, **AKSK, "securityToken": "ST-SENTINEL", **PASSWORD}
    for values in (every, {**BASE, **TOKEN}, {**BASE, **PASSWORD}):
        credentials = parse_credentials(values, secret_name=SECRET)
        assert "SENTINEL" not in repr(credentials)
        assert "SENTINEL" not in str(credentials)
    full = Credentials(
        token="SENTINEL1",
        access_key="SENTINEL2",
        secret_key="SENTINEL3",
        security_token="SENTINEL4",
        password="SENTINEL5",
    )
    assert "SENTINEL" not in repr(full)


# ---------------------------------------------------------------- never anything else


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
SPEC_KEYS = [
    "jobId",
    "credentialsRef",
    "projectId",
    "region",
    "endpoint",
    "refreshInterval",
    "suspend",
]
SECRET_KEYS = [
    "region",
    "projectId",
    "endpoint",
    "iamEndpoint",
    "caBundle",
    "token",
    "accessKey",
    "secretKey",
    "securityToken",
    "username",
    "password",
    "domain",
]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(SPEC_KEYS), anything | st.just(JOB_ID), max_size=7) | anything
)
def test_parse_spec_raises_only_spec_errors(spec: Any) -> None:
    try:
        parse_spec(spec, default_credentials=DEFAULT)
    except SpecError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(SECRET_KEYS), st.text(max_size=30) | anything, max_size=12),
    st.none() | st.text(max_size=20),
)
def test_parse_credentials_raises_only_credentials_errors(values: Any, project: Any) -> None:
    try:
        parse_credentials(values, secret_name=SECRET, project_id=project)
    except CredentialsError:
        pass
    try:
        decode_secret_data(values, secret_name=SECRET)
    except CredentialsError:
        pass


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Orders Sync", "orders-sync"),
        ("café--sync", "caf-sync"),  # non-ASCII letters are not Kubernetes name characters
        ("--", "fallback"),
        (None, "fallback"),
        ("x" * 80, "x" * 63),
    ],
)
def test_a_task_name_becomes_a_kubernetes_name(text: str | None, name: str) -> None:
    from drs_operator.domain.formats import dns_name

    assert dns_name(text, fallback="fallback") == name
