"""The resources the emulator serves, how they are named, and its API error.

:class:`ResourceSpec` describes one served resource (group, version, plural,
kind, scope, discovery information); :data:`RESOURCES` is the table of all of
them (DrsJobs, Secrets, core and ``events.k8s.io`` Events, Namespaces, CRDs,
``coordination.k8s.io`` Leases),
:data:`ALIASES` the short names the in-process helpers accept, and
:func:`resolve` turns either form into a spec. :class:`ApiError` is a
Kubernetes API error rendered as a ``Status`` object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALIASES",
    "CRDS",
    "DRSJOBS",
    "EVENTS",
    "EVENTS_V1",
    "LEASES",
    "NAMESPACES",
    "RESOURCES",
    "SECRETS",
    "ApiError",
    "Obj",
    "ResourceSpec",
    "resolve",
]

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceSpec:
    """One served resource: identity and discovery information."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    status_subresource: bool = False
    singular: str = ""
    shortnames: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


DRSJOBS = ResourceSpec(
    "drs.operators.dev",
    "v1alpha1",
    "drsjobs",
    "DrsJob",
    namespaced=True,
    status_subresource=True,
    singular="drsjob",
    shortnames=("drsj",),
    categories=("drs",),
)
SECRETS = ResourceSpec("", "v1", "secrets", "Secret", namespaced=True, singular="secret")
EVENTS = ResourceSpec("", "v1", "events", "Event", namespaced=True, singular="event")
EVENTS_V1 = ResourceSpec("events.k8s.io", "v1", "events", "Event", namespaced=True)
NAMESPACES = ResourceSpec("", "v1", "namespaces", "Namespace", namespaced=False)
CRDS = ResourceSpec(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
)
LEASES = ResourceSpec("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)
RESOURCES: tuple[ResourceSpec, ...] = (
    DRSJOBS,
    SECRETS,
    EVENTS,
    EVENTS_V1,
    NAMESPACES,
    CRDS,
    LEASES,
)

# Short names accepted by the in-process helpers, besides "group/version/plural".
ALIASES: dict[str, ResourceSpec] = {
    "drsjobs": DRSJOBS,
    "secrets": SECRETS,
    "events": EVENTS,
    "namespaces": NAMESPACES,
    "customresourcedefinitions": CRDS,
    "leases": LEASES,
}


def resolve(resource: str | ResourceSpec) -> ResourceSpec:
    """``"drsjobs"`` or ``"drs.operators.dev/v1alpha1/drsjobs"`` → its spec."""
    if isinstance(resource, ResourceSpec):
        return resource
    if resource in ALIASES:
        return ALIASES[resource]
    for spec in RESOURCES:
        if resource in (f"{spec.api_version}/{spec.plural}", f"{spec.group}/{spec.plural}"):
            return spec
    raise KeyError(f"resource not served by the emulator: {resource!r}")


class ApiError(Exception):
    """A Kubernetes API error, rendered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
            "details": self.details,
        }
