"""The AK/SK signer against the vendor SDK's signer, byte for byte, and verify()."""

from __future__ import annotations

import dataclasses
import hashlib
from urllib.parse import quote

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from drs_operator.drs import signing

AK = "HPUAXXXXEXAMPLEAK01"
SK = "sk-Example/Secret+Key=="
DATE = "20240305T101112Z"
PROJECT = "054ba152d480d55b2f5dc0069e7ddef0"
HOST = "drs.ap-southeast-1.myhuaweicloud.com"


@dataclasses.dataclass(frozen=True)
class Case:
    reason: str
    segments: tuple[str, ...] = ("v3", PROJECT, "jobs", "batch-detail")
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b'{"jobs": ["9a470239-2308-4bb5-a6bc-1040402fjb21"]}'
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    method: str = "POST"
    host: str = HOST
    security_token: str | None = None


CASES = [
    Case("plain batch-detail call"),
    Case("empty body hashes to the fixed empty hash", body=b"", method="GET"),
    Case("space in a path segment", segments=("v3", "a b", "jobs")),
    Case("percent sign in a path segment", segments=("v3", "100%", "x")),
    Case("tilde stays as it is", segments=("v3", "~user~", "x")),
    Case("unicode segment is UTF-8 encoded", segments=("v3", "zürich-東京", "jobs")),
    Case("at sign and plus and colon", segments=("v3", "a@b+c:d", "jobs")),
    Case("reserved characters", segments=("v3", "a;b=c,d&e!f'g(h)i*j$k", "z")),
    Case("single segment", segments=("v3",)),
    Case("query with repeated keys", query=(("b", "2"), ("a", "1"), ("a", "0"))),
    Case("query with empty values", query=(("limit", ""), ("offset", "0"))),
    Case("query with special characters", query=(("q", "a b&c=d/é~+%"), ("x y", "1"))),
    Case("query keys differing only in case", query=(("B", "1"), ("a", "2"), ("A", "3"))),
    Case(
        "extra headers are all signed",
        headers=(
            ("Content-Type", "application/json;charset=UTF-8"),
            ("X-Language", "en-us"),
            ("X-Custom", "  padded value  "),
        ),
    ),
    Case("security token header", security_token="sts-token-example"),
    Case("header names with underscore are not signed", headers=(("X_Ignored", "v"),)),
    Case(
        "non-JSON content type signs UNSIGNED-PAYLOAD",
        headers=(("Content-Type", "text/plain"),),
        body=b"hello",
    ),
    Case("host with a port", host="127.0.0.1:8443"),
    Case("lower-case method is upper-cased", method="post"),
    Case("binary body", body=bytes(range(256))),
]


def _sdk_sign(case: Case) -> tuple[str, dict[str, str], str]:
    """Sign with the vendor SDK; return (Authorization, the SDK's final headers, sent URI)."""
    path = "/" + "/".join(quote(segment, safe="") for segment in case.segments)
    headers = dict(case.headers)
    headers["X-Sdk-Date"] = DATE
    request = SdkRequest(
        method=case.method,
        schema="https",
        host=case.host,
        resource_path=path,
        query_params=list(case.query),
        header_params=headers,
        body=case.body,
    )
    credentials = BasicCredentials(AK, SK, PROJECT)
    if case.security_token:
        credentials = credentials.with_security_token(case.security_token)
    signed = credentials.sign_request(request)
    final = dict(signed.header_params)
    authorization = final.pop("Authorization")
    # The SDK re-encodes header values for sending; recover the original text.
    final = {k: v.encode("iso-8859-1").decode("utf-8") for k, v in final.items()}
    return authorization, final, signed.uri


@pytest.mark.parametrize("case", CASES, ids=[c.reason for c in CASES])
def test_sign_matches_sdk(case: Case) -> None:
    expected, headers, uri = _sdk_sign(case)
    ours = signing.sign(
        access_key=AK,
        secret_key=SK,
        method=case.method,
        url=f"https://{case.host}{uri}",
        headers=headers,
        body=case.body,
    )
    assert ours == expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.query], ids=[c.reason for c in CASES if c.query]
)
def test_sign_matches_sdk_with_httpx_encoded_query(case: Case) -> None:
    """httpx encodes a query differently (``+`` for space); the signature must not change."""
    expected, headers, uri = _sdk_sign(case)
    url = httpx.URL(f"https://{case.host}{uri.split('?')[0]}", params=list(case.query))
    ours = signing.sign(
        access_key=AK,
        secret_key=SK,
        method=case.method,
        url=str(url),
        headers=headers,
        body=case.body,
    )
    assert ours == expected


