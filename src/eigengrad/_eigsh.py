"""``eg.eigsh``: a few extreme eigenpairs of a dense, sparse or matrix-free Hermitian operator.

The forward is chosen in :mod:`eigengrad._partial_solver` (shift-invert or multigrid-preconditioned
LOBPCG, block Lanczos, or dense ``eigh``); the derivatives are implicit (:mod:`eigengrad._implicit`,
MATH.md section 7).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from . import _policy
from ._implicit import (
    ComplementSolve,
    ImplicitSpec,
    attach,
    default_cluster_tolerances,
    minres_solver,
    spectral_solver,
)
from ._lobpcg import random_block
from ._operator import LinearOperator, Problem, _mm, as_problem
from ._partial_solver import solve_forward
from ._rules import _partial as rp
from ._rules._gauge import fix_gauge as _fix_gauge
from ._validation import (
    check_cluster_tolerances,
    check_integer,
    check_start,
    check_tolerance,
    machine_eps,
)
from .exceptions import ConvergenceWarning, InputError, SplitClusterWarning

_FN = "eigengrad.eigsh"


class ConvergenceInfo(NamedTuple):
    """Convergence of the forward solve.

    Attributes
    ----------
    residual_norms : Tensor
        ``‖A x_i - w_i x_i‖`` per returned pair, recomputed with an exact product.
    iterations : int
        Solver iterations: LOBPCG iterations, or Lanczos block steps (0 for the dense path).
    converged : Tensor
        Boolean per pair: ``residual_norms <= tol · norm_estimate``.
    method : str
        The forward solver used: ``"lobpcg"``, ``"lanczos"`` or ``"dense"``.
    norm_estimate : float
        Estimate of ``‖A‖_2`` the tolerance is relative to (largest Ritz value magnitude).
    guard_gap : float
        Distance from the innermost selected eigenvalue to the next (guard) Ritz value
        (``inf`` when ``k = n``).
    preconditioner : str or None
        LOBPCG's preconditioner: ``"cholesky"`` (shift-invert), ``"multigrid"``,
        ``"chebyshev"``, ``"callable"``, or ``None``.
    """

    residual_norms: torch.Tensor
    iterations: int
    converged: torch.Tensor
    method: str
    norm_estimate: float
    guard_gap: float
    preconditioner: str | None = None


class EigshResult(NamedTuple):
    """``(eigenvalues, eigenvectors, info)``: ascending eigenvalues, their vectors, convergence."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    info: ConvergenceInfo


def default_tol(dtype: torch.dtype) -> float:
    """Default relative residual tolerance ``eps^(2/3)`` (3.7e-11 in float64, 2.4e-5 in float32)."""
    return float(machine_eps(dtype) ** (2 / 3))


def _check_k(p: Problem, k: Any) -> int:
    try:
        count = check_integer(k, "k", _FN, 0)
    except InputError:
        count = -1
    if not 0 <= count <= p.n:
        raise InputError(
            f"{_FN}: expected an integer number of eigenpairs 0 <= k <= n = {p.n}, received "
            f"k={k!r}."
        )
    return count


def _check_args(p: Problem, which: str, X0: Any, bounds: Any) -> None:
    if which not in ("smallest", "largest"):
        raise InputError(
            f"{_FN}: expected which='smallest' or which='largest', received {which!r}. For "
            f"interior eigenvalues shift the operator (A - sigma I) and square it, or use "
            f"eg.eigh on a dense matrix."
        )
    if X0 is not None:
        check_start(X0, p.n, p.dtype, _FN, "X0")
    if bounds is not None:
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            lo = hi = math.nan
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(
                f"{_FN}: expected spectrum_bounds=(lo, hi), finite with lo < hi, received "
                f"{bounds!r}. For an operator with a single eigenvalue c, pass (c - 1, c + 1)."
            )


