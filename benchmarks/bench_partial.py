"""Benchmark eg.eigsh (k = 8 smallest) against SciPy eigsh, shift-invert and torch.lobpcg.

Each measurement runs in a fresh subprocess (one thread) so that its peak resident memory
(VmHWM minus the resident size before the solve) is its own. Reported: seconds for the forward,
seconds for the backward (ours: loss = sum of eigenvalues + a projector term, gradient to
the sparse values), peak memory in MB, and ratios to the fastest SciPy mode. ``eg.eigsh`` is
``method="auto"`` (shift-invert on grids, Lanczos on random graphs), ``eg.eigsh:<method>``
forces a method and ``eg.eigsh:lobpcg+<preconditioner>`` a LOBPCG preconditioner
(``eg.eigsh:lobpcg+multigrid``).
Also: power iteration with implicit vs unrolled differentiation (time, memory).

Usage: python benchmarks/bench_partial.py [--quick] [--sizes 10000 100000] [--kinds grid random]
       [--methods ...] [--repeat 1] [--no-power] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    r"""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    import numpy as np, torch
    torch.set_num_threads(1)
    sys.path.insert(0, %(src)r)
    import eigengrad as eg
    from eigengrad.testing import grid_edges, random_graph_edges

    def rss(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return float("nan")

    kind, n, method = %(kind)r, %(n)d, %(method)r
    k = 8
    if kind == "grid":
        nx = int(round(n ** 0.5))
        edges = grid_edges(nx, nx)
        n = nx * nx
        L = eg.graph_laplacian(edges, None, n)
    else:  # random sparse graph, average degree 10, plus a ring so that it is connected
        L = eg.graph_laplacian(random_graph_edges(n, 10, ring=True), None, n)
    L = L.coalesce()
    out = {"n": n, "nnz": int(L._nnz())}
    base = rss("VmRSS")
    t0 = time.perf_counter()
    if method.startswith("scipy"):
        import scipy.sparse as sps
        import scipy.sparse.linalg as spla
        i = L.indices().numpy()
        S = sps.csr_matrix((L.values().numpy(), (i[0], i[1])), shape=(n, n))
        base = rss("VmRSS")
        t0 = time.perf_counter()
        if method == "scipy":
            w = spla.eigsh(S, k=k, which="SA", tol=1e-10)[0]
        else:
            w = spla.eigsh(S, k=k, sigma=-1e-3, which="LM", tol=1e-10)[0]
        out["forward"] = time.perf_counter() - t0
    elif method == "torch.lobpcg":
        X0 = torch.randn(n, k, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        w, X = torch.lobpcg(L, k=k, X=X0, largest=False, tol=1e-10, niter=20000)
        out["forward"] = time.perf_counter() - t0
    elif method == "xitorch":  # optional: pip install xitorch (not a dependency of eigengrad)
        import xitorch
        from xitorch.linalg import symeig

        class SparseOp(xitorch.LinearOperator):
            def __init__(self, M):
                super().__init__(shape=M.shape, is_hermitian=True, dtype=M.dtype)
                self.M = M

            def _mv(self, x):
                return (self.M @ x.mT).mT

            def _getparamnames(self, prefix=""):
                return [prefix + "M"]

        Lc = L.to_sparse_csr()
        t0 = time.perf_counter()
        w, X = symeig(SparseOp(Lc), neig=k, mode="lowest", method="davidson", min_eps=1e-10,
                      max_niter=2000)
        out["forward"] = time.perf_counter() - t0
    elif method.startswith("eg.eigsh"):
        Lg = L.detach().requires_grad_()
        c = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        solver, _, pre = (method.partition(":")[2] or "auto").partition("+")
        t0 = time.perf_counter()
        w, X, info = eg.eigsh(Lg, k, method=solver, preconditioner=pre or "auto")
        out["forward"] = time.perf_counter() - t0
        out["solver"] = info.method + ("+" + info.preconditioner if info.preconditioner else "")
        out["iterations"] = info.iterations
        out["converged"] = bool(info.converged.all())
        ((X.T @ c) ** 2).sum().add(w.sum()).backward()
        out["forward+backward"] = time.perf_counter() - t0
        out["backward"] = out["forward+backward"] - out["forward"]
    elif method.startswith("power"):
        d = torch.zeros(n, dtype=torch.float64)
        d[0] = 8.0  # a simple, separated dominant eigenvalue
        i = L.indices()
        diag = torch.arange(n).repeat(2, 1)
        v = L.values().clone().requires_grad_()
        A = torch.sparse_coo_tensor(torch.cat([i, diag], 1), torch.cat([v, d]), (n, n),
                                    check_invariants=False).coalesce()
        mode = method.split(":")[1]
        lam, x, info = eg.power_iteration(A, differentiation=mode, tol=1e-12)
        (lam + x[:10].pow(2).sum()).backward()
        out["forward+backward"] = time.perf_counter() - t0
        out["iterations"] = info.iterations
    out["peak_mb"] = rss("VmHWM") - base
    print("RESULT" + json.dumps(out))
    """
)


def measure(kind: str, n: int, method: str, timeout: int, inprocess: bool = False) -> dict:
    code = WORKER % {"src": str(ROOT / "src"), "kind": kind, "n": n, "method": method}
    if inprocess:  # --quick smoke run: no subprocess start-up; memory is not isolated
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(code, {"__name__": "bench_worker"})
        return json.loads(buffer.getvalue().split("RESULT")[1])
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout > {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:80]}


def measure_medians(kind: str, n: int, methods: list[str], args: argparse.Namespace) -> dict:
    """Medians over ``args.repeat`` fresh-subprocess runs of every method (times and peak memory
    separately). The runs are interleaved, every method once per round in an order rotated from
    round to round, so that a change in the load of the shared host affects all methods alike.
    ``forward_runs`` keeps every round's forward time (``None`` for a failed run)."""
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for r in range(args.repeat):
        for m in methods[r % len(methods) :] + methods[: r % len(methods)]:
            runs[m].append(measure(kind, n, m, args.timeout, args.quick))
    rows = {}
    for m, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            rows[m] = results[0]
            continue
        out = dict(ok[0])
        for key in ("forward", "backward", "forward+backward", "peak_mb"):
            if key in out:
                out[key] = statistics.median(r[key] for r in ok)
        out["forward_runs"] = [r.get("forward") for r in results]
        rows[m] = out
    return rows


def same_round_ratio(own: list, scipy_runs: list[list]) -> float | None:
    """Median over rounds of our forward over the fastest SciPy mode of the same round."""
    ratios = []
    for r, t in enumerate(own):
        best = [runs[r] for runs in scipy_runs if runs[r] is not None]
        if t is not None and best:
            ratios.append(t / min(best))
    return statistics.median(ratios) if len(ratios) > 1 else None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--kinds", nargs="*", default=["grid", "random"])
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument(
        "--methods",
        nargs="*",
        default=["eg.eigsh", "eg.eigsh:lanczos", "scipy", "scipy-shift-invert", "torch.lobpcg"],
        help="eg.eigsh (method='auto'), eg.eigsh:<method>[+<preconditioner>], scipy, "
        "scipy-shift-invert, torch.lobpcg, xitorch",
    )
    parser.add_argument("--no-power", action="store_true", help="skip the power-iteration table")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; medians reported")
    args = parser.parse_args()
    sizes = args.sizes or ([400] if args.quick else [10_000, 100_000])
    methods = args.methods
    print(
        "| graph | n | method | forward s | backward s | peak MB | fwd / SciPy best "
        "| same-round ratios |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for kind in args.kinds:
            rows = measure_medians(kind, n, methods, args)
            scipy_modes = ("scipy", "scipy-shift-invert")
            best = min(
                (rows[m]["forward"] for m in scipy_modes if "forward" in rows.get(m, {})),
                default=None,
            )
            scipy_runs = [
                rows[m]["forward_runs"] for m in scipy_modes if "forward_runs" in rows.get(m, {})
            ]
            for m in methods:
                r = rows[m]
                if "error" in r:
                    print(f"| {kind} | {n} | {m} | {r['error']} | | | | |")
                    continue
                ratio = None if best is None else r["forward"] / best
                paired = same_round_ratio(r["forward_runs"], scipy_runs)
                extra = f" ({r['solver']}, {r['iterations']} it)" if "iterations" in r else ""
                print(
                    f"| {kind} | {r['n']} | {m}{extra} | {_fmt(r['forward'])} | "
                    f"{_fmt(r.get('backward'))} | {_fmt(r['peak_mb'])} | {_fmt(ratio)} "
                    f"| {_fmt(paired)} |",
                    flush=True,
                )
    if args.no_power:
        return
    print()
    print("| power iteration | n | differentiation | fwd+bwd s | peak MB | iterations |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        for mode in ("implicit", "unrolled"):
            r = measure("grid", n, f"power:{mode}", args.timeout, args.quick)
            if "error" in r:
                print(f"| grid+bump | {n} | {mode} | {r['error']} | | |")
            else:
                print(
                    f"| grid+bump | {r['n']} | {mode} | {_fmt(r['forward+backward'])} | "
                    f"{_fmt(r['peak_mb'])} | {r['iterations']} |"
                )


if __name__ == "__main__":
    main()
