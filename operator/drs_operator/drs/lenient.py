"""Lenient readings of what the DRS API sends, field by field (pure, never raise).

The API is loose with types: texts arrive as numbers, numbers as strings
(``"3306"``), booleans as ``"true"``, epoch-millisecond timestamps as strings
or integers (``"0"`` meaning none). Each function here turns one such value
into the type the models want, or None when it cannot be read; the models in
:mod:`drs_operator.drs.models` apply them before validation.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["lenient_bool", "lenient_int", "lenient_str", "lenient_time", "parse_epoch_ms"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT_TEXT = re.compile(r"^\s*[-+]?\d{1,19}\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def lenient_str(value: Any) -> str | None:
    """Strings stay; integers and finite floats become their text; anything else is None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def lenient_int(value: Any) -> int | None:
    """Integers (or integral floats, or integer strings) in the int64 range; else None."""
    if isinstance(value, bool):
        return None
    result: int | None = None
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            result = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value):
        result = int(value)
    if result is None or not _INT64_MIN <= result <= _INT64_MAX:
        return None
    return result


def lenient_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
    return None


def parse_epoch_ms(value: Any) -> datetime | None:
    """Epoch milliseconds (int, float or numeric string) → aware UTC datetime.

    ``0``/``"0"``, negative values, empty strings, garbage and out-of-range
    values give ``None``; this function never raises. An RFC 3339 string is
    accepted too (some gateways reformat timestamps).
    """
    try:
        millis: float | int | None = None
        if type(value) is str and value.isdecimal() and len(value) <= 19:
            millis = int(value)  # the usual shape, "1795822140774": no regex needed
            return _EPOCH + timedelta(0, 0, 0, millis) if millis > 0 else None
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            millis = value
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if _INT_TEXT.match(text):
                millis = int(text)
            else:
                try:
                    millis = float(text)
                except ValueError:
                    return _parse_iso(text)
        if millis is None or not math.isfinite(millis) or millis <= 0:
            return None
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError, TypeError):
        return None


def _parse_iso(text: str) -> datetime | None:
    if len(text) > 64 or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def lenient_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_epoch_ms(value)
