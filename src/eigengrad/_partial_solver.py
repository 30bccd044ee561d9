"""Choice of the forward solver and preconditioner for :func:`eigengrad.eigsh`.

``method="auto"`` picks, in order:

1. dense ``eigh`` for small problems (``n < 400``, or a block covering a fifth of the space);
2. LOBPCG with a smoothed-aggregation multigrid preconditioner (:mod:`eigengrad._multigrid`)
   for the smallest eigenpairs of a real sparse matrix: LOBPCG's iteration count then barely
   grows with ``n`` (17, 22, 29 iterations on 10^4, 10^5, 10^6-node grid Laplacians). Unless
   the first multigrid level coarsens more than ``AUTO_MAX_COARSENING``-fold, the signature of
   an expander-like graph, on which the Lanczos solver below is faster;
3. LOBPCG with the given preconditioner, if one is passed;
4. block thick-restart Lanczos (:mod:`eigengrad._lanczos`) otherwise. On expander-like graphs
   it runs ARPACK-like: a block of ``EXPANDER_BLOCK`` columns, widened when that many copies of
   one eigenvalue appear, and no polynomial filter (their wanted eigenvalues are well separated
   relative to the spectrum's width, so the Krylov space of ``A`` itself converges in about as
   many products as ARPACK needs). For operators, dense matrices, complex input and
   ``which="largest"`` it uses a block of ``k + guard`` columns and a Chebyshev filter, which
   pays on mesh-like spectra whose wanted eigenvalues are close relative to the width.

The multigrid V-cycle, when used, also preconditions the adjoint MINRES solves of the backward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._chebyshev import chebyshev_preconditioner
from ._lanczos import lanczos
from ._lobpcg import lobpcg
from ._multigrid import CoarseningTooFast, multigrid_preconditioner
from ._operator import Problem
from .exceptions import InputError

Matmat = Callable[[torch.Tensor], torch.Tensor]

METHODS = ("auto", "lobpcg", "lanczos", "dense")
PRECONDITIONERS = ("auto", "multigrid", "chebyshev")
DENSE_BELOW = 400
# σ = lo - MULTIGRID_SHIFT · (hi - lo): LOBPCG's convergence factor grows with the shift, the
# V-cycle's accuracy does not suffer from a small one (the prolongators interpolate constants)
MULTIGRID_SHIFT = 1e-5
# method="auto" prefers Lanczos when the first multigrid level coarsens faster than this: 2-D and
# 3-D meshes coarsen 7-11 fold, expander-like graphs (random graphs, hypercubes) 24-29 fold, and on
# those the filtered Lanczos solver was 1.6-2.4x faster than multigrid LOBPCG (10^4-10^5 nodes)
AUTO_MAX_COARSENING = 20.0
# Lanczos settings on expander-like graphs: random graph Laplacians (degree 10, k = 8, m = 12)
# took 404 / 372 products with a block of 2 and no filter (ARPACK: 428 at 10^5), against
# 1800 / 2136 with a block of 12 and the degree-9 filter, and 2-3.7x less time (10^4 / 10^5)
EXPANDER_BLOCK = 2


@dataclass
class Forward:
    """Result of the forward solve on ``sign · A`` (smallest ``m`` Ritz pairs, ascending)."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    iterations: int
    norm_estimate: float
    method: str
    preconditioner: Matmat | None = None  # the multigrid V-cycle, reused by the adjoint solves
    spectrum: tuple[torch.Tensor, torch.Tensor] | None = None  # all pairs of sign · A (dense)


def _bounds(p: Problem, bounds: tuple[float, float] | None, fn: str) -> tuple[float, float]:
    if bounds is None:
        if p.bounds is None:
            raise InputError(
                f"{fn}: preconditioner='chebyshev' needs bounds of the spectrum; a "
                f"LinearOperator has no Gershgorin discs. Pass spectrum_bounds=(lo, hi) with "
                f"lo <= eigenvalues <= hi."
            )
        bounds = p.bounds()
    return float(bounds[0]), float(bounds[1])


