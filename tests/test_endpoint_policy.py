"""Where a DrsJob may send credentials: patterns, matching, the override check, the flag."""

from __future__ import annotations

import pytest

from drs_operator.domain.cadence import Pace
from drs_operator.domain.conditions import REASON_ENDPOINT_NOT_ALLOWED
from drs_operator.domain.endpoint_policy import (
    OFFICIAL_DRS_HOSTS,
    EndpointNotAllowed,
    EndpointPolicy,
    check_override,
    parse_patterns,
)
from drs_operator.domain.observations import Failed, pace_of
from drs_operator.engine import settings

OFFICIAL = EndpointPolicy.official()


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [
        ("https://drs.ap-southeast-1.myhuaweicloud.com", True, "an official region host"),
        ("https://DRS.AP-SOUTHEAST-1.MyHuaweiCloud.com", True, "host names ignore case"),
        ("https://drs.eu-west-101.myhuaweicloud.eu", True, "the EU domain"),
        ("https://drs.cn-north-4.myhuaweicloud.com:443/v3", True, "any port and path"),
        ("https://drs.myhuaweicloud.com", False, "* needs exactly one label"),
        ("https://drs.a.b.myhuaweicloud.com", False, "* never spans two labels"),
        ("https://iam.ap-southeast-1.myhuaweicloud.com", False, "IAM is not a DRS host"),
        ("http://drs.ap-southeast-1.myhuaweicloud.com", False, "plain http: credentials in clear"),
        ("https://drs.ap-southeast-1.myhuaweicloud.com.evil.example", False, "suffix attack"),
        ("https://evil.example/drs.ap-southeast-1.myhuaweicloud.com", False, "host in the path"),
        ("https://127.0.0.1:8900", False, "loopback is not official"),
    ],
)
def test_the_default_allows_the_official_drs_hosts_only(
    url: str, allowed: bool, reason: str
) -> None:
    assert OFFICIAL.allows(url) is allowed, reason


