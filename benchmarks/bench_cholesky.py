"""Benchmark the sparse Cholesky factorization (``eigengrad._cholesky``) against SciPy's splu.

On one thread, per matrix: analyse (ordering + symbolic) seconds, numeric factor seconds, solve
seconds for a block of right-hand sides, nnz(L), peak extra resident memory, and the relative
residual; next to SciPy's ``splu(permc_spec="MMD_AT_PLUS_A")`` (factor, then solve of the same
block) with its nnz(L), and the ratios ours / splu. Every case runs in a fresh subprocess so that
the peak memory (``ru_maxrss`` minus the resident size before the factorization) is its own.
Times are medians of ``--repeat`` runs. The random graph (average degree 8) is the refusal case:
``analyse`` with ``max_nnz_factor = 20 nnz(A)`` must stop quickly.

Usage: python benchmarks/bench_cholesky.py [--big] [--repeat 3] [--rhs 16] [--leaf-size 16]
       [--cases grid100 grid316 grid3d50 random10000] [--no-scipy] [--quick]

``--quick`` (the CI smoke run) takes small cases in this process, once each.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eigengrad import graph_laplacian
from eigengrad._cholesky import FillBudgetExceeded, analyse, factor
from eigengrad.testing import grid_edges, random_graph_edges

SHIFT = 1e-3


def build(case: str) -> torch.Tensor:
    """Graph Laplacian (CSR) of ``grid<m>`` (m × m), ``grid3d<m>`` (m × m × m) or ``random<n>``."""
    if case.startswith("grid3d"):
        m = int(case[6:])
        edges, n = grid_edges(m, m, m), m**3
    elif case.startswith("grid"):
        m = int(case[4:])
        edges, n = grid_edges(m, m), m**2
    else:  # random graph of average degree 8
        n = int(case[6:])
        edges = random_graph_edges(n, 8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return graph_laplacian(edges, None, n).coalesce().to_sparse_csr()


def to_scipy(A: torch.Tensor) -> sp.csr_matrix:
    return sp.csr_matrix(
        (A.values().numpy(), A.col_indices().numpy(), A.crow_indices().numpy()), shape=A.shape
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_time(fn, repeat: int, budget: float = 20.0) -> tuple[float, object]:
    """Median of ``repeat`` runs (fewer once they have taken ``budget`` seconds)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    return statistics.median(times), out


def child(case: str, method: str, args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    At = build(case)
    A = to_scipy(At)
    n = A.shape[0]
    B = np.random.default_rng(1).standard_normal((n, args.rhs))
    M = sp.csc_matrix(A + SHIFT * sp.eye(n))
    res: dict = {"case": case, "method": method, "n": n, "nnz_A": A.nnz}
    base = rss_mb()
    if method == "scipy":
        t, lu = median_time(lambda: sla.splu(M, permc_spec="MMD_AT_PLUS_A"), args.repeat)
        ts, X = median_time(lambda: lu.solve(B), args.repeat)
        res.update(factor=t, solve=ts, nnz_L=lu.L.nnz)
    else:
        Bt = torch.from_numpy(B)
        if case.startswith("random"):
            t0 = time.perf_counter()
            try:
                analyse(At, leaf_size=args.leaf_size, max_nnz_factor=20 * A.nnz)
                res.update(refused=False)
            except FillBudgetExceeded as e:
                res.update(refused=True, nnz_lower_bound=e.nnz_lower_bound)
            res.update(analyse=time.perf_counter() - t0, peak_extra_mb=peak_mb() - base)
            return res
        ta, sym = median_time(lambda: analyse(At, leaf_size=args.leaf_size), args.repeat)
        tf, chol = median_time(lambda: factor(sym, At, SHIFT), args.repeat)
        ts, Xt = median_time(lambda: chol.solve(Bt), args.repeat)
        X = Xt.numpy()
        res.update(analyse=ta, factor=tf, solve=ts, nnz_L=sym.nnz_factor, gflop=sym.flops / 1e9)
    res["peak_extra_mb"] = peak_mb() - base
    res["residual"] = float(np.linalg.norm(M @ X - B) / np.linalg.norm(B))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=["grid100", "grid316", "grid3d50", "random10000"])
    ap.add_argument("--big", action="store_true", help="add the 1000 × 1000 grid (n = 10^6)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rhs", type=int, default=16)
    ap.add_argument("--leaf-size", type=int, default=16)
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small cases, in-process, one run")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args)))
        return
    if args.quick:
        args.cases, args.repeat, args.big = ["grid30", "grid3d8", "random2000"], 1, False
    cases = args.cases + (["grid1000"] if args.big else [])
    methods = ["ours"] + ([] if args.no_scipy else ["scipy"])
    hdr = (
        f"{'case':>12} {'n':>8} {'analyse':>8} {'factor':>8} {'solve':>8} {'nnz(L)':>10} "
        f"{'peak MB':>8} {'resid':>8} | {'splu f':>8} {'splu s':>8} {'splu L':>10} {'MB':>6} "
        f"| {'(a+f)/f':>7} {'s/s':>5} {'L/L':>5}"
    )
    print(hdr)
    for case in cases:
        out = {}
        for method in methods:
            if args.quick:
                out[method] = child(case, method, args)
                continue
            cmd = [sys.executable, __file__, "--child", case, method]
            cmd += ["--repeat", str(args.repeat), "--rhs", str(args.rhs)]
            cmd += ["--leaf-size", str(args.leaf_size)]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out[method] = json.loads(r.stdout.strip().splitlines()[-1])
        o = out["ours"]
        if case.startswith("random"):
            print(
                f"{case:>12} {o['n']:>8} {o['analyse']:8.3f}  refused={o['refused']} "
                f"(nnz(L) >= {o.get('nnz_lower_bound', 0)}, budget {20 * o['nnz_A']})"
            )
            continue
        line = (
            f"{case:>12} {o['n']:>8} {o['analyse']:8.3f} {o['factor']:8.3f} {o['solve']:8.4f} "
            f"{o['nnz_L']:>10} {o['peak_extra_mb']:8.0f} {o['residual']:8.1e} |"
        )
        if "scipy" in out:
            s = out["scipy"]
            line += (
                f" {s['factor']:8.3f} {s['solve']:8.4f} {s['nnz_L']:>10} {s['peak_extra_mb']:6.0f}"
                f" | {(o['analyse'] + o['factor']) / s['factor']:7.2f} "
                f"{o['solve'] / s['solve']:5.2f} {o['nnz_L'] / s['nnz_L']:5.2f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