def test_canonical_request_shape() -> None:
    body = b'{"jobs": []}'
    text, names = signing.canonical_request(
        method="post",
        path="/v3/p/jobs/batch-detail",
        query="",
        headers={"Host": "h", "X-Sdk-Date": DATE, "Content-Type": " application/json "},
        body=body,
    )
    assert names == ["content-type", "host", "x-sdk-date"]
    assert text == (
        "POST\n/v3/p/jobs/batch-detail/\n\n"
        f"content-type:application/json\nhost:h\nx-sdk-date:{DATE}\n\n"
        "content-type;host;x-sdk-date\n" + hashlib.sha256(body).hexdigest()
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Host": "h"}, "no X-Sdk-Date"),
        ({"X-Sdk-Date": DATE}, "no Host"),
        ({"Host": "h", "X-Sdk-Date": "2024-03-05 10:11:12"}, "X-Sdk-Date in the wrong form"),
        (
            {"Host": "h", "X-Sdk-Date": DATE, "Content-Type": "text/plain"},
            "non-JSON body without X-Sdk-Content-Sha256",
        ),
    ],
)
def test_sign_refuses_incomplete_headers(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError) as info:
        signing.sign(
            access_key=AK,
            secret_key=SK,
            method="POST",
            url="https://h/x",
            headers=headers,
            body=b"x",
        )
    assert SK not in str(info.value)


def test_payload_headers() -> None:
    assert signing.payload_headers({"Content-Type": "application/json"}) == {}
    assert signing.payload_headers({}) == {}
    assert signing.payload_headers({"content-type": "text/plain"}) == {
        "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"
    }


def test_format_sdk_date() -> None:
    assert signing.format_sdk_date(0) == "19700101T000000Z"
    assert signing.format_sdk_date(1709633472) == "20240305T101112Z"


# ----- verify() -------------------------------------------------------------------------------

PATH = f"/v3/{PROJECT}/jobs/batch-detail"
QUERY = "a=1&b=x%20y"
BODY = b'{"jobs": ["9a470239-2308-4bb5-a6bc-1040402fjb21"]}'
HEADERS = {
    "Host": HOST,
    "X-Sdk-Date": DATE,
    "X-Project-Id": PROJECT,
    "Content-Type": "application/json",
}


def _signed() -> str:
    return signing.sign(
        access_key=AK,
        secret_key=SK,
        method="POST",
        url=f"https://{HOST}{PATH}?{QUERY}",
        headers=HEADERS,
        body=BODY,
    )


def _verify(authorization: str, **changes: object) -> str | None:
    arguments: dict[str, object] = {
        "authorization": authorization,
        "secret_key_for": {AK: SK}.get,
        "method": "POST",
        "path": PATH,
        "query": QUERY,
        "headers": {**HEADERS, "User-Agent": "not signed", "Content-Length": "52"},
        "body": BODY,
    }
    arguments.update(changes)
    return signing.verify(**arguments)  # type: ignore[arg-type]


def test_verify_round_trip() -> None:
    assert _verify(_signed()) == AK


def test_verify_accepts_lower_case_received_headers() -> None:
    lowered = {k.lower(): v for k, v in HEADERS.items()}
    assert _verify(_signed(), headers=lowered) == AK


def _tamper_signature(auth: str) -> str:
    last = auth[-1]
    return auth[:-1] + ("0" if last != "0" else "1")


TAMPERED = [
    ("body changed", {"body": BODY.replace(b"jb21", b"jb22")}),
    ("project header changed", {"headers": {**HEADERS, "X-Project-Id": "other"}}),
    ("date changed", {"headers": {**HEADERS, "X-Sdk-Date": "20240305T101113Z"}}),
    ("host changed", {"headers": {**HEADERS, "Host": "evil.example.com"}}),
    ("signed header dropped", {"headers": {k: v for k, v in HEADERS.items() if k != "Host"}}),
    ("path changed", {"path": PATH.replace("batch-detail", "batch-status")}),
    ("query changed", {"query": "a=2&b=x%20y"}),
    ("method changed", {"method": "PUT"}),
    ("unknown access key", {"secret_key_for": {}.get}),
    ("wrong secret key", {"secret_key_for": {AK: "other"}.get}),
]


@pytest.mark.parametrize(("reason", "changes"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_verify_rejects_tampering(reason: str, changes: dict[str, object]) -> None:
    assert _verify(_signed(), **changes) is None


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("", "empty"),
        ("Bearer abc", "another scheme"),
        ("SDK-HMAC-SHA256 Access=AK, Signature=abc", "no SignedHeaders"),
        ("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=zz", "signature not hex"),
    ],
)
def test_verify_rejects_malformed_authorization(authorization: str, reason: str) -> None:
    assert _verify(authorization) is None


def test_verify_rejects_tampered_signature() -> None:
    assert _verify(_tamper_signature(_signed())) is None


def test_verify_requires_date_and_host_signed() -> None:
    headers = {"Host": HOST, "X-Sdk-Date": DATE, "X_Skip": "1"}
    canonical, _ = signing.canonical_request(
        method="POST",
        path=PATH,
        query="",
        headers=headers,
        body=BODY,
        signed_headers=["host"],
    )
    signature = signing._signature(SK, signing.string_to_sign(canonical, DATE))
    auth = f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host, Signature={signature}"
    assert _verify(auth, query="", headers=headers) is None


def test_verify_clock_skew() -> None:
    stamp = 1709633472.0  # DATE
    assert _verify(_signed(), now=stamp + 60) == AK
    assert _verify(_signed(), now=stamp + 16 * 60) is None
    assert _verify(_signed(), now=stamp - 16 * 60) is None