def _start_block(p: Problem, m: int, X0: torch.Tensor | None, seed: int) -> torch.Tensor:
    R = random_block(p.n, m, p.dtype, p.device, seed)
    if X0 is None:
        return R
    X0 = X0.detach().to(dtype=p.dtype, device=p.device)[:, :m]
    return torch.cat([X0, R[:, X0.shape[1] :]], 1)


def eigsh(
    A: torch.Tensor | LinearOperator,
    k: int,
    *,
    which: str = "smallest",
    method: str = "auto",
    tol: float | None = None,
    max_iter: int = 5000,
    X0: torch.Tensor | None = None,
    seed: int = 0,
    preconditioner: Any = "auto",
    spectrum_bounds: tuple[float, float] | None = None,
    guard: int | None = None,
    adjoint_tol: float | None = None,
    adjoint_max_iter: int = 20000,
    rtol: float | None = None,
    atol: float = 0.0,
    gauge: str = "warn",
    fix_gauge: bool = False,
    check_hermitian: bool = True,
) -> EigshResult:
    r"""Compute a few extreme eigenpairs of a Hermitian matrix or operator, differentiably.

    ``A X = X diag(w)``, ``X^H X = I`` for the ``k`` smallest (or largest) eigenvalues ``w``
    (ascending). Nothing of size ``n × n`` is formed for sparse or matrix-free input.

    Parameters
    ----------
    A : Tensor or LinearOperator
        Hermitian ``(n, n)``: a dense tensor, a torch sparse COO or CSR tensor (its values may
        require grad), or an :class:`eigengrad.LinearOperator` whose ``matmat`` may depend on
        tensors that require grad. Real symmetric and complex Hermitian are both supported.
    k : int
        Number of eigenpairs, ``0 <= k <= n``.
    which : {"smallest", "largest"}
        Which end of the spectrum.
    method : {"auto", "lobpcg", "lanczos", "dense", "shift-invert"}
        Forward solver. ``"auto"`` uses dense ``eigh`` for ``n < 400`` or when ``5 (k + guard)
        > n`` (it densifies the operator with ``n`` products). For a real sparse matrix: block
        Lanczos if its graph looks like a sparse random graph (locally a tree with branching,
        judged on a seeded sample of 128 nodes, and connected: ``_local_structure.py``),
        else shift-invert (LOBPCG
        with ``preconditioner="cholesky"``) if the sparse factor holds at most 20 times the
        entries of ``A``, else LOBPCG with the multigrid preconditioner (``which="smallest"``).
        LOBPCG if a preconditioner is passed; block thick-restart Lanczos with a Chebyshev
        filter otherwise (operators, dense and complex input). LOBPCG uses a block of
        ``k + guard`` columns, Lanczos a block that starts at ``k + guard`` columns (2 on
        sparse random graphs, widened whenever it holds that many copies of one eigenvalue);
        both find every copy of an eigenvalue of multiplicity up to ``k + guard``.
        ``"shift-invert"`` is LOBPCG with ``preconditioner="cholesky"``.
    tol : float, optional
        Relative residual tolerance: ``‖A x_i - w_i x_i‖ <= tol ‖A‖_est``. Default
        ``eps^(2/3)`` of the dtype.
    max_iter : int
        Maximum LOBPCG iterations or Lanczos block steps.
    X0 : Tensor, optional
        Initial block ``(n, j)``; missing columns are filled with seeded random vectors.
    seed : int
        Seed of the random start block; the result is deterministic given the seed.
    preconditioner : "auto", "cholesky", "multigrid", "chebyshev", None or callable
        LOBPCG only. ``"auto"`` (default): ``"cholesky"`` or ``"multigrid"`` where they apply
        (see ``method``), else ``"chebyshev"`` for sparse input with ``method="lobpcg"``, else
        none. ``"cholesky"``: shift-invert, the exact ``(A - σ I)^{-1}`` (``(σ I - A)^{-1}`` for
        ``which="largest"``), ``σ`` just outside the Gershgorin bound, through a sparse
        Cholesky factorization with a nested-dissection ordering (real sparse input;
        :mod:`eigengrad._cholesky`); it also preconditions the adjoint solves.
        ``"multigrid"``: one symmetric V-cycle of smoothed-aggregation multigrid for
        ``A - σ I``, ``σ`` just below the Gershgorin bound (real sparse input,
        ``which="smallest"``; :mod:`eigengrad._multigrid`); it also preconditions the adjoint
        solves of the backward. ``"chebyshev"``: 20 steps of the Chebyshev iteration on ``A``
        shifted by a spectral bound (Gershgorin discs for dense and sparse input,
        ``spectrum_bounds`` for operators). A callable ``R -> T R`` must apply a Hermitian
        positive definite ``T`` approximating ``(A - σ I)^{-1}`` for ``σ`` just below the
        wanted eigenvalues (for ``which="largest"``: ``(σ I - A)^{-1}``).
    spectrum_bounds : (float, float), optional
        ``(lo, hi)`` with ``lo <= λ(A) <= hi``, for the ``"chebyshev"`` and ``"multigrid"``
        preconditioners (required for a :class:`LinearOperator`; overrides Gershgorin bounds
        otherwise).
    guard : int, optional
        Extra block columns beyond ``k`` (default ``max(3, k // 2)``): they speed convergence
        and detect a selection that splits a cluster.
    adjoint_tol : float, optional
        Relative residual tolerance of the projected MINRES solves in the derivative (default
        ``tol``).
    adjoint_max_iter : int
        Maximum MINRES iterations per derivative.
    rtol, atol : float, optional
        Cluster tolerance inside the computed set, as in :func:`eigengrad.eigh`; the largest
        residual norm is added to ``atol`` (pairs the forward cannot resolve form a cluster).
    gauge : {"warn", "raise"}
        Policy for losses that depend on the basis inside a cluster (see :func:`eigh`).
    fix_gauge : bool
        Make the largest-magnitude entry of each eigenvector real and positive.
    check_hermitian : bool
        Check dense and sparse input for Hermitian symmetry up to rounding (operators are never
        checked). With ``False``, the solvers, preconditioners and derivatives all work with the
        Hermitian part ``(A + A^H) / 2`` (for sparse input with an asymmetric pattern it is
        formed once, on the union of the patterns).

    Returns
    -------
    EigshResult
        ``(eigenvalues, eigenvectors, info)``: ``(k,)`` ascending, ``(n, k)``, and a
        :class:`ConvergenceInfo` with residual norms, iterations and converged flags.

    Raises
    ------
    InputError, InputDTypeError, InputShapeError, NotHermitianError, NonFiniteInputError
        For invalid arguments; the message says what was received and how to fix it.
    GaugeDependenceError
        In backward, with ``gauge="raise"``, for a basis-dependent loss inside a cluster.

    Warns
    -----
    ConvergenceWarning
        When the forward (or, in backward, an adjoint solve) stops before its tolerance; the
        message gives the residual reached.
    SplitClusterWarning
        When ``λ_k`` and ``λ_{k+1}`` coincide within the resolution of the forward (detected with
        the guard vectors): the selected eigenvectors and their derivatives are undefined.
    GaugeDependenceWarning, SubgradientWarning
        In backward, as in :func:`eigengrad.eigh`, for clusters inside the computed set.

    Notes
    -----
    Implicit differentiation of the eigen-equations (not of the iterations). With
    ``S = X^H gX``, ``F_ij = 1/(w_j - w_i)`` on the ``k × k`` block and
    ``(A - w_i I) y_i = (I - X X^H) gX_i`` solved on the complement of ``X`` by projected
    MINRES:

    - VJP: ``gA = X (diag(gw) + F ∘ skew(S)) X^H - (Y X^H + X Y^H) / 2``.
    - JVP: ``dw = Re diag(X^H dA X)``; ``dX = X (F ∘ X^H dA X) - Y'`` with
      ``(A - w_i I) y'_i = (I - X X^H) dA x_i`` on the complement.

    Both depend on ``dA`` only through ``dA X``, so the gradient is returned through
    ``Z = sym(A) X``: dense for dense ``A``, on the stored entries for sparse ``A``, and through
    ``torch.autograd`` on ``matmat`` for an operator. Inside the computed set the cluster policy
    of :func:`eigengrad.eigh` applies (exact gradients for basis-invariant losses of whole
    clusters). A selection that splits a cluster warns; its eigenvector derivatives do not
    exist. Double backward and ``torch.func.vmap`` are not supported (the backward calls an
    iterative solver); batches must be looped over.

    References
    ----------
    Knyazev 2001 (LOBPCG); Hetmaniuk and Lehoucq 2006; Wu and Simon 2000, Stewart 2001
    (thick-restart Lanczos, Krylov-Schur); Vaněk, Mandel and Brezina 1996 (smoothed
    aggregation); Paige and Saunders 1975 (MINRES);
    Kasim 2020 (arXiv:2011.04366); Francuz et al. 2023 (arXiv:2311.11894).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> n = 1000
    >>> i = torch.arange(n - 1)
    >>> edges = torch.stack([torch.cat([i, i + 1]), torch.cat([i + 1, i])])
    >>> weight = torch.ones(n - 1, dtype=torch.float64, requires_grad=True)
    >>> L = eg.graph_laplacian(edges, weight.repeat(2), n)  # path graph, sparse
    >>> w, X, info = eg.eigsh(L, 2, method="lobpcg")
    >>> bool(info.converged.all()), round(float(w[1].detach()), 10)  # algebraic connectivity
    (True, 9.8696e-06)
    >>> w[1].backward()
    >>> weight.grad.shape
    torch.Size([999])
    """
    p = as_problem(A, _FN, check_hermitian=check_hermitian)
    k = _check_k(p, k)
    _check_args(p, which, X0, spectrum_bounds)
    _policy.check_gauge_option(gauge, _FN)
    eps = machine_eps(p.dtype)
    tol = default_tol(p.dtype) if tol is None else check_tolerance(tol, "tol", _FN)
    adjoint_tol = tol if adjoint_tol is None else check_tolerance(adjoint_tol, "adjoint_tol", _FN)
    max_iter = check_integer(max_iter, "max_iter", _FN, 1)
    adjoint_max_iter = check_integer(adjoint_max_iter, "adjoint_max_iter", _FN, 1)
    seed = check_integer(seed, "seed", _FN)
    guard = None if guard is None else check_integer(guard, "guard", _FN, 0)
    rtol, atol = check_cluster_tolerances(rtol, atol, _FN)
    g = min(p.n - k, max(3, k // 2) if guard is None else guard)
    m = k + g
    sign = -1.0 if which == "largest" else 1.0
    fwd = solve_forward(
        p,
        lambda: _start_block(p, m, X0, seed),
        k,
        m,
        which=which,
        method=method,
        preconditioner=preconditioner,
        bounds=spectrum_bounds,
        tol=tol,
        max_iter=max_iter,
        fn=_FN,
    )
    theta, Xm, res = fwd.eigenvalues, fwd.eigenvectors, fwd.residual_norms
    iterations, norm_est, method = fwd.iterations, fwd.norm_estimate, fwd.method
    # selected pairs, ascending in the original sign
    w, X, r = theta[:k], Xm[:, :k], res[:k]
    converged = r <= tol * max(norm_est, torch.finfo(theta.dtype).tiny)
    if k and not bool(converged.all()):
        worst = int((r / max(norm_est, 1e-300)).argmax())
        warnings.warn(
            f"{_FN}: {int((~converged).sum())} of {k} eigenpairs did not converge in "
            f"{iterations} {method} iterations: worst relative residual reached "
            f"{float(r[worst]) / max(norm_est, 1e-300):.3g} > tol = {tol:.3g} (eigenvalue "
            f"{sign * float(w[worst]):.6g}). Raise max_iter, pass a preconditioner, or loosen "
            f"tol; derivatives of unconverged pairs are inaccurate.",
            ConvergenceWarning,
            stacklevel=2,
        )
    rtol_c, atol_c = default_cluster_tolerances(p.n, eps, norm_est, r, rtol, atol)
    guard_gap = math.inf
    if k and m > k:
        guard_gap = float(theta[k] - theta[k - 1])
        resolution = atol_c + float(res[k])
        if bool(converged.all()) and rp.splits_cluster(
            float(theta[k - 1]), float(theta[k]), resolution
        ):
            warnings.warn(
                f"{_FN}: the selection of the {k} {which} eigenvalues splits a cluster: "
                f"eigenvalue {k} ({sign * float(theta[k - 1]):.10g}) and the next one "
                f"({sign * float(theta[k]):.10g}, a guard vector) differ by {guard_gap:.3g}, "
                f"within the forward's resolution {resolution:.3g}. The selected "
                f"eigenvectors (and their projector) are not defined and have no derivative; "
                f"the eigenvalues are correct. Choose k so that the selection ends at a gap "
                f"(e.g. k={k - 1} or k={k + 1} if the multiplicity is 2), or use sums of "
                f"eigenvalues over the whole cluster.",
                SplitClusterWarning,
                stacklevel=2,
            )
    if sign < 0:  # ascending in the original sign
        w, X, r, converged = -w.flip(0), X.flip(1), r.flip(0), converged.flip(0)
    info = ConvergenceInfo(
        r, iterations, converged, method, norm_est, guard_gap, fwd.preconditioner_name
    )
    if fwd.spectrum is not None:  # dense path: exact complement solves
        w_all, V_all = fwd.spectrum
        solve = spectral_solver(sign * w_all[k:], V_all[:, k:], atol_c)
    else:
        solve = _adjoint_solver(
            p, fwd.preconditioner, adjoint_tol, adjoint_max_iter, fwd.adjoint_unprojected
        )
    spec = ImplicitSpec(solve, rtol_c, atol_c, gauge, _FN)  # type: ignore[arg-type]
    w, X = w.detach(), X.detach()
    if (p.differentiable is not False and torch.is_grad_enabled()) or _forward_ad_active():
        with torch.enable_grad():
            Z = p.graph_matmat(X)
        if Z.requires_grad or _has_tangent(Z):
            w, X = attach(Z, w, X, spec)
    if fix_gauge:
        X = _fix_gauge(X)
    return EigshResult(w, X, info)


_WIDER = {torch.float32: torch.float64, torch.complex64: torch.complex128}


def _adjoint_solver(
    p: Problem,
    precond: Callable[[torch.Tensor], torch.Tensor] | None,
    tol: float,
    max_iter: int,
    invariant: bool,
) -> ComplementSolve:
    """Projected MINRES for the complement solves; in double precision for sparse float32.

    In single precision MINRES stagnates near ``eps · cond`` (about 5e-4 on a 30 × 30 grid),
    above the default ``adjoint_tol = eps^(2/3)``. For a sparse matrix the solves therefore run
    on a float64 copy of its values (``nnz`` more doubles); the forward's preconditioner stays
    in single precision, and MINRES's restarts from the true residual recover the accuracy
    its rounding costs.
    """
    wide = _WIDER.get(p.dtype)
    if p.matrix is None or wide is None:
        return minres_solver(p.apply, tol, max_iter, _FN, precond=precond, invariant=invariant)
    A_wide = p.matrix.to(wide)
    T = precond
    wide_precond = None if T is None else (lambda R: T(R.to(p.dtype)).to(wide))
    return minres_solver(
        lambda V: _mm(A_wide, V),
        tol,
        max_iter,
        _FN,
        precond=wide_precond,
        precision=wide,
        invariant=invariant,
    )


def _forward_ad_active() -> bool:
    import torch.autograd.forward_ad as fwAD

    return bool(fwAD._current_level >= 0)


def _has_tangent(t: torch.Tensor) -> bool:
    import torch.autograd.forward_ad as fwAD

    return _forward_ad_active() and fwAD.unpack_dual(t).tangent is not None
