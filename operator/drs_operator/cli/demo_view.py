"""What ``drs-operator demo`` shows: its screen and its closing summary (pure, no I/O).

:func:`render_frame` lays out one screen for a terminal of ``width`` x ``height``:
the header (where everything runs, the log folder, the command that reads the
demo's cluster: kubectl on a real kube-apiserver, ``drs-operator get`` on the
emulator) stays on top; the DrsJob table comes
next, ``-o wide`` only when it fits the width, else kubectl's default columns
(cut to the width if even those do not fit, with a ``… N more`` line when the
rows do not fit the height); then the operator's cost and as many of the
latest events as fit. Every line is at most ``width`` characters and there
are at most ``height`` lines, so a redraw in place never scrolls.

:class:`Tracker` records what each frame saw (the first and last DRS status of
every DrsJob, the events, how long it ran) and :meth:`Tracker.summary` writes
the closing note from that alone: which tasks changed, which failed during the
run (every one of them, by name) or were failed already, which DrsJobs name a
task that does not exist, whether every DrsJob shows its task's current
status, and whether any secret was found in a status, an event or the log.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from drs_operator.domain.conditions import READY, REASON_NOT_FOUND, STALLED, SYNCED
from drs_operator.domain.printing import Column, render_table

MIN_EVENTS: Final = 3  # the events block is dropped rather than shown with fewer lines
MAX_EVENTS: Final = 8
ELLIPSIS: Final = "…"


@dataclass(frozen=True)
class Header:
    """Where the demo's parts run (shown on every frame)."""

    simulator_url: str
    kube_url: str
    namespace: str
    log_dir: str
    kubeconfig: str
    tasks: int
    pid: int | None = None
    kubectl: str | None = None  # the kubectl to use when the API is a real kube-apiserver
    api_kind: str = "embedded emulator"  # what serves the Kubernetes API


@dataclass(frozen=True)
class Counts:
    """What the operator cost so far."""

    calls: int
    ids: int
    writes: int


def clip(line: str, width: int) -> str:
    """``line`` cut to ``width`` characters (… marks a cut)."""
    return line if len(line) <= width else line[: max(0, width - 1)] + ELLIPSIS


def get_command(header: Header, *, wide: bool = False) -> str:
    """The command that shows the demo's DrsJobs: kubectl on a real kube-apiserver,
    ``drs-operator get`` on the emulator (kubectl cannot read it)."""
    tool = f"{header.kubectl} --kubeconfig" if header.kubectl else "drs-operator get --kubeconfig"
    what = " get drsjobs" if header.kubectl else ""
    return f"{tool} {header.kubeconfig}{what} -n {header.namespace}" + (" -o wide" if wide else "")


def kubectl_commands(header: Header, *, example: str | None) -> list[str]:
    """kubectl commands to try on the demo's real kube-apiserver (none on the emulator);
    ``example`` is one of the scenario's DrsJobs (the scenario may be the user's own)."""
    if not header.kubectl:
        return []
    base = f"{header.kubectl} --kubeconfig {header.kubeconfig} -n {header.namespace}"
    commands = [f"{base} get drsjobs -o wide"]
    if example:
        commands += [
            f"{base} describe drsjob {example}",
            f"{base} wait drsjob/{example} --for=condition=Synced --timeout=60s",
        ]
    return commands