def _multigrid(
    p: Problem,
    sign: float,
    bounds: tuple[float, float] | None,
    fn: str,
    required: bool,
    max_coarsening: float | None,
) -> tuple[Matmat | None, bool]:
    """Build the V-cycle for ``A - σ I`` (``σ`` just below the spectrum).

    Returns the V-cycle (``None`` if unsuitable) and whether the matrix was found expander-like
    (its first level coarsens faster than ``max_coarsening``).
    """
    reason = None
    if p.matrix is None:
        reason = f"a sparse matrix (received a {p.kind} input)"
    elif p.dtype.is_complex:
        reason = "a real matrix (received complex; use method='lanczos')"
    elif sign < 0:
        reason = "which='smallest' (for 'largest' use the default Lanczos solver)"
    if reason is None:
        assert p.matrix is not None
        lo, hi = _bounds(p, bounds, fn)
        shift = MULTIGRID_SHIFT * max(hi - lo, torch.finfo(torch.float64).tiny) - lo
        try:
            return multigrid_preconditioner(p.matrix, shift, max_coarsening=max_coarsening), False
        except CoarseningTooFast:
            return None, True
    if required:
        raise InputError(f"{fn}: preconditioner='multigrid' needs {reason}.")
    return None, False


def solve_forward(
    p: Problem,
    X0: Callable[[], torch.Tensor],
    k: int,
    m: int,
    *,
    which: str,
    method: str,
    preconditioner: Any,
    bounds: tuple[float, float] | None,
    tol: float,
    max_iter: int,
    fn: str,
) -> Forward:
    """Run the chosen forward solver on ``sign · A`` (``sign = -1`` for ``which="largest"``)."""
    if method not in METHODS:
        raise InputError(
            f"{fn}: expected method='auto', 'lobpcg', 'lanczos' or 'dense', received "
            f"{method!r}. Shift-invert needs a sparse factorization, which torch does not "
            f"provide; sparse matrices get a multigrid-preconditioned LOBPCG instead (README, "
            f"'Forward solvers')."
        )
    if not (
        callable(preconditioner) or preconditioner is None or preconditioner in PRECONDITIONERS
    ):
        raise InputError(
            f"{fn}: expected preconditioner='auto', 'multigrid', 'chebyshev', None or a "
            f"callable R -> T R, received {preconditioner!r}."
        )
    if method == "lanczos" and preconditioner not in ("auto", None):
        raise InputError(
            f"{fn}: method='lanczos' takes no preconditioner (received {preconditioner!r}); "
            f"use method='lobpcg' with it, or preconditioner='auto'."
        )
    sign = -1.0 if which == "largest" else 1.0
    if method == "auto" and (p.n < DENSE_BELOW or 5 * m > p.n):
        method = "dense"
    if method == "dense":
        w_all, V_all = torch.linalg.eigh(sign * p.dense())
        theta, Xm = w_all[:m], V_all[:, :m]
        norm_est = float(w_all.abs().max()) if w_all.numel() else 0.0
        res = torch.linalg.vector_norm(sign * p.apply(Xm) - Xm * theta.to(p.dtype), dim=0)
        return Forward(theta, Xm, res, 0, norm_est, "dense", spectrum=(w_all, V_all))

    def apply(V: torch.Tensor) -> torch.Tensor:
        return p.apply(V) if sign > 0 else -p.apply(V)

    precond: Matmat | None = None
    multigrid: Matmat | None = None
    expander = False
    if method in ("auto", "lobpcg"):
        if preconditioner in ("auto", "multigrid"):
            multigrid, expander = _multigrid(
                p,
                sign,
                bounds,
                fn,
                required=preconditioner == "multigrid",
                max_coarsening=AUTO_MAX_COARSENING if method == "auto" else None,
            )
            precond = multigrid
            if precond is None and method == "lobpcg" and p.kind == "sparse":
                preconditioner = "chebyshev"
        if preconditioner == "chebyshev":
            lo, hi = _bounds(p, bounds, fn)
            if sign < 0:  # the solver runs on -A
                lo, hi = -hi, -lo
            precond = chebyshev_preconditioner(apply, lo, hi)
        elif callable(preconditioner):
            precond = preconditioner
        if method == "auto":
            method = "lobpcg" if precond is not None else "lanczos"
    start = X0()
    if method == "lanczos":
        if expander:
            r = lanczos(apply, start, k, tol=tol, max_iter=max_iter, block=EXPANDER_BLOCK, degree=1)
        else:
            r = lanczos(apply, start, k, tol=tol, max_iter=max_iter)
    else:
        r = lobpcg(apply, start, k, tol=tol, max_iter=max_iter, precond=precond)
    return Forward(
        r.eigenvalues,
        r.eigenvectors,
        r.residual_norms,
        r.iterations,
        r.norm_estimate,
        method,
        multigrid,
    )
