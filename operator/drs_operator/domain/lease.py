"""The ``coordination.k8s.io/v1`` Lease of leader election, as data (pure).

What :mod:`drs_operator.engine.leader` writes and how it reads what it finds,
with client-go's conventions:

- :func:`held` is the Lease to write to take or keep it: the holder is this
  process, ``renewTime`` is now and ``leaseDurationSeconds`` the lease
  duration rounded up to whole seconds; taking it over from someone else (or
  creating it) also sets ``acquireTime`` and counts one more
  ``leaseTransitions`` (none on creation); the ``metadata`` it was read with,
  its ``resourceVersion`` included, is kept, so the API server refuses the
  write (409) if someone else wrote the Lease since;
- :func:`released` clears the holder (client-go's release: a standby may take
  it at once) and keeps the count of transitions;
- :func:`observed` is what is compared to notice that the Lease changed (a
  standby measures the lease duration from the moment it saw the change);
- times are MicroTime: RFC 3339 with microseconds, in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["duration_of", "held", "holder_of", "micro_time", "observed", "released"]

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
_OBSERVED = (
    "holderIdentity",
    "renewTime",
    "acquireTime",
    "leaseTransitions",
    "leaseDurationSeconds",
)


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _spec(lease: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = (lease or {}).get("spec")
    return dict(spec) if isinstance(spec, Mapping) else {}


def holder_of(lease: Mapping[str, Any] | None) -> str | None:
    """The holder's identity; None when nobody holds it (never created, or released)."""
    holder = _spec(lease).get("holderIdentity")
    return str(holder) if holder else None


def duration_of(lease: Mapping[str, Any] | None) -> float:
    """The lease duration the holder declared, in seconds (0 when none)."""
    value = _spec(lease).get("leaseDurationSeconds")
    return float(value) if isinstance(value, int | float) else 0.0


def observed(lease: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What changes when the holder renews, takes over or releases the Lease."""
    spec = _spec(lease)
    return tuple(spec.get(key) for key in _OBSERVED)


def held(
    lease: Mapping[str, Any] | None,
    *,
    name: str,
    namespace: str,
    identity: str,
    duration: float,
    now: datetime,
    acquire: bool,
) -> dict[str, Any]:
    """The Lease to write for ``identity`` to hold it from ``now`` (``lease``: as read; None
    to create it); ``acquire``: taken over now, not renewed."""
    stamp = micro_time(now)
    old = _spec(lease)
    spec = {
        **old,
        "holderIdentity": identity,
        "leaseDurationSeconds": math.ceil(duration),
        "renewTime": stamp,
    }
    if acquire or lease is None:
        spec["acquireTime"] = stamp
        spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + (1 if lease else 0)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if lease is not None:
        metadata = {**(lease.get("metadata") or {}), **metadata}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def released(lease: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The Lease with no holder (as client-go releases it: a one-second lease, times now)."""
    stamp = micro_time(now)
    spec = {
        **_spec(lease),
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": stamp,
        "renewTime": stamp,
    }
    return {**lease, "spec": spec}
