"""Shared timing harness of the speed benchmarks: interleaved medians, ratio table rows.

Ratios eigengrad / native are measured in the same run, native and eigengrad interleaved so
that they share the machine's noise; medians over repeats; the backward call is timed on its
own (not as a difference of medians). Warnings emitted by eigengrad (e.g. chance
near-degenerate pairs of random matrices) are counted, not printed, and flagged in the row.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable

import torch

import eigengrad as eg

Solver = Callable[..., tuple[torch.Tensor, torch.Tensor]]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

HEADER = (
    f"{'dtype':10} {'shape':>14} {'native fwd':>11} {'fwd ratio':>9} {'native bwd':>11} "
    f"{'bwd ratio':>9} {'fwd+bwd ratio':>13}"
)


def repeats_for(size: int, quick: bool, cap: int = 200) -> int:
    """More repeats for small problems; at least 5 (3 in a quick smoke run)."""
    return 3 if quick else max(5, min(cap, int(2e6 / size**1.5) + 5))


def measure(
    A: torch.Tensor, loss: Loss, solvers: dict[str, Solver], repeats: int
) -> dict[str, float]:
    """Median seconds of forward (no grad) and forward+backward for each solver."""

    def forward(solver: Solver) -> None:
        with torch.no_grad():
            solver(A)

    def both(solver: Solver) -> tuple[float, bool]:
        """Run forward+backward; return the time of the backward call and whether it warned."""
        Ar = A.detach().requires_grad_()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", eg.EigengradWarning)
            w, V = solver(Ar)
            value = loss(w, V)
            start = time.perf_counter()
            value.backward()
            elapsed = time.perf_counter() - start
        return elapsed, bool(seen)

    warned = False
    for solver in solvers.values():  # warm-up
        forward(solver)
        both(solver)
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, solver in solvers.items():
            start = time.perf_counter()
            forward(solver)
            samples.setdefault(f"fwd_{name}", []).append(time.perf_counter() - start)
            start = time.perf_counter()
            backward, warn = both(solver)
            samples.setdefault(f"both_{name}", []).append(time.perf_counter() - start)
            samples.setdefault(f"bwd_{name}", []).append(backward)
            warned |= warn
    out = {key: statistics.median(values) for key, values in samples.items()}
    out["warned"] = float(warned)
    return out


def row(dtype: torch.dtype, shape: tuple[int, ...], r: dict[str, float]) -> str:
    """One table row of ratios eigengrad / native."""
    text = (
        f"{str(dtype).replace('torch.', ''):10} {'x'.join(map(str, shape)):>14} "
        f"{r['fwd_native'] * 1e3:9.3f}ms {r['fwd_eigengrad'] / r['fwd_native']:9.2f} "
        f"{r['bwd_native'] * 1e3:9.3f}ms {r['bwd_eigengrad'] / max(r['bwd_native'], 1e-12):9.2f} "
        f"{r['both_eigengrad'] / r['both_native']:13.2f}"
    )
    return text + ("  (eigengrad warned: near-degenerate pair)" if r["warned"] else "")
