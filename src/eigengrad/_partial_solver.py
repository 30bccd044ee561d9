"""Choice of the forward solver and preconditioner for :func:`eigengrad.eigsh`.

``method="auto"`` picks, in order:

1. dense ``eigh`` for small problems (``n < 400``, or a block covering a fifth of the space);
2. for a real sparse matrix whose graph looks like a sparse random graph (locally a tree with
   branching, connected: :mod:`eigengrad._local_structure`), block Lanczos run
   ARPACK-like (step 5): such graphs fill in under any factorization and defeat multigrid
   (10^4-node random graph: nnz(L) > 70 nnz(A); multigrid LOBPCG 2-4x slower than Lanczos);
3. shift-invert for other real sparse matrices: LOBPCG preconditioned by the exact inverse
   ``(sign A - σ I)^{-1}`` (``σ`` just below the wanted end of the spectrum), applied through a
   sparse Cholesky factorization (:mod:`eigengrad._cholesky`, nested dissection), unless the
   factor would hold more than ``CHOLESKY_FILL`` times the entries of ``A`` (3-D meshes);
   10-13 LOBPCG iterations on 10^4-10^6-node grids;
4. LOBPCG with a smoothed-aggregation multigrid preconditioner (:mod:`eigengrad._multigrid`)
   for the smallest eigenpairs of the real sparse matrices left: its iteration count barely
   grows with ``n`` (17, 22, 29 iterations on 10^4, 10^5, 10^6-node grid Laplacians);
   LOBPCG with the given preconditioner, if one is passed;
5. block thick-restart Lanczos (:mod:`eigengrad._lanczos`) otherwise, and for
   ``method="lanczos"``. On real sparse random-like graphs (either end of the spectrum) it
   starts with a block of ``RANDOM_GRAPH_BLOCK`` columns, widened when that many copies of one
   eigenvalue appear, uses no polynomial filter (their wanted eigenvalues are well separated
   relative to the spectrum's width, so the Krylov space of ``A`` itself converges in about as
   many products as ARPACK needs), and skips the second Gram-Schmidt pass at every other step
   when a sketch shows that the basis stays orthogonal (about 20% less time at 10^5 nodes).
   For operators, dense matrices, complex input and other sparse matrices it uses a block of
   ``k + guard`` columns and a Chebyshev filter, which pays on mesh-like spectra whose wanted
   eigenvalues are close relative to the width.

The Cholesky solve or multigrid V-cycle, when used, also preconditions the adjoint MINRES solves
of the backward: both approximate ``(sign A - σ I)^{-1}``, symmetric positive definite. Other
sparse matrices get the inverse diagonal of ``sign A - σ I`` (Jacobi) there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._chebyshev import chebyshev_preconditioner
from ._cholesky import FillBudgetExceeded, analyse, factor
from ._lanczos import lanczos
from ._lobpcg import lobpcg
from ._local_structure import random_graph_like
from ._multigrid import multigrid_preconditioner
from ._operator import Problem
from .exceptions import InputError, NotPositiveDefiniteError

Matmat = Callable[[torch.Tensor], torch.Tensor]

METHODS = ("auto", "lobpcg", "lanczos", "dense", "shift-invert")
PRECONDITIONERS = ("auto", "cholesky", "multigrid", "chebyshev")
DENSE_BELOW = 400
# σ = lo - SHIFT · (hi - lo) for shift-invert and multigrid: LOBPCG's convergence factor grows
# with the distance to σ, and neither the factorization nor the V-cycle (whose prolongators
# interpolate constants) suffers from a small one. Shift-invert on a 10^5-node grid: 10 LOBPCG
# iterations at SHIFT = 1e-5, 16 at 1.2e-4, 36 at 1.2e-3
SHIFT = 1e-5
# automatic shift-invert only if nnz(L) <= CHOLESKY_FILL · nnz(A): 2-D grids pass (5.4, 6.8,
# 8.2 at 10^4, 10^5, 10^6 nodes), 3-D grids do not (23 at 30^3, 41 at 50^3), where multigrid
# LOBPCG was 2-3x faster than shift-invert (30^3: 0.97 s vs 2.0 s; 46^3: 3.8 s vs 11.5 s)
CHOLESKY_FILL = 20.0
# Lanczos settings on random-like graphs: random graph Laplacians (degree 10, k = 8, m = 12)
# took 404 / 372 products with a block of 2 and no filter (ARPACK: 428 at 10^5), against
# 1800 / 2136 with a block of 12 and the degree-9 filter, and 2-3.7x less time (10^4 / 10^5)
RANDOM_GRAPH_BLOCK = 2


@dataclass
class Forward:
    """Result of the forward solve on ``sign · A`` (smallest ``m`` Ritz pairs, ascending)."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    iterations: int
    norm_estimate: float
    method: str
    preconditioner: Matmat | None = None  # for the adjoint: Cholesky, V-cycle or Jacobi
    preconditioner_name: str | None = None
    # whether the adjoint MINRES may skip its operator's projection (``_krylov``, ``invariant``)
    adjoint_unprojected: bool = False
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


