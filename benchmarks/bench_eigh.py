"""Speed of ``eg.eigh`` against ``torch.linalg.eigh``: forward, backward, forward+backward.

Ratios eigengrad / native are measured in the same run, interleaved, as medians over repeats,
with the default settings (input checks and gauge checks on). One thread unless --threads.

    python benchmarks/bench_eigh.py            # full table (README)
    python benchmarks/bench_eigh.py --quick    # smoke run (CI)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable

import torch

import eigengrad as eg

Solver = Callable[..., tuple[torch.Tensor, torch.Tensor]]

CASES_FULL = [((), 8), ((), 32), ((), 128), ((), 512), ((), 1024), ((10_000,), 8)]
CASES_QUICK = [((), 8), ((), 64), ((50,), 8)]
# complex input always takes eigengrad's own autograd.Function (the phase gauge is checked)
COMPLEX_FULL = [((), 8), ((), 128), ((), 512), ((10_000,), 8)]
COMPLEX_QUICK = [((), 8)]


def _loss(w: torch.Tensor, V: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    # touches eigenvalues and eigenvectors; invariant under the sign/phase of each eigenvector
    return (w * w).sum() + ((V * V.conj()).real * C).sum()


def _time(fn: Callable[[Solver], None], solver: Solver) -> float:
    start = time.perf_counter()
    fn(solver)
    return time.perf_counter() - start


def measure(batch: tuple[int, ...], n: int, dtype: torch.dtype, repeats: int) -> dict[str, float]:
    """Median seconds for forward and forward+backward, native and eigengrad."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(*batch, n, n, generator=gen, dtype=dtype)
    A = (X + X.mH) / 2
    C = torch.randn(*batch, n, n, generator=gen, dtype=dtype).real
    solvers = {"native": torch.linalg.eigh, "eigengrad": eg.eigh}
    out: dict[str, float] = {"warned": 0.0}

    def forward(solver: Solver) -> None:
        with torch.no_grad():
            solver(A)

    def both(solver: Solver) -> None:
        Ar = A.detach().requires_grad_()
        with warnings.catch_warnings(record=True) as seen:
            # random matrices can have chance near-degenerate pairs (float32, large n): counted
            warnings.simplefilter("always", eg.EigengradWarning)
            w, V = solver(Ar)
            _loss(w, V, C).backward()
        if seen:
            out["warned"] = 1.0

    for solver in solvers.values():  # warm-up
        forward(solver)
        both(solver)
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):  # interleave native and eigengrad to share machine noise
        for name, solver in solvers.items():
            samples.setdefault(f"fwd_{name}", []).append(_time(forward, solver))
            samples.setdefault(f"both_{name}", []).append(_time(both, solver))
    for key, values in samples.items():
        out[key] = statistics.median(values)
    for name in solvers:
        out[f"bwd_{name}"] = max(out[f"both_{name}"] - out[f"fwd_{name}"], 0.0)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the speed table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = CASES_QUICK if args.quick else CASES_FULL
    print(f"torch {torch.__version__}, {args.threads} thread(s); medians; ratio = eigengrad/native")
    print(
        f"{'dtype':10} {'shape':>14} {'native fwd':>11} {'fwd ratio':>9} {'native bwd':>11} "
        f"{'bwd ratio':>9} {'fwd+bwd ratio':>13}"
    )
    plan = [(torch.float64, c) for c in cases] + [(torch.float32, c) for c in cases]
    plan += [(torch.complex128, c) for c in (COMPLEX_QUICK if args.quick else COMPLEX_FULL)]
    for dtype, (batch, n) in plan:
        size = n * n * (math.prod(batch) if batch else 1)
        repeats = 3 if args.quick else max(5, min(200, int(2e6 / size**1.5) + 5))
        r = measure(batch, n, dtype, repeats)
        shape = "x".join(map(str, (*batch, n, n)))
        print(
            f"{str(dtype).replace('torch.', ''):10} {shape:>14} {r['fwd_native'] * 1e3:9.3f}ms "
            f"{r['fwd_eigengrad'] / r['fwd_native']:9.2f} {r['bwd_native'] * 1e3:9.3f}ms "
            f"{r['bwd_eigengrad'] / max(r['bwd_native'], 1e-12):9.2f} "
            f"{r['both_eigengrad'] / r['both_native']:13.2f}"
            + ("  (eigengrad warned: near-degenerate pair)" if r["warned"] else "")
        )


if __name__ == "__main__":
    main()
