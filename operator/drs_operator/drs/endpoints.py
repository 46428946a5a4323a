"""Where the DRS and IAM services live, by region or by explicit URL (pure).

- ``drs_endpoint("ap-southeast-1")`` → ``https://drs.ap-southeast-1.myhuaweicloud.com``;
  ``iam_endpoint`` likewise with ``iam.``; region ``eu-west-101`` uses
  ``.myhuaweicloud.eu`` for both.
- A region must match :data:`REGION_PATTERN`: lower-case letters and digits in
  dash-separated words (so it can never inject a host, a port or a path). It
  is the one region pattern of the package.
- An explicit URL always wins over the region (:func:`resolve`); it must be
  ``http``/``https`` with a host and no query, fragment, credentials,
  whitespace or control characters (:func:`url_problem` says which rule a URL
  breaks). A trailing ``/`` is dropped.
- :func:`batch_detail_path` percent-encodes the project ID: it is never
  interpolated raw into a path.

Errors are ``ValueError`` with a message that names the problem.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlsplit

from drs_operator.drs.text import has_no_control

__all__ = [
    "EU_REGIONS",
    "REGION_PATTERN",
    "Kind",
    "batch_detail_path",
    "drs_endpoint",
    "iam_endpoint",
    "iam_tokens_url",
    "resolve",
    "url_problem",
    "validate_region",
    "validate_url",
]

Kind = Literal["drs", "iam"]

REGION_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_REGION_RE = re.compile(REGION_PATTERN)
_MAX_REGION = 64
_MAX_URL = 2048
DEFAULT_DOMAIN = "myhuaweicloud.com"
EU_DOMAIN = "myhuaweicloud.eu"
EU_REGIONS = frozenset({"eu-west-101"})


def validate_region(region: str) -> str:
    """The region, if it is made of lower-case letters, digits and dashes; else ValueError."""
    if not isinstance(region, str) or len(region) > _MAX_REGION or not _REGION_RE.match(region):
        raise ValueError(f"invalid region {region!r}: use lower-case letters, digits and dashes")
    return region


def _host(service: str, region: str) -> str:
    region = validate_region(region)
    domain = EU_DOMAIN if region in EU_REGIONS else DEFAULT_DOMAIN
    return f"https://{service}.{region}.{domain}"


def drs_endpoint(region: str) -> str:
    """The DRS endpoint of a region."""
    return _host("drs", region)


def iam_endpoint(region: str) -> str:
    """The IAM endpoint of a region."""
    return _host("iam", region)


def url_problem(value: str) -> str | None:
    """What is wrong with an endpoint URL (``"must name a host"``, ...), or None."""
    if (
        not isinstance(value, str)
        or len(value) > _MAX_URL
        or not has_no_control(value)
        or any(ch.isspace() for ch in value)
    ):
        return "must be an http or https URL without spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return "must be an http or https URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain user info"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return "must not contain a query or fragment"
    return None


def validate_url(url: str) -> str:
    """An endpoint URL without its trailing ``/``; ValueError naming the broken rule."""
    text = url.strip() if isinstance(url, str) else ""
    problem = url_problem(text)
    if problem:
        raise ValueError(f"invalid endpoint URL: {problem}")
    return text.rstrip("/")


def resolve(explicit: str | None, region: str | None, kind: Kind) -> str:
    """The endpoint for ``kind``: the explicit URL when given, else the region's default."""
    if explicit:
        return validate_url(explicit)
    if not region:
        raise ValueError(f"no {kind} endpoint: set an endpoint URL or a region")
    if kind == "drs":
        return drs_endpoint(region)
    if kind == "iam":
        return iam_endpoint(region)
    raise ValueError(f"unknown endpoint kind {kind!r}")


def _segment(value: str, what: str) -> str:
    if not value:
        raise ValueError(f"{what} must not be empty")
    if value in (".", ".."):  # would climb out of the path once resolved
        raise ValueError(f"{what} must not be {value!r}")
    return quote(value, safe="")


def batch_detail_path(project_id: str) -> str:
    """``/v3/{project_id}/jobs/batch-detail`` with the project ID percent-encoded."""
    return f"/v3/{_segment(project_id, 'the project ID')}/jobs/batch-detail"


def iam_tokens_url(iam: str) -> str:
    """The IAM token URL under an IAM endpoint (which may carry a path prefix)."""
    return validate_url(iam) + "/v3/auth/tokens"
