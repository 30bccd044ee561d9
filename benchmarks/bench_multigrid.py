"""Benchmark LOBPCG (k = 8 smallest, 12-column block) with the multigrid preconditioner.

Compares, on one thread: LOBPCG with the smoothed-aggregation V-cycle
(``eigengrad._multigrid.multigrid_preconditioner``), LOBPCG with the degree-20 Chebyshev
polynomial preconditioner, and SciPy's shift-invert ``eigsh(S, k=8, sigma=-1e-3)`` (SuperLU).
Graphs: 2D grid Laplacians and Erdős–Rényi graphs of average degree 10. Reported: setup seconds,
LOBPCG iterations, total seconds, the largest eigenvalue error against SciPy, and ratios to SciPy.

Usage: python benchmarks/bench_multigrid.py [--quick] [--grids 100 316] [--random 100000]
       [--shift 1e-5] [--degree 2] [--alpha 4] [--no-chebyshev] [--no-scipy] [--max-iter 300]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import eigengrad as eg
from eigengrad._chebyshev import chebyshev_preconditioner
from eigengrad._lobpcg import lobpcg, random_block
from eigengrad._multigrid import multigrid_preconditioner
from eigengrad.testing import grid_edges, random_graph_edges

K, BLOCK, TOL = 8, 12, 3.7e-11


def run_lobpcg(L: torch.Tensor, precond: str, args: argparse.Namespace) -> dict:
    n = L.shape[0]
    Lc = L.to_sparse_csr()
    degree_max = float(
        torch.zeros(n, dtype=L.dtype).index_add_(0, L.indices()[0], L.values().abs()).max()
    )
    hi = degree_max  # Gershgorin: a_ii + sum_j |a_ij| = 2 d_i

    def apply(V: torch.Tensor) -> torch.Tensor:
        return Lc @ V

    t0 = time.perf_counter()
    if precond == "multigrid":
        T = multigrid_preconditioner(
            L, args.shift * hi, degree=args.degree, alpha=args.alpha, theta=args.theta
        )
    else:
        T = chebyshev_preconditioner(apply, 0.0, hi)
    setup = time.perf_counter() - t0
    X0 = random_block(n, BLOCK, L.dtype, L.device, 0)
    t0 = time.perf_counter()
    res = lobpcg(apply, X0, K, tol=TOL, max_iter=args.max_iter, precond=T)
    solve = time.perf_counter() - t0
    return {
        "setup": setup,
        "iterations": res.iterations,
        "total": setup + solve,
        "w": res.eigenvalues[:K].numpy(),
        "levels": getattr(T, "levels", None),
    }


def run_scipy(L: torch.Tensor) -> dict:
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    Lc = L.coalesce()
    i = Lc.indices().numpy()
    n = L.shape[0]
    S = sp.csc_matrix((Lc.values().numpy(), (i[0], i[1])), shape=(n, n))
    t0 = time.perf_counter()
    w = sla.eigsh(S, k=K, sigma=-1e-3, which="LM", tol=1e-10)[0]
    return {"total": time.perf_counter() - t0, "w": np.sort(w)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grids", type=int, nargs="*", default=[100, 316])
    parser.add_argument("--random", type=int, nargs="*", default=[100000])
    parser.add_argument("--shift", type=float, default=1e-5)
    parser.add_argument("--degree", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--theta", type=float, default=0.08)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--no-chebyshev", action="store_true")
    parser.add_argument("--no-scipy", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny graphs")
    args = parser.parse_args()
    if args.quick:
        args.grids, args.random = [30], [2000]
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    cases = [
        (f"grid {m}x{m}", eg.graph_laplacian(grid_edges(m, m), None, m * m)) for m in args.grids
    ]
    cases += [
        (f"random n={n} deg 10", eg.graph_laplacian(random_graph_edges(n, 10), None, n))
        for n in args.random
    ]
    print("| matrix | n | method | setup s | iterations | total s | vs SciPy | max |dw| |")
    print("|---|---|---|---|---|---|---|---|")
    for name, L in cases:
        L = L.coalesce()
        n = L.shape[0]
        ref = None if args.no_scipy else run_scipy(L)
        methods = ["multigrid"] + ([] if args.no_chebyshev else ["chebyshev"])
        for method in methods:
            r = run_lobpcg(L, method, args)
            ratio = f"{r['total'] / ref['total']:.2f}" if ref else "-"
            err = f"{np.abs(r['w'] - ref['w']).max():.1e}" if ref else "-"
            extra = f" levels {r['levels']}" if r["levels"] else ""
            print(
                f"| {name} | {n} | {method}{extra} | {r['setup']:.2f} | {r['iterations']} | "
                f"{r['total']:.2f} | {ratio} | {err} |",
                flush=True,
            )
        if ref:
            print(
                f"| {name} | {n} | scipy shift-invert | - | - | {ref['total']:.2f} | 1 | 0 |",
                flush=True,
            )


if __name__ == "__main__":
    main()
