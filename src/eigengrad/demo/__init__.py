"""``eigengrad demo``: today's failures of native eigendecomposition derivatives, side by side.

Each section module exposes ``rows() -> list[Row]``; the demo prints them and exits non-zero if
eigengrad does not behave as claimed in any row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._table import Row, render

SECTIONS: list[tuple[str, str]] = [
    ("eigh: repeated and nearly repeated eigenvalues", "eigengrad.demo._eigh_rows"),
    ("spectral functions and extreme eigenvalues", "eigengrad.demo._spectral_rows"),
    ("eig: phases, defective eigenvalues, spectral abscissa", "eigengrad.demo._eig_rows"),
    (
        "eigsh: partial eigenpairs of sparse and matrix-free operators",
        "eigengrad.demo._partial_rows",
    ),
]


def _load(module: str) -> Callable[[], list[Row]]:
    import importlib

    rows: Callable[[], list[Row]] = importlib.import_module(module).rows
    return rows


def run() -> int:
    """Print every section and return the exit status (0 when every row is ok)."""
    failures = 0
    start = time.perf_counter()
    for title, module in SECTIONS:
        rows = _load(module)()
        print(render(title, rows))
        failures += sum(not r.ok for r in rows)
    total = sum(1 for _ in SECTIONS)
    status = "all rows behave as claimed" if failures == 0 else f"{failures} row(s) FAILED"
    print(f"eigengrad demo: {total} section(s), {status} ({time.perf_counter() - start:.1f} s).")
    return 0 if failures == 0 else 1


__all__ = ["SECTIONS", "Row", "run"]
