"""The DRS task status table: which group and which phase each status belongs to.

Groups drive the conditions and the refresh cadence; phases are what
``kubectl get drsjobs`` shows. The grouping follows the field notes:

* ``IN_PROGRESS``: the task is being created, started, changed, stopped or
  repaired; it moves on by itself (``Reconciling``).
* ``STEADY``: a healthy resting state (``Ready``). ``PAUSING`` is steady but
  shown as phase ``Paused``. ``FULL_TRANSFER_COMPLETE`` and
  ``CHILD_TRANSFER_COMPLETE`` are steady with phase ``Completed``: a
  full+incremental task passes through them on its way to incremental sync,
  so one that *stays* there is a full-only migration that is done and healthy.
* ``FAILED``: every ``*_FAILED`` status (``Stalled``).
* ``FINISHED``: stopped and released (``RELEASE_RESOURCE_COMPLETE``,
  ``RELEASE_CHILD_TRANSFER_COMPLETE``, phase ``Completed``) or gone
  (``DELETED``, phase ``Deleted``).
* ``UNKNOWN``: a status this table does not know (kept verbatim, phase ``Unknown``).

Phases: ``Pending`` (created/configured/waiting, nothing transferred yet),
``Running`` (transferring, or busy changing/stopping/upgrading),
``Paused``, ``Completed``, ``Failed``, ``Deleted``, ``Unknown``.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALL_PHASES",
    "ALL_STATUSES",
    "PHASE_COMPLETED",
    "PHASE_DELETED",
    "PHASE_FAILED",
    "PHASE_PAUSED",
    "PHASE_PENDING",
    "PHASE_RUNNING",
    "PHASE_UNKNOWN",
    "STATUS_DELETED",
    "STATUS_PAUSING",
    "STATUS_TABLE",
    "Group",
    "group_of",
    "phase_of",
]


class Group(StrEnum):
    """What a task status means for the operator."""

    IN_PROGRESS = "InProgress"
    STEADY = "Steady"
    FAILED = "Failed"
    FINISHED = "Finished"
    UNKNOWN = "Unknown"


PHASE_PENDING: Final = "Pending"
PHASE_RUNNING: Final = "Running"
PHASE_PAUSED: Final = "Paused"
PHASE_COMPLETED: Final = "Completed"
PHASE_FAILED: Final = "Failed"
PHASE_DELETED: Final = "Deleted"
PHASE_UNKNOWN: Final = "Unknown"
ALL_PHASES: Final = (
    PHASE_PENDING,
    PHASE_RUNNING,
    PHASE_PAUSED,
    PHASE_COMPLETED,
    PHASE_FAILED,
    PHASE_DELETED,
    PHASE_UNKNOWN,
)

STATUS_PAUSING: Final = "PAUSING"
STATUS_DELETED: Final = "DELETED"

_IP, _ST, _FA, _FI = Group.IN_PROGRESS, Group.STEADY, Group.FAILED, Group.FINISHED

#: status → (group, phase), for every status the API is known to send.
STATUS_TABLE: Final = MappingProxyType(
    {
        # in progress, nothing transferred yet
        "CREATING": (_IP, PHASE_PENDING),
        "CONFIGURATION": (_IP, PHASE_PENDING),
        "STARTJOBING": (_IP, PHASE_PENDING),
        "WAITING_FOR_START": (_IP, PHASE_PENDING),
        # in progress, transferring or busy
        "FULL_TRANSFER_STARTED": (_IP, PHASE_RUNNING),
        "RELEASE_RESOURCE_STARTED": (_IP, PHASE_RUNNING),
        "CHANGE_JOB_STARTED": (_IP, PHASE_RUNNING),
        "CHILD_TRANSFER_STARTING": (_IP, PHASE_RUNNING),
        "CHILD_TRANSFER_STARTED": (_IP, PHASE_RUNNING),
        "RELEASE_CHILD_TRANSFER_STARTED": (_IP, PHASE_RUNNING),
        "REBUILD_NODE_STARTED": (_IP, PHASE_RUNNING),
        "NODE_UPGRADE_START": (_IP, PHASE_RUNNING),
        # healthy, steady
        "INCRE_TRANSFER_STARTED": (_ST, PHASE_RUNNING),
        "NODE_UPGRADE_COMPLETE": (_ST, PHASE_RUNNING),
        "FULL_TRANSFER_COMPLETE": (_ST, PHASE_COMPLETED),
        "CHILD_TRANSFER_COMPLETE": (_ST, PHASE_COMPLETED),
        STATUS_PAUSING: (_ST, PHASE_PAUSED),
        # failed
        "CREATE_FAILED": (_FA, PHASE_FAILED),
        "START_JOB_FAILED": (_FA, PHASE_FAILED),
        "FULL_TRANSFER_FAILED": (_FA, PHASE_FAILED),
        "INCRE_TRANSFER_FAILED": (_FA, PHASE_FAILED),
        "RELEASE_RESOURCE_FAILED": (_FA, PHASE_FAILED),
        "CHANGE_JOB_FAILED": (_FA, PHASE_FAILED),
        "CHILD_TRANSFER_FAILED": (_FA, PHASE_FAILED),
        "REBUILD_NODE_FAILED": (_FA, PHASE_FAILED),
        "NODE_UPGRADE_FAILED": (_FA, PHASE_FAILED),
        # finished or gone
        "RELEASE_RESOURCE_COMPLETE": (_FI, PHASE_COMPLETED),
        "RELEASE_CHILD_TRANSFER_COMPLETE": (_FI, PHASE_COMPLETED),
        STATUS_DELETED: (_FI, PHASE_DELETED),
    }
)

#: Every known status (22 distinct ones on the reference page + 7 seen on real servers).
ALL_STATUSES: Final = frozenset(STATUS_TABLE)


def group_of(status: str | None) -> Group:
    """The group of a status; ``UNKNOWN`` for None or a status not in the table."""
    if status is None:
        return Group.UNKNOWN
    entry = STATUS_TABLE.get(status)
    return entry[0] if entry else Group.UNKNOWN


def phase_of(status: str | None) -> str:
    """The phase shown for a status; ``Unknown`` for None or an unknown status."""
    if status is None:
        return PHASE_UNKNOWN
    entry = STATUS_TABLE.get(status)
    return entry[1] if entry else PHASE_UNKNOWN
