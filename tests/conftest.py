"""Fixtures shared by the component tests (tests/component.py) and the cluster tier's
control plane (tests/controlplane.py: the ``controlplane`` fixture and the tier's skip)."""

from tests.component import cluster, operator, simulator

pytest_plugins = ["tests.controlplane"]

__all__ = ["cluster", "operator", "simulator"]
