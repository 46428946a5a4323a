"""Tests for drs_operator.domain.phases: every known DRS status has a group and a phase."""

from __future__ import annotations

import pytest

from drs_operator.domain.phases import ALL_PHASES, ALL_STATUSES, Group, group_of, phase_of

IP, ST, FA, FI = Group.IN_PROGRESS, Group.STEADY, Group.FAILED, Group.FINISHED

# (status, group, phase, reason)
TABLE = [
    ("CREATING", IP, "Pending", "the task is being created"),
    ("CONFIGURATION", IP, "Pending", "the task is being configured"),
    ("STARTJOBING", IP, "Pending", "the task is starting, nothing transferred yet"),
    ("WAITING_FOR_START", IP, "Pending", "scheduled start not reached"),
    ("FULL_TRANSFER_STARTED", IP, "Running", "full transfer is moving data"),
    ("RELEASE_RESOURCE_STARTED", IP, "Running", "the task is being stopped"),
    ("CHANGE_JOB_STARTED", IP, "Running", "the task is being changed"),
    ("CHILD_TRANSFER_STARTING", IP, "Running", "a subtask is starting"),
    ("CHILD_TRANSFER_STARTED", IP, "Running", "a subtask is migrating"),
    ("RELEASE_CHILD_TRANSFER_STARTED", IP, "Running", "a subtask is being stopped"),
    ("REBUILD_NODE_STARTED", IP, "Running", "a node is being rebuilt"),
    ("NODE_UPGRADE_START", IP, "Running", "a node is being upgraded"),
    ("INCRE_TRANSFER_STARTED", ST, "Running", "incremental sync is the healthy steady state"),
    ("NODE_UPGRADE_COMPLETE", ST, "Running", "upgrade done, replication continues"),
    ("FULL_TRANSFER_COMPLETE", ST, "Completed", "a full-only migration that is done"),
    ("CHILD_TRANSFER_COMPLETE", ST, "Completed", "the subtask migration is done"),
    ("PAUSING", ST, "Paused", "paused is steady but shown as Paused"),
    ("CREATE_FAILED", FA, "Failed", "creation failed"),
    ("START_JOB_FAILED", FA, "Failed", "start failed"),
    ("FULL_TRANSFER_FAILED", FA, "Failed", "full transfer failed"),
    ("INCRE_TRANSFER_FAILED", FA, "Failed", "incremental sync failed"),
    ("RELEASE_RESOURCE_FAILED", FA, "Failed", "stopping failed"),
    ("CHANGE_JOB_FAILED", FA, "Failed", "change failed"),
    ("CHILD_TRANSFER_FAILED", FA, "Failed", "subtask failed"),
    ("REBUILD_NODE_FAILED", FA, "Failed", "node rebuild failed"),
    ("NODE_UPGRADE_FAILED", FA, "Failed", "node upgrade failed"),
    ("RELEASE_RESOURCE_COMPLETE", FI, "Completed", "the task was stopped on purpose"),
    ("RELEASE_CHILD_TRANSFER_COMPLETE", FI, "Completed", "the subtask was stopped"),
    ("DELETED", FI, "Deleted", "the task is gone"),
]


@pytest.mark.parametrize(
    ("status", "group", "phase"),
    [
        pytest.param(status, group, phase, id=f"{status}: {why}")
        for status, group, phase, why in TABLE
    ],
)
def test_known_status(status: str, group: Group, phase: str) -> None:
    assert group_of(status) is group
    assert phase_of(status) == phase


def test_table_covers_every_known_status_exactly_once() -> None:
    statuses = [row[0] for row in TABLE]
    assert len(statuses) == len(set(statuses)) == 29  # 22 on the reference page + 7 seen live
    assert set(statuses) == ALL_STATUSES


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(None, id="no status at all"),
        pytest.param("", id="empty status"),
        pytest.param("SOMETHING_NEW", id="a status added by the vendor later"),
        pytest.param("incre_transfer_started", id="statuses are case-sensitive"),
        pytest.param(" INCRE_TRANSFER_STARTED", id="no trimming: verbatim only"),
    ],
)
def test_unknown_status(status: str | None) -> None:
    assert group_of(status) is Group.UNKNOWN
    assert phase_of(status) == "Unknown"


def test_phases_are_the_documented_set() -> None:
    assert set(ALL_PHASES) == {
        "Pending",
        "Running",
        "Paused",
        "Completed",
        "Failed",
        "Deleted",
        "Unknown",
    }
    assert {phase_of(status) for status in ALL_STATUSES} == set(ALL_PHASES) - {"Unknown"}