def _applies(p: Problem, name: str, sign: float, fn: str, required: bool) -> bool:
    """Whether ``preconditioner=name`` can serve ``p``; if ``required``, raise saying why not."""
    reason = None
    if p.matrix is None:
        reason = f"a sparse matrix (received a {p.kind} input)"
    elif p.dtype.is_complex:
        reason = "a real matrix (received complex; use method='lanczos')"
    elif sign < 0 and name == "multigrid":
        reason = "which='smallest' (for 'largest' use preconditioner='cholesky' or Lanczos)"
    if reason is not None and required:
        raise InputError(f"{fn}: preconditioner={name!r} needs {reason}.")
    return reason is None


def _shift(p: Problem, sign: float, bounds: tuple[float, float] | None, fn: str) -> float:
    """``s`` with ``sign A + s I`` positive definite: ``-σ``, ``σ`` just below the spectrum."""
    lo, hi = _bounds(p, bounds, fn)
    if sign < 0:
        lo, hi = -hi, -lo
    return SHIFT * max(hi - lo, torch.finfo(torch.float64).tiny) - lo


def _cholesky(
    p: Problem, sign: float, bounds: tuple[float, float] | None, fn: str, required: bool
) -> Matmat | None:
    """``R -> (sign A + s I)^{-1} R`` by a sparse Cholesky factorization; ``None`` if unsuitable.

    Unless ``required``, gives up when the factor would exceed ``CHOLESKY_FILL · nnz(A)``
    entries, or when rounding leaves ``sign A + s I`` numerically indefinite.
    """
    if not _applies(p, "cholesky", sign, fn, required):
        return None
    assert p.matrix is not None
    # (A + A^T) / 2: the matrix eigsh works with, with a symmetric stored pattern (a Hermitian
    # input may store an explicit zero on one side only) and exactly symmetric values
    C = p.matrix.to_sparse_coo()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        M = ((C + C.t()) * (0.5 * sign)).coalesce().to_sparse_csr()
    budget = None if required else int(CHOLESKY_FILL * M.values().numel())
    try:
        return factor(analyse(M, max_nnz_factor=budget), M, _shift(p, sign, bounds, fn)).solve
    except FillBudgetExceeded:
        return None
    except NotPositiveDefiniteError:
        if required:
            raise
        return None


def _jacobi(p: Problem, sign: float, bounds: tuple[float, float] | None, fn: str) -> Matmat | None:
    """``R -> D^{-1} R``, ``D`` the diagonal of ``sign A + s I``; ``None`` unless ``A`` is sparse.

    ``D > 0`` by Gershgorin (``s`` puts the whole spectrum above 0), so it is a valid MINRES
    preconditioner. On random graphs, whose Laplacian diagonals (degrees) vary 2-28, it halves
    the adjoint iterations (144 -> 67 at 10^5 nodes); on regular grids it is a plain scaling.
    """
    if p.diagonal is None:
        return None
    d = p.diagonal().real
    inv = (1 / (sign * d + _shift(p, sign, bounds, fn)))[:, None].to(p.dtype)
    return lambda R: R * inv


