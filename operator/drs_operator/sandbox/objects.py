"""Kubernetes objects the demo and the benchmarks create: the credentials Secret (pure)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any


def secret(name: str, namespace: str, values: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret holding ``values`` (base64-encoded, as ``data`` wants them)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
