"""The DrsJob CustomResourceDefinition, as shipped inside the package.

``crds/drsjobs.yaml`` is the source; ``drs_operator/data/drsjobs.yaml`` is a byte-identical
copy installed with the package (a test keeps them equal), so that ``drs-operator get`` and
the demo emulator have the CRD without a checkout.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final

import yaml

from drs_operator.domain.printing import DEFAULT_VERSION, Column, columns_from_crd

CRD_RESOURCE: Final = "drsjobs.yaml"


def crd_text() -> str:
    """The CRD manifest exactly as shipped."""
    return resources.files("drs_operator").joinpath("data", CRD_RESOURCE).read_text("utf-8")


def load_crd() -> dict[str, Any]:
    """The CRD manifest as a dict (a fresh copy on each call)."""
    loaded = yaml.safe_load(crd_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{CRD_RESOURCE} does not hold one mapping")
    return loaded


def printer_columns(
    crd: dict[str, Any] | None = None, *, version: str = DEFAULT_VERSION
) -> list[Column]:
    """The printer columns of ``crd`` (default: the packaged CRD)."""
    return columns_from_crd(load_crd() if crd is None else crd, version=version)
