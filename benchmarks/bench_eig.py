"""Speed of ``eg.eig`` against ``torch.linalg.eig``: forward, backward, forward+backward.

Ratios eigengrad / native are measured in the same run, interleaved, as medians over repeats,
with the default settings (input checks, gauge and defectiveness checks on). One thread unless
--threads. The loss touches eigenvalues and eigenvectors and is phase-invariant
(``sum |w|^2 + sum C ∘ |V|^2``), so both libraries accept it.

    python benchmarks/bench_eig.py            # full table (README)
    python benchmarks/bench_eig.py --quick    # smoke run (CI)
"""

from __future__ import annotations

import argparse
import math

import torch
from _speed import HEADER, measure, repeats_for, row

import eigengrad as eg

CASES_FULL = [((), 8), ((), 128), ((), 512), ((1000,), 8)]
CASES_QUICK = [((), 8), ((), 32), ((20,), 8)]


def main(argv: list[str] | None = None) -> None:
    """Print the speed table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = CASES_QUICK if args.quick else CASES_FULL
    print(f"torch {torch.__version__}, {args.threads} thread(s); medians; ratio = eigengrad/native")
    print(HEADER)
    for dtype in (torch.float64, torch.complex128):
        for batch, n in cases:
            gen = torch.Generator().manual_seed(0)
            A = torch.randn(*batch, n, n, generator=gen, dtype=dtype)
            C = torch.rand(*batch, n, n, generator=gen, dtype=torch.float64).to(A.real.dtype)

            def loss(w: torch.Tensor, V: torch.Tensor, C: torch.Tensor = C) -> torch.Tensor:
                return (w.abs() ** 2).sum() + ((V.abs() ** 2) * C).sum()

            size = n * n * math.prod(batch)
            r = measure(
                A,
                loss,
                {"native": torch.linalg.eig, "eigengrad": eg.eig},
                repeats_for(size, args.quick, cap=100),
            )
            print(row(dtype, (*batch, n, n), r))


if __name__ == "__main__":
    main()
