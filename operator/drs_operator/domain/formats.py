"""The text formats of the DrsJob API, one spelling each (pure).

Every pattern the operator checks lives here (the CRD's schema holds the same
ones for the API server; ``tests/test_crd.py`` keeps them equal where they
must be), and every module that parses one of these formats calls these
functions:

* :data:`JOB_ID_PATTERN`: a DRS task ID, 36 characters in UUID layout,
  lower-case letters and digits (real IDs end in ``jb21``: not hex).
* :data:`DURATION_PATTERN` / :func:`parse_duration`: ``500ms``, ``30s``,
  ``5m``, ``1h``, and sums such as ``1h30m`` (``spec.refreshInterval`` and
  every duration setting of ``drs-operator run``).
* :data:`DNS1123_SUBDOMAIN_PATTERN` / :func:`is_dns1123_subdomain`: Kubernetes
  object names (Secrets, namespaces).
* :data:`PROJECT_ID_PATTERN`: a cloud project ID.
* :data:`REGION_PATTERN`: a region, the DRS client's own pattern
  (:mod:`drs_operator.drs.endpoints`), since a region becomes part of a host name.
"""

from __future__ import annotations

import math
import re
from typing import Final

from drs_operator.drs.endpoints import REGION_PATTERN, validate_region

__all__ = [
    "DNS1123_SUBDOMAIN_PATTERN",
    "DURATION_PATTERN",
    "JOB_ID_PATTERN",
    "PROJECT_ID_PATTERN",
    "PROJECT_ID_RULE",
    "REGION_PATTERN",
    "dns_name",
    "format_seconds",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_job_id",
    "is_project_id",
    "is_region",
    "parse_duration",
    "resource_version",
]

JOB_ID_PATTERN: Final = r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$"
DURATION_PATTERN: Final = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS1123_SUBDOMAIN_PATTERN: Final = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
PROJECT_ID_PATTERN: Final = r"^[A-Za-z0-9]{1,64}$"
PROJECT_ID_RULE: Final = "must be 1-64 letters and digits"

_JOB_ID_RE: Final = re.compile(JOB_ID_PATTERN)
_DURATION_RE: Final = re.compile(DURATION_PATTERN)
_DURATION_PART_RE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_BARE_SECONDS_RE: Final = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DNS1123_RE: Final = re.compile(DNS1123_SUBDOMAIN_PATTERN)
_PROJECT_ID_RE: Final = re.compile(PROJECT_ID_PATTERN)
_MAX_DURATION_TEXT: Final = 64
_MAX_NAME: Final = 253
DURATION_HELP: Final = (
    "a number with a unit ms, s, m or h, repeated (for example 500ms, 30s, 5m, 1h30m)"
)


def parse_duration(text: str, *, bare_seconds: bool = False) -> float:
    """``"30s"`` → 30.0, ``"1h30m"`` → 5400.0, ``"500ms"`` → 0.5 (units ms, s, m, h).

    Accepts exactly :data:`DURATION_PATTERN` (surrounding whitespace ignored);
    with ``bare_seconds`` a plain number counts as seconds too (``"15"``, for
    settings). Raises ``ValueError`` with a message that says what is accepted.
    """
    if not isinstance(text, str):
        raise ValueError("must be a duration string such as 30s, 5m or 1h")
    text = text.strip()
    if bare_seconds and _BARE_SECONDS_RE.match(text):
        return float(text)
    if len(text) > _MAX_DURATION_TEXT or not _DURATION_RE.match(text):
        raise ValueError(f"must be {DURATION_HELP}")
    total = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART_RE.findall(text)
    )
    if not math.isfinite(total):
        raise ValueError("too large")
    return total


def format_seconds(seconds: float) -> str:
    """``5.0`` → ``"5s"``, ``0.5`` → ``"0.5s"``."""
    return f"{seconds:g}s"


def format_duration(seconds: float) -> str:
    """A duration as :func:`parse_duration` reads it: ``300`` → ``"5m"``, ``5400`` → ``"1h30m"``,
    ``0.5`` → ``"500ms"``, ``90.5`` → ``"90.5s"``."""
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


def is_dns1123_label(text: object) -> bool:
    """A Kubernetes namespace name: a DNS-1123 label (no dots, at most 63 characters)."""
    return is_dns1123_subdomain(text) and "." not in str(text) and len(str(text)) <= 63


def dns_name(text: str | None, *, fallback: str, limit: int = 63) -> str:
    """A Kubernetes object name made from free text (a task's name): lower-case letters,
    digits and single dashes, at most ``limit`` characters; ``fallback`` if nothing is left."""
    name = re.sub(r"[^a-z0-9-]+", "-", (text or "").lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:limit].strip("-")
    return name if name and is_dns1123_subdomain(name) else fallback


def resource_version(value: object) -> int | None:
    """A resourceVersion as the number etcd gives it (None when it is not one: a
    Kubernetes client must treat it as opaque, so only the operator's own ordering
    of list and watch versions uses this)."""
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def is_job_id(text: object) -> bool:
    return isinstance(text, str) and bool(_JOB_ID_RE.match(text))


def is_dns1123_subdomain(text: object) -> bool:
    return isinstance(text, str) and len(text) <= _MAX_NAME and bool(_DNS1123_RE.match(text))


def is_project_id(text: object) -> bool:
    return isinstance(text, str) and bool(_PROJECT_ID_RE.match(text))


def is_region(text: object) -> bool:
    try:
        validate_region(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True
