"""Bench tables: rows with a target and a verdict, as plain text and as Markdown.

Shared by :mod:`run` (the large regime) and :mod:`small` (small clusters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def fmt(value: float | None, spec: str = ".1f") -> str:
    """A number, or ``n/a`` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def ratio(a: float, b: float, spec: str = ".3f") -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return format(a / b, spec)


def verdict(ok: bool | None) -> str:
    """``met`` / ``MISSED`` next to a target; empty when there is nothing to judge."""
    return "" if ok is None else ("met" if ok else "MISSED")


@dataclass
class Row:
    label: str
    cells: list[str]
    target: str = ""
    met: str = ""


def render_text(heads: list[str], rows: list[Row]) -> str:
    table = [["figure", *heads, "target", ""]] + [
        [r.label, *r.cells, r.target, r.met] for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table
    )


def render_markdown(heads: list[str], rows: list[Row]) -> str:
    lines = ["| figure | " + " | ".join(heads) + " | target | |"]
    lines.append("|---" * (len(heads) + 3) + "|")
    for r in rows:
        lines.append(f"| {r.label} | " + " | ".join(r.cells) + f" | {r.target} | {r.met} |")
    return "\n".join(lines)
