"""Logging setup: text or JSON lines, for the person on call.

A line about one DrsJob carries the job's identity as fields, passed with
``extra=job_fields(namespace, name, job_id, **more)``:

- text: ``<time> <LEVEL> <logger>: <namespace>/<name>: <message> jobId=<id> key=value...``
  (a value with spaces or quotes is written as a JSON string);
- JSON: one object per line with ``time``, ``level``, ``logger``, ``message`` and
  every field as its own key (``namespace``, ``name``, ``jobId``, ...).

``extra=fields(json_only=True, ...)`` adds keys to the JSON line only, for a
line whose text already says it all (the start-up and shutdown lines).

kopf's per-object log lines carry the object's namespace and name the same way.

Quiet by construction:

- kopf logs a line per watch event and handler call (``Handler '...'
  succeeded.``) and its start-up steps at INFO: the ``kopf`` logger is at
  WARNING (its warnings and errors are kept), at INFO only with
  ``--log-level debug``;
- httpx/httpcore/aiohttp's access log are capped at WARNING whatever the level:
  at DEBUG they trace connections and headers, and the operator's own debug
  lines already say what was called (without headers or bodies).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["FIELDS", "QUIET", "JsonFormatter", "TextFormatter", "configure", "fields", "job_fields"]

QUIET = ("httpx", "httpcore", "hpack", "urllib3", "aiohttp.access")
KOPF = "kopf"
FIELDS = "drs_fields"  # the LogRecord attribute holding a line's fields
JSON_FIELDS = "drs_json_fields"  # ... and those shown in JSON only
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})


def fields(*, json_only: bool = False, **values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the fields that are not None (``json_only``: not in text)."""
    found = {key: value for key, value in values.items() if value is not None}
    return {JSON_FIELDS if json_only else FIELDS: found}


def job_fields(namespace: str, name: str, job_id: str | None = None, **more: Any) -> dict[str, Any]:
    """``extra=`` for a line about one DrsJob: namespace, name, jobId, then ``more``."""
    return fields(namespace=namespace, name=name, jobId=job_id, **more)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's fields; for kopf's per-object lines, the object's namespace and name."""
    found = getattr(record, FIELDS, None)
    if isinstance(found, Mapping):
        return dict(found)
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, Mapping) and ref.get("name"):
        return {key: ref[key] for key in ("namespace", "name") if ref.get(key)}
    return {}


def _logfmt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if not text or any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: [<namespace>/<name>: ]<message>[ key=value...]``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        found = record_fields(record)
        message = record.message
        namespace, name = found.pop("namespace", None), found.pop("name", None)
        if name:
            message = f"{namespace}/{name}: {message}" if namespace else f"{name}: {message}"
        if found:
            message += " " + " ".join(f"{key}={_logfmt(value)}" for key, value in found.items())
        return TEXT_FORMAT % {**record.__dict__, "message": message}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields are keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, JSON_FIELDS, None)
        for key, value in {**record_fields(record), **(extra or {})}.items():
            payload[f"field.{key}" if key in _RESERVED else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = record.exc_info[0].__name__
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure(*, level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    kopf_level = logging.INFO if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger(KOPF).setLevel(max(kopf_level, root.level))