@pytest.mark.parametrize(
    ("patterns", "url", "allowed", "reason"),
    [
        (
            "http://127.0.0.1:8900",
            "http://127.0.0.1:8900",
            True,
            "loopback simulator, http opted in",
        ),
        ("http://127.0.0.1:8900", "https://127.0.0.1:8900", True, "http:// allows https too"),
        ("http://127.0.0.1:8900", "http://127.0.0.1:8901", False, "another port"),
        ("127.0.0.1:*", "http://127.0.0.1:1234", False, "without http:// only https matches"),
        ("127.0.0.1:*", "https://127.0.0.1:1234", True, "any port"),
        ("drs.corp.example", "https://drs.corp.example:8443", True, "no port: any port"),
        ("*.corp.example", "https://a.corp.example", True, "a leading wildcard label"),
        ("*.corp.example", "https://corp.example", False, "the wildcard needs a label"),
        ("drs-*.corp.example", "https://drs-eu.corp.example", True, "* inside a label"),
        ("[::1]:8900,http://[::1]", "http://[::1]:9000", True, "IPv6 in brackets"),
        ("[::1]:8900", "https://[::2]:8900", False, "another IPv6 address"),
        ("", "https://drs.ap-southeast-1.myhuaweicloud.com", False, "empty: nothing allowed"),
    ],
)
def test_patterns(patterns: str, url: str, allowed: bool, reason: str) -> None:
    assert EndpointPolicy(parse_patterns(patterns)).allows(url) is allowed, reason


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("https://drs.example/v3", "not a host pattern"),
        ("ftp://drs.example", "not a host pattern"),
        ("user@drs.example", "not a host pattern"),
        ("drs..example", "labels of letters"),
        ("drs_example.com", "labels of letters"),
        ("drs.example:http", "the port must be digits"),
        ("[zz::1]", "bad IPv6 address"),
        ("drs .example", "labels of letters"),
    ],
)
def test_malformed_patterns_are_refused_by_name(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        parse_patterns(f"drs.*.myhuaweicloud.com,{text}")
    assert text.split("://")[-1].strip().lower() in str(caught.value).lower()


TOKEN = "tok-SENTINEL-7e3a"
SECRET = {"endpoint": "https://drs.internal.corp:8443/base", "projectId": "p", "token": TOKEN}
REGION_ONLY = {"region": "ap-southeast-1", "projectId": "p", "token": TOKEN}


@pytest.mark.parametrize(
    ("values", "endpoint", "region", "policy", "allowed", "reason"),
    [
        (SECRET, None, None, EndpointPolicy(), True, "no override: nothing to check"),
        (SECRET, "https://drs.internal.corp:8443/other", None, EndpointPolicy(), True,
         "the Secret's own scheme, host and port (another path)"),
        (SECRET, "https://DRS.internal.corp:8443", None, EndpointPolicy(), True, "host case"),
        (SECRET, "http://drs.internal.corp:8443", None, EndpointPolicy(), False,
         "same host, plain http: not the Secret's endpoint"),
        (SECRET, "https://drs.internal.corp", None, EndpointPolicy(), False, "another port"),
        (SECRET, "https://capture.example", None, OFFICIAL, False, "a foreign host"),
        (SECRET, "https://drs.ap-southeast-1.myhuaweicloud.com", None, OFFICIAL, True,
         "an official host is allowed by the default list"),
        (SECRET, "https://drs.ap-southeast-1.myhuaweicloud.com", None, EndpointPolicy(), False,
         "... but not when the operator allows none"),
        (REGION_ONLY, "https://drs.ap-southeast-1.myhuaweicloud.com", None, EndpointPolicy(),
         True, "the region's own official endpoint is the job's own endpoint"),
        (REGION_ONLY, "https://drs.cn-north-4.myhuaweicloud.com", "cn-north-4", EndpointPolicy(),
         True, "spec.region picks the job's own endpoint"),
        (REGION_ONLY, "https://drs.cn-north-4.myhuaweicloud.com", None, EndpointPolicy(),
         False, "another region's host is not the job's own"),
        (REGION_ONLY, "http://127.0.0.1:9", None, OFFICIAL, False, "a listener of the author's"),
    ],
)  # fmt: skip
def test_check_override(
    values: dict[str, str],
    endpoint: str | None,
    region: str | None,
    policy: EndpointPolicy,
    allowed: bool,
    reason: str,
) -> None:
    try:
        check_override(
            spec_endpoint=endpoint, spec_region=region, secret_values=values, policy=policy
        )
    except EndpointNotAllowed as exc:
        assert not allowed, f"{reason}: {exc}"
        assert exc.reason == REASON_ENDPOINT_NOT_ALLOWED
        message = str(exc)
        assert "--allowed-endpoint-hosts" in message and "no request was sent" in message
        assert endpoint is not None and (endpoint.split("//")[1].split(":")[0].split("/")[0]
                                         in message), message  # fmt: skip
        assert TOKEN not in message
    else:
        assert allowed, reason


def test_a_refused_endpoint_is_retried_only_after_a_change() -> None:
    assert pace_of(Failed(REASON_ENDPOINT_NOT_ALLOWED, "x")) is Pace.FAILED


@pytest.mark.parametrize(
    ("source", "value", "expected", "reason"),
    [
        ("default", None, OFFICIAL_DRS_HOSTS, "the vendor's hosts by default"),
        ("flag", "http://127.0.0.1:*", ("http://127.0.0.1:*",), "the flag replaces the default"),
        ("env", "a.example, b.example", ("a.example", "b.example"), "comma-separated, spaces ok"),
        ("env", "", (), "an empty variable allows nothing (the chart's empty list)"),
        ("flag", "", (), "an empty flag allows nothing"),
    ],
)
def test_the_flag_and_its_environment_variable(
    source: str, value: str | None, expected: tuple[str, ...], reason: str
) -> None:
    env = {"DRS_OPERATOR_ALLOWED_ENDPOINT_HOSTS": value} if source == "env" else {}
    args = None
    if source == "flag":
        import argparse

        parser = argparse.ArgumentParser()
        settings.add_arguments(parser)
        args = parser.parse_args(["--allowed-endpoint-hosts", value or ""])
    parsed = settings.from_sources(args, env)  # type: ignore[arg-type]
    got = tuple(p.text for p in parsed.http.allowed_endpoint_hosts.patterns)
    assert got == expected, reason


def test_a_malformed_pattern_in_the_flag_is_a_settings_error() -> None:
    with pytest.raises(settings.SettingsError) as caught:
        settings.from_sources(None, {"DRS_OPERATOR_ALLOWED_ENDPOINT_HOSTS": "drs.*.x,https://a/b"})
    assert "DRS_OPERATOR_ALLOWED_ENDPOINT_HOSTS" in str(caught.value)
    assert "https://a/b" in str(caught.value)
