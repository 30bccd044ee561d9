"""Speed of ``eg.eigh`` against ``torch.linalg.eigh``: forward, backward, forward+backward.

Default settings (input checks and gauge checks on); one thread unless --threads. The loss
touches eigenvalues and eigenvectors and is invariant under eigenvector signs/phases.

    python benchmarks/bench_eigh.py            # full table (README)
    python benchmarks/bench_eigh.py --quick    # smoke run (CI)
"""

from __future__ import annotations

import argparse
import math

import torch
from _speed import HEADER, measure, repeats_for, row

import eigengrad as eg

CASES = [((), 8), ((), 32), ((), 128), ((), 512), ((), 1024), ((10_000,), 8)]
QUICK = [((), 8), ((), 64), ((50,), 8)]
# complex input always takes eigengrad's own autograd.Function (the phase gauge is checked)
COMPLEX = [((), 8), ((), 128), ((), 512), ((10_000,), 8)]


def main(argv: list[str] | None = None) -> None:
    """Print the speed table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = [(torch.float64, c) for c in (QUICK if args.quick else CASES)]
    plan += [(torch.float32, c) for c in (QUICK if args.quick else CASES)]
    plan += [(torch.complex128, c) for c in (QUICK[:1] if args.quick else COMPLEX)]
    print(f"torch {torch.__version__}, {args.threads} thread(s); medians; ratio = eigengrad/native")
    print(HEADER)
    for dtype, (batch, n) in plan:
        gen = torch.Generator().manual_seed(0)
        X = torch.randn(*batch, n, n, generator=gen, dtype=dtype)
        A = (X + X.mH) / 2
        C = torch.randn(*batch, n, n, generator=gen, dtype=dtype).real

        def loss(w: torch.Tensor, V: torch.Tensor, C: torch.Tensor = C) -> torch.Tensor:
            return (w * w).sum() + ((V * V.conj()).real * C).sum()

        size = n * n * math.prod(batch)
        r = measure(
            A,
            loss,
            {"native": torch.linalg.eigh, "eigengrad": eg.eigh},
            repeats_for(size, args.quick),
        )
        print(row(dtype, (*batch, n, n), r))


if __name__ == "__main__":
    main()
