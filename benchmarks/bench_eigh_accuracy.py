"""Gradient error against the eigenvalue gap: native ``torch.linalg.eigh`` vs ``eg.eigh``.

Matrix ``A = Q diag(w) Q^T`` (n = 6) with a pair of eigenvalues at relative gap ``g``; the
references use the exact ``Q`` and ``w`` the matrix was built from, never an eigensolver:

- invariant loss ``tr(P B)``, ``P`` the projector onto the three lowest eigenvectors (the pair
  included): exact Daleckii-Krein gradient, defined at every gap;
- basis-dependent loss ``(v_1^T b)^2``: exact eigenvector-derivative formula, defined for
  ``g > 0`` only; at ``g = 0`` the right answer is a warning.

    python benchmarks/bench_eigh_accuracy.py [--quick] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import math
import warnings

import torch

import eigengrad as eg
from eigengrad.testing import (
    matrix_with_spectrum,
    projector_loss_gradient,
    relative_error,
    spectrum_with_gap,
    symmetric_direction,
)

GAPS = [0.0, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2]


def _vector_loss_reference(
    w: torch.Tensor, Q: torch.Tensor, b: torch.Tensor, i: int
) -> torch.Tensor:
    """Gradient of (v_i^T b)^2: dv_i = sum_j v_j (v_j^T dA v_i) / (w_i - w_j)."""
    c = 2 * (Q[:, i] @ b)
    g = torch.zeros_like(Q)
    for j in range(Q.shape[1]):
        if j != i:
            coef = c * (b @ Q[:, j]) / (w[i] - w[j])
            outer = torch.outer(Q[:, j], Q[:, i])
            g = g + coef * (outer + outer.mT) / 2
    return g


def _grad(solver, A, loss):
    A = A.clone().requires_grad_()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", eg.EigengradWarning)
        w, V = solver(A)
        (g,) = torch.autograd.grad(loss(w, V), A)
    return g, any(issubclass(m.category, eg.GaugeDependenceWarning) for m in seen)


def table(trials: int) -> list[tuple[float, float, float, str, str]]:
    """Median errors over ``trials`` random bases for each gap."""
    rows = []
    n, k, i = 6, 3, 2  # the pair sits at positions 1, 2; P spans the 3 lowest; v_2 is in the pair
    for gap in GAPS:
        e_nat_p, e_eg_p, e_nat_v, e_eg_v, warned = [], [], [], [], 0
        for seed in range(trials):
            w = spectrum_with_gap(n, gap, multiplicity=2, at=1)
            A, w, Q = matrix_with_spectrum(w, seed=seed)
            B = symmetric_direction(n, seed=100 + seed)
            b = torch.linspace(-1, 1, n, dtype=torch.float64)
            selected = torch.arange(n) < k

            def proj(w_, V, B=B):
                return ((V[:, :k] @ V[:, :k].mT) * B).sum()

            def vec(w_, V, b=b):
                return (V[:, i] @ b) ** 2

            ref_p = projector_loss_gradient(w, Q, selected, B)
            e_nat_p.append(relative_error(_grad(torch.linalg.eigh, A, proj)[0], ref_p))
            e_eg_p.append(relative_error(_grad(eg.eigh, A, proj)[0], ref_p))
            g_nat_v, _ = _grad(torch.linalg.eigh, A, vec)
            g_eg_v, warn = _grad(eg.eigh, A, vec)
            warned += warn
            if gap > 0:
                ref_v = _vector_loss_reference(w, Q, b, i)
                e_nat_v.append(relative_error(g_nat_v, ref_v))
                e_eg_v.append(relative_error(g_eg_v, ref_v))
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else math.nan  # noqa: E731
        nat_v = f"{med(e_nat_v):.1e}" if gap > 0 else "undefined, silent"
        eg_v = f"warns ({warned}/{trials})" if warned else f"{med(e_eg_v):.1e}"
        rows.append((gap, med(e_nat_p), med(e_eg_p), nat_v, eg_v))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the error table (and plot it with --plot if matplotlib is installed)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", default=None, help="write a PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = table(trials=2 if args.quick else 10)
    fmt = lambda x: "NaN/inf" if math.isinf(x) else f"{x:.1e}"  # noqa: E731
    print("relative gradient error vs relative gap (median over random bases, float64, n=6)")
    print(
        f"{'gap':>8} | {'tr(PB) native':>14} {'tr(PB) eigengrad':>16} | "
        f"{'(v^T b)^2 native':>22} {'(v^T b)^2 eigengrad':>22}"
    )
    for gap, nat_p, eg_p, nat_v, eg_v in rows:
        print(f"{gap:8.0e} | {fmt(nat_p):>14} {fmt(eg_p):>16} | {nat_v:>22} {eg_v:>22}")
    if args.plot:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot (pip install eigengrad[plot])")
            return
        gaps = [r[0] if r[0] > 0 else 1e-17 for r in rows]
        clip = lambda x: min(x, 1e3)  # noqa: E731
        plt.loglog(gaps, [clip(r[1]) for r in rows], "o-", label="tr(PB), torch.linalg.eigh")
        plt.loglog(gaps, [max(r[2], 1e-17) for r in rows], "s-", label="tr(PB), eg.eigh")
        plt.xlabel("relative eigenvalue gap (0 plotted at 1e-17)")
        plt.ylabel("relative gradient error")
        plt.legend()
        plt.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
