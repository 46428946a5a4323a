"""What the simulator answers with: error codes and messages, :class:`Answer`, JSON helpers.

The DRS handlers build an :class:`Answer` (status, body, error code, extra
headers) and :func:`respond` turns it into the aiohttp response; DRS error
bodies are ``{"error_code", "error_msg"}`` (:func:`error_answer`). :func:`dig`
reads nested fields of a parsed request body without trusting its shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from drs_operator.drs.classify import REQUEST_ID_HEADER

__all__ = [
    "CODE_AUTH",
    "CODE_BAD_HEADER",
    "CODE_BAD_REQUEST",
    "CODE_BUSY",
    "CODE_DELETED",
    "CODE_IN_PROGRESS",
    "CODE_NOT_FOUND",
    "CODE_SERVER",
    "CODE_THROTTLED",
    "CODE_TOKEN_EXPIRED",
    "CODE_UNAVAILABLE",
    "CODE_WRONG_PROJECT",
    "MALFORMED_BODY",
    "MSG_DELETED",
    "MSG_NOT_FOUND",
    "REQUEST_ID_HEADER",
    "Answer",
    "dig",
    "error_answer",
    "json_bytes",
    "respond",
]

# --- error codes and messages the simulator answers with ---------------------------------
CODE_AUTH = "APIG.0301"  # token missing/invalid/revoked, bad signature, clock skew
CODE_TOKEN_EXPIRED = "APIG.0307"  # token past its expires_at
CODE_THROTTLED = "APIG.0308"  # 429
CODE_BUSY = "DRS.M01503"  # 400 operation too frequent
CODE_IN_PROGRESS = "DRS.M01504"  # 202 another operation in progress
CODE_SERVER = "DRS.M00500"  # 500 (simulated service error)
CODE_UNAVAILABLE = "APIG.0202"  # 503 backend unavailable
CODE_WRONG_PROJECT = "DRS.M00261"  # 403 token/X-Project-Id scoped to another project
CODE_BAD_HEADER = "DRS.M00201"  # 400 X-Language missing, Content-Type not JSON
CODE_BAD_REQUEST = "DRS.M00202"  # 400 body invalid: jobs / page_req
CODE_NOT_FOUND = "DRS.M00289"  # per item: the job never existed (here)
CODE_DELETED = "DRS.M05004"  # per item: the job was deleted

MSG_NOT_FOUND = "The job does not exist."
MSG_DELETED = "The job has been deleted."
MALFORMED_BODY = b'{"count": 1, "results": [{"id": "<html>upstream reset</html>", }'


@dataclass
class Answer:
    """A DRS answer before it becomes a response (``error_code`` goes to ``sim.stats``)."""

    status: int
    body: bytes
    error_code: str | None = None
    headers: Mapping[str, str] | None = None


def json_bytes(data: Any) -> bytes:
    """``data`` as UTF-8 JSON (non-ASCII kept as is)."""
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def error_answer(status: int, code: str, message: str, **headers: str) -> Answer:
    """A DRS error: ``{"error_code": code, "error_msg": message}``."""
    return Answer(status, json_bytes({"error_code": code, "error_msg": message}), code, headers)


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or ``None`` as soon as a level is not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def respond(answer: Answer) -> web.Response:
    """The JSON response for an :class:`Answer`."""
    response = web.Response(status=answer.status, body=answer.body, content_type="application/json")
    for name, value in (answer.headers or {}).items():
        response.headers[name] = value
    return response
