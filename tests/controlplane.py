"""The cluster tier's control plane: one etcd + kube-apiserver for the whole session.

Tests marked ``cluster`` (every test under tests/cluster/, and the e2e tests'
``apiserver`` backend) need the binaries that ``tools/controlplane/build.py``
builds from Go modules (``make test`` builds them first when Go is there).
When they are missing the tier is skipped, and the terminal summary says so in
one line with the reason (e.g. ``go not found on PATH``). With
``DRS_REQUIRE_CLUSTER_TIER=1`` (set by .ci/run) a skipped tier fails the run.

Fixtures
========
``controlplane``
    Session scope: a started :class:`drs_operator.sandbox.controlplane.ControlPlane`
    with the DrsJob CRD installed and an admin kubeconfig
    (``controlplane.kubeconfig``); stopped after the session.
``controlplane_binaries``
    Session scope: its :class:`~drs_operator.sandbox.controlplane.Binaries`
    (``kubectl``, ``kstatus``, ``luahealth`` ...), without starting anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from drs_operator.sandbox.controlplane import (
    Binaries,
    ControlPlane,
    ControlPlaneUnavailable,
    find_binaries,
)

REQUIRE_ENV = "DRS_REQUIRE_CLUSTER_TIER"
MARKER = "cluster"

_skip_reason = pytest.StashKey[str]()


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tier = [item for item in items if item.get_closest_marker(MARKER)]
    if not tier:
        return
    try:
        find_binaries()
    except ControlPlaneUnavailable as exc:
        reason = f"cluster tier skipped ({len(tier)} tests): {exc}"
        config.stash[_skip_reason] = reason
        for item in tier:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    reason = config.stash.get(_skip_reason, None)
    if reason is None:
        return
    if _required():
        terminalreporter.write_line(f"FAILED: {reason}; {REQUIRE_ENV}=1 requires it", red=True)
    else:
        terminalreporter.write_line(reason, yellow=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _required() and session.config.stash.get(_skip_reason, None) is not None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def controlplane_binaries() -> Binaries:
    try:
        return find_binaries()
    except ControlPlaneUnavailable as exc:  # collection already skipped the tier; a safety net
        if _required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def controlplane(controlplane_binaries: Binaries) -> Iterator[ControlPlane]:
    plane = ControlPlane(controlplane_binaries)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