def header_lines(header: Header, *, elapsed: float, duration: float, width: int) -> list[str]:
    pid = f"pid {header.pid}" if header.pid is not None else "starting"
    lines = [
        f"drs-operator demo · t={elapsed:.0f}s of {duration:.0f}s · Ctrl-C stops · "
        "everything runs on loopback",
        f"  DRS simulator   {header.simulator_url} ({header.tasks} tasks)",
        f"  Kubernetes API  {header.kube_url} ({header.api_kind}, namespace {header.namespace}"
        + ("; kubectl works)" if header.kubectl else "; not a kubectl target)"),
        f"  Operator        {pid}: drs-operator run -n {header.namespace}",
        f"  Log folder      {header.log_dir} (operator.log, kubeconfig; kept)",
        f"  Read the table  {get_command(header)}",
    ]
    wrapped: list[str] = []
    for line in lines:  # wrapped rather than cut: the paths and the command must show whole
        wrapped += textwrap.wrap(
            line,
            width=width,
            subsequent_indent=" " * 18,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
    return [clip(line, width) for line in wrapped]


def fit_table(
    objects: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    width: int,
    now: datetime,
) -> tuple[list[str], bool]:
    """The table's lines (``-o wide`` when it fits ``width``) and whether it is the wide one."""
    for wide in (True, False):
        text = render_table(objects, columns, wide=wide, with_namespace=False, now=now)
        lines = text.rstrip("\n").splitlines()
        if all(len(line) <= width for line in lines) or not wide:
            return [clip(line, width) for line in lines], wide
    raise AssertionError("unreachable")  # pragma: no cover


def event_line(event: Mapping[str, Any], width: int) -> str:
    involved: Mapping[str, Any] = event.get("involvedObject") or {}
    return clip(
        f"  {event.get('type', ''):7} {involved.get('name', ''):20} "
        f"{event.get('reason', ''):17} {event.get('message', '')}",
        width,
    )


def render_frame(
    *,
    header: Header,
    objects: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    counts: Counts,
    columns: Sequence[Column],
    elapsed: float,
    duration: float,
    now: datetime,
    width: int,
    height: int,
) -> list[str]:
    """One screen: at most ``height`` lines of at most ``width`` characters."""
    width = max(width, 20)
    top = header_lines(header, elapsed=elapsed, duration=duration, width=width)
    table, wide = fit_table(objects, columns, width=width, now=now)
    title = clip(
        f"kubectl get drsjobs -n {header.namespace}{' -o wide' if wide else ''}"
        f"  (as the operator wrote them; {len(objects)} DrsJobs)",
        width,
    )
    cost = clip(
        f"Operator so far: {counts.calls} batch-detail calls for {counts.ids} task IDs "
        f"({counts.ids / counts.calls if counts.calls else 0:.1f} per call), "
        f"{counts.writes} status writes (only on change), {len(events)} events",
        width,
    )
    fixed = [*top, "", title, cost]
    room = max(0, height - len(fixed) - 1)  # one blank line before the cost
    events_block: list[str] = []
    spare = room - len(table)
    if spare >= MIN_EVENTS + 2:  # a blank line and a title
        shown = min(MAX_EVENTS, spare - 2, len(events))
        title_line = f"Latest events (kubectl get events -n {header.namespace}):"
        events_block = ["", clip(title_line, width)]
        events_block += [event_line(e, width) for e in events[len(events) - shown :]]
    elif len(table) > room:  # not even the table fits: keep its head and say what is left out
        keep = max(1, room - 1)
        more = f"{ELLIPSIS} {len(table) - keep} more rows (a taller terminal shows them)"
        table = [*table[:keep], clip(more, width)]
    lines = [*top, "", title, *table, "", cost, *events_block]
    return lines[:height]


# -- the closing summary --------------------------------------------------------------------------


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(item, Mapping) and item.get("type") == kind:
            return item
    return {}


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _names(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass
class Tracker:
    """What the demo saw, frame after frame; the summary is computed from it alone."""

    first_status: dict[str, str] = field(default_factory=dict)
    last_objects: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    events: list[Mapping[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0

    def observe(
        self,
        objects: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]],
        elapsed: float,
    ) -> None:
        for obj in objects:
            name = _name(obj)
            status = (obj.get("status") or {}).get("taskStatus")
            if isinstance(status, str) and name not in self.first_status:
                self.first_status[name] = status
            self.last_objects[name] = obj
        self.events = list(events)
        self.elapsed = elapsed

    def failed_during_run(self) -> list[str]:
        """DrsJobs whose task went to a failed state while the demo watched."""
        names = []
        for name, obj in sorted(self.last_objects.items()):
            status = obj.get("status") or {}
            if status.get("phase") == "Failed" and self.first_status.get(name) != status.get(
                "taskStatus"
            ):
                names.append(name)
        return names

    def summary(
        self,
        *,
        truth: Mapping[str, str | None],
        counts: Counts,
        leaks: Sequence[str],
        duration: float,
        width: int,
    ) -> list[str]:
        """The closing note. ``truth``: each DrsJob's task status in DRS now (None: no such
        task); ``leaks``: where a secret was found (empty: nowhere)."""
        objects = dict(sorted(self.last_objects.items()))
        stopped = (
            f"stopped after {self.elapsed:.0f}s of {duration:.0f}s"
            if self.elapsed + 1 < duration
            else f"{self.elapsed:.0f}s"
        )
        points = [
            f"What happened ({stopped}): {len(objects)} DrsJobs; the operator made "
            f"{counts.calls} batch-detail calls for {counts.ids} task IDs, "
            f"{counts.writes} status writes and {len(self.events)} events."
        ]
        changed = [
            f"{name} ({self.first_status[name]} → {(obj.get('status') or {}).get('taskStatus')})"
            for name, obj in objects.items()
            if name in self.first_status
            and (obj.get("status") or {}).get("taskStatus") != self.first_status[name]
        ]
        if changed:
            points.append(
                f"{len(changed)} tasks changed state and their DrsJobs followed: "
                + _names(changed)
                + "."
            )
        else:
            points.append("No task changed state while the demo watched.")
        during = self.failed_during_run()
        for name in during:
            status = objects[name].get("status") or {}
            reason = status.get("failedReason") or status.get("errorMessage") or ""
            code = f" {status['errorCode']}" if status.get("errorCode") else ""
            ready = _condition(objects[name], READY).get("status", "?")
            stalled = _condition(objects[name], STALLED).get("status", "?")
            warned = any(
                e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("name") == name
                for e in self.events
            )
            points.append(
                f"{name} failed during the run ({status.get('taskStatus')}{code}"
                f"{': ' + reason if reason else ''}): Ready={ready}, Stalled={stalled}"
                + (", and a Warning event was posted." if warned else ".")
            )
        if not during:
            points.append("No task failed while the demo watched.")
        drifted = [
            name for name, obj in objects.items()
            if ((obj.get("status") or {}).get("drift") or {}).get("state") == "Modified"
        ]  # fmt: skip
        for name in drifted:
            first = ((objects[name].get("status") or {}).get("drift") or {}).get("differences")
            shown = "; ".join(
                f"{d.get('field')}: {d.get('expected')} -> {d.get('observed')}"
                for d in (first or [])[:2]
            )
            points.append(
                f"{name} drifted from its spec.expect ({shown}): Ready=False (Drifted), "
                "a DriftDetected event; `drs-operator plan` would say the same."
            )
        before = [
            name for name, obj in objects.items()
            if (obj.get("status") or {}).get("phase") == "Failed" and name not in during
        ]  # fmt: skip
        if before:
            noun = "task was" if len(before) == 1 else "tasks were"
            points.append(f"{len(before)} {noun} failed from the start: {_names(before)}.")
        missing = [
            name for name, obj in objects.items()
            if _condition(obj, SYNCED).get("reason") == REASON_NOT_FOUND
        ]  # fmt: skip
        if missing:
            others = [name for name in objects if name not in missing]
            synced = [n for n in others if _condition(objects[n], SYNCED).get("status") == "True"]
            points.append(
                f"{_names(missing)} {'names a task' if len(missing) == 1 else 'name tasks'} that "
                f"does not exist: Synced=False (NotFound); {len(synced)} of the {len(others)} "
                "other DrsJobs are Synced=True."
            )
        matching = [
            name for name, obj in objects.items()
            if truth.get(name) is not None
            and (obj.get("status") or {}).get("taskStatus") == truth.get(name)
        ]  # fmt: skip
        existing = [name for name in objects if truth.get(name) is not None]
        lagging = [name for name in existing if name not in matching]
        line = f"{len(matching)} of {len(existing)} DrsJobs show their task's current DRS status"
        if lagging:
            line += f" ({_names(lagging)}: changed in DRS since the last refresh)"
        points.append(line + ".")
        if leaks:
            points.append(f"A secret was found in: {_names(list(leaks))}. This is a bug.")
        else:
            points.append(
                "No password, key or token of the scenario appears in any status, event or "
                "the operator's log."
            )
        lines: list[str] = []
        for index, point in enumerate(points):
            first, rest = ("", "  ") if index == 0 else ("  - ", "    ")
            lines += textwrap.wrap(
                point, width=width, initial_indent=first, subsequent_indent=rest
            ) or [""]
        return lines
