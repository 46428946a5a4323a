"""Fixtures shared by the component tests (see tests/component.py)."""

from tests.component import cluster, operator, simulator

__all__ = ["cluster", "operator", "simulator"]
