"""The API server's audit log, read incrementally (tests count requests with it)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any


class AuditLog:
    """The API server's audit log (JSON lines), read incrementally.

    :meth:`events` returns every event written so far (parsed once, kept in
    order). With the log backend in its default blocking mode an event is
    written before the answer reaches the client, so a request is in the log
    once its caller has the answer.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._events: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            try:
                with self.path.open("rb") as fh:
                    fh.seek(self._offset)
                    chunk = fh.read()
            except FileNotFoundError:
                return list(self._events)
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if line.strip():
                    self._events.append(json.loads(line))
            return list(self._events)

    def mark(self) -> int:
        """A position: :meth:`since` returns the events after it."""
        return len(self.events())

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.events()[mark:]
