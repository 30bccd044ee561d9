"""Rows of the demo and their terminal rendering."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One demo case: what the loss is, what native torch does, what eigengrad does.

    ``ok`` is True when eigengrad behaves as documented (exact within ``tolerance``, or the
    documented warning/error was emitted).
    """

    case: str
    loss: str
    native: str
    eigengrad: str
    ok: bool


_WIDTHS = (30, 26, 30, 38)


def render(title: str, rows: list[Row]) -> str:
    """Render rows as a fixed-width table with wrapped cells."""
    header = ("case", "loss", "torch (native)", "eigengrad")
    lines = [title, "=" * len(title)]

    def emit(cells: tuple[str, ...], mark: str) -> None:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, _WIDTHS, strict=True)]
        height = max(len(c) for c in wrapped)
        for k in range(height):
            parts = [
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(wrapped, _WIDTHS, strict=True)
            ]
            lines.append((mark if k == 0 else "     ") + " | ".join(parts).rstrip())

    emit(header, "     ")
    lines.append("     " + "-+-".join("-" * w for w in _WIDTHS))
    for row in rows:
        emit((row.case, row.loss, row.native, row.eigengrad), "ok   " if row.ok else "FAIL ")
        lines.append("")
    return "\n".join(lines)
