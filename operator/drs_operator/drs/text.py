"""Text from the outside world, made safe for one line of a log, condition or event.

Whatever a service sends (error messages, request IDs, failure reasons) may
hold control characters: terminal escapes, NUL, newlines. Everything that
shows such text goes through :func:`one_line` (pure, stdlib only).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_NO_CONTROL = re.compile(r"^[^\x00-\x1f\x7f]+$")


def has_no_control(text: str) -> bool:
    """``text`` is not empty and holds no ASCII control character (C0 or DEL): what a
    credential or URL may hold (the wider :func:`printable` also blanks C1 and line
    separators, for display)."""
    return bool(_NO_CONTROL.match(text))


def printable(text: str | None) -> str | None:
    """``text`` with every control character replaced by a space."""
    return _CONTROL.sub(" ", text) if text else text


def one_line(value: object, limit: int) -> str | None:
    """Printable, whitespace folded, at most ``limit`` characters (… when cut); None if empty."""
    if not isinstance(value, str):
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"