def _multigrid(
    p: Problem, sign: float, bounds: tuple[float, float] | None, fn: str, required: bool
) -> Matmat | None:
    """Build the V-cycle for ``A + s I`` (``which="smallest"``); ``None`` if unsuitable."""
    if not _applies(p, "multigrid", sign, fn, required):
        return None
    assert p.matrix is not None
    return multigrid_preconditioner(p.matrix, _shift(p, sign, bounds, fn))


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
            f"{fn}: expected method='auto', 'lobpcg', 'lanczos', 'dense' or 'shift-invert', "
            f"received {method!r} (README, 'Forward solvers')."
        )
    if method == "shift-invert":  # LOBPCG preconditioned by the exact shifted inverse
        if preconditioner not in ("auto", "cholesky"):
            raise InputError(
                f"{fn}: method='shift-invert' is LOBPCG with preconditioner='cholesky'; "
                f"received preconditioner={preconditioner!r}. Use method='lobpcg' for another "
                f"preconditioner."
            )
        method, preconditioner = "lobpcg", "cholesky"
    if not (
        callable(preconditioner) or preconditioner is None or preconditioner in PRECONDITIONERS
    ):
        raise InputError(
            f"{fn}: expected preconditioner='auto', 'cholesky', 'multigrid', 'chebyshev', None "
            f"or a callable R -> T R, received {preconditioner!r}."
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
    name: str | None = None
    random_like = False
    lanczos_or_auto = method == "lanczos" or method == preconditioner == "auto"
    if lanczos_or_auto and _applies(p, "cholesky", sign, fn, False):
        assert p.matrix is not None
        random_like = random_graph_like(p.matrix)
    if method in ("auto", "lobpcg") and not random_like:
        auto = preconditioner == "auto"
        if auto or preconditioner == "cholesky":
            precond = _cholesky(p, sign, bounds, fn, required=not auto)
            name = "cholesky"
        if precond is None and (auto or preconditioner == "multigrid"):
            precond = _multigrid(p, sign, bounds, fn, required=not auto)
            name = "multigrid"
        if precond is None and auto and method == "lobpcg" and p.kind == "sparse":
            preconditioner = "chebyshev"
        if preconditioner == "chebyshev":
            lo, hi = _bounds(p, bounds, fn)
            if sign < 0:  # the solver runs on -A
                lo, hi = -hi, -lo
            precond, name = chebyshev_preconditioner(apply, lo, hi), "chebyshev"
        elif callable(preconditioner):
            precond, name = preconditioner, "callable"
        if precond is None:
            name = None
    if method == "auto":
        method = "lobpcg" if precond is not None else "lanczos"
    start = X0()
    if method == "lanczos" and random_like:  # ARPACK-like: narrow block, no filter, lazy passes
        r = lanczos(
            apply, start, k, tol=tol, max_iter=max_iter, block=RANDOM_GRAPH_BLOCK, degree=1,
            lazy=True,
        )  # fmt: skip
    elif method == "lanczos":
        r = lanczos(apply, start, k, tol=tol, max_iter=max_iter)
    else:
        r = lobpcg(apply, start, k, tol=tol, max_iter=max_iter, precond=precond)
    # the adjoint reuses the factorization or the V-cycle, else takes the Jacobi preconditioner
    # (not a Chebyshev polynomial: with it MINRES needs ~7x fewer iterations, but each costs
    # ~6x more on grid Laplacians)
    if name in ("cholesky", "multigrid"):
        adjoint = precond
    else:
        adjoint = _jacobi(p, sign, bounds, fn)
    # the V-cycle is only an approximate inverse: it maps the Ritz block out of its span, and
    # MINRES on the unprojected operator needed more iterations (10^5 grid: 31 -> 55)
    unprojected = name != "multigrid"
    return Forward(
        r.eigenvalues,
        r.eigenvectors,
        r.residual_norms,
        r.iterations,
        r.norm_estimate,
        method,
        adjoint,
        name if method == "lobpcg" else None,
        adjoint_unprojected=unprojected,
    )
