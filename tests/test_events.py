"""Tests for drs_operator.domain.events: one event per change, none without a change."""

from __future__ import annotations

from typing import Any

import pytest

from drs_operator.domain.events import EventSpec, transition_events


def _status(
    task: str | None = None, synced: tuple[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    status: dict[str, Any] = dict(extra)
    if task is not None:
        status["taskStatus"] = task
    if synced is not None:
        status["conditions"] = [
            {"type": "Ready", "status": "True", "reason": "TaskHealthy", "message": ""},
            {
                "type": "Synced",
                "status": synced[0],
                "reason": synced[1],
                "message": "why it is so",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            },
        ]
    return status


OK = ("True", "Refreshed")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK),
            _status("INCRE_TRANSFER_STARTED", OK),
            [],
            id="nothing changed: no event",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK, jobName="a"),
            _status("INCRE_TRANSFER_STARTED", OK, jobName="b"),
            [],
            id="other fields changed: no event",
        ),
        pytest.param(
            None,
            _status("CREATING", OK),
            [EventSpec("Normal", "TaskObserved", "Task status is CREATING")],
            id="first observation: one event, the first successful refresh is implied",
        ),
        pytest.param(
            _status("FULL_TRANSFER_STARTED", OK),
            _status("INCRE_TRANSFER_STARTED", OK),
            [
                EventSpec(
                    "Normal",
                    "TaskStatusChanged",
                    "Task status changed from FULL_TRANSFER_STARTED to INCRE_TRANSFER_STARTED",
                )
            ],
            id="progress is Normal",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK),
            _status("INCRE_TRANSFER_FAILED", OK),
            [
                EventSpec(
                    "Warning",
                    "TaskStatusChanged",
                    "Task status changed from INCRE_TRANSFER_STARTED to INCRE_TRANSFER_FAILED",
                )
            ],
            id="failure is a Warning",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK),
            _status("DELETED", OK),
            [
                EventSpec(
                    "Warning",
                    "TaskStatusChanged",
                    "Task status changed from INCRE_TRANSFER_STARTED to DELETED",
                )
            ],
            id="deletion is a Warning",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK),
            _status(None, OK),
            [
                EventSpec(
                    "Warning",
                    "TaskStatusChanged",
                    "Task status changed from INCRE_TRANSFER_STARTED to <none>",
                )
            ],
            id="status disappearing is a Warning",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_FAILED", OK),
            _status("INCRE_TRANSFER_STARTED", OK),
            [
                EventSpec(
                    "Normal",
                    "TaskStatusChanged",
                    "Task status changed from INCRE_TRANSFER_FAILED to INCRE_TRANSFER_STARTED",
                )
            ],
            id="recovery from failure is Normal",
        ),
        pytest.param(
            _status("X", OK),
            _status("X", ("False", "Throttled")),
            [
                EventSpec(
                    "Warning",
                    "SyncFailed",
                    "Synced changed from True (Refreshed) to False (Throttled): why it is so",
                )
            ],
            id="sync failing is a Warning with the cause",
        ),
        pytest.param(
            _status("X", ("False", "Throttled")),
            _status("X", ("False", "AuthFailed")),
            [
                EventSpec(
                    "Warning",
                    "SyncFailed",
                    "Synced changed from False (Throttled) to False (AuthFailed): why it is so",
                )
            ],
            id="reason change alone is an event",
        ),
        pytest.param(
            _status("X", ("False", "Throttled")),
            _status("X", OK),
            [
                EventSpec(
                    "Normal",
                    "SyncRecovered",
                    "Synced changed from False (Throttled) to True (Refreshed)",
                )
            ],
            id="sync recovering is Normal",
        ),
        pytest.param(
            _status("X", OK),
            _status("X", ("False", "Suspended")),
            [
                EventSpec(
                    "Normal",
                    "SyncSuspended",
                    "Synced changed from True (Refreshed) to False (Suspended): why it is so",
                )
            ],
            id="suspension is intended: Normal",
        ),
        pytest.param(
            _status("INCRE_TRANSFER_STARTED", OK),
            _status("INCRE_TRANSFER_FAILED", ("False", "NotFound")),
            [
                EventSpec(
                    "Warning",
                    "TaskStatusChanged",
                    "Task status changed from INCRE_TRANSFER_STARTED to INCRE_TRANSFER_FAILED",
                ),
                EventSpec(
                    "Warning",
                    "SyncFailed",
                    "Synced changed from True (Refreshed) to False (NotFound): why it is so",
                ),
            ],
            id="both changed: two events",
        ),
    ],
)
def test_transition_events(
    old: dict[str, Any] | None, new: dict[str, Any], expected: list[EventSpec]
) -> None:
    assert transition_events(old, new) == expected


def test_same_status_and_reason_with_new_message_is_not_an_event() -> None:
    old = _status("X", ("False", "Throttled"))
    new = _status("X", ("False", "Throttled"))
    new["conditions"][1]["message"] = "throttled again (request 2)"
    assert transition_events(old, new) == []


def test_long_messages_are_clipped_to_fit_an_event() -> None:
    old = _status("X", OK)
    new = _status("X", ("False", "ApiError"))
    new["conditions"][1]["message"] = "é" * 5000
    [event] = transition_events(old, new)
    assert len(event.message.encode()) <= 1024


def test_malformed_statuses_do_not_break() -> None:
    assert (
        transition_events({"conditions": "nope", "taskStatus": 5}, {"conditions": [1, None]}) == []
    )
