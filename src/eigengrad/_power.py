"""``eg.power_iteration``: the dominant eigenpair, differentiated implicitly or by unrolling."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import torch

from ._eigsh import ConvergenceInfo, default_tol
from ._implicit import ImplicitSpec, attach, default_cluster_tolerances, minres_solver
from ._lobpcg import random_block
from ._operator import LinearOperator, as_problem
from ._rules._gauge import fix_gauge
from ._validation import check_integer, check_start, check_tolerance, machine_eps, real_dtype
from .exceptions import ConvergenceWarning, InputError, SplitClusterWarning

_FN = "eigengrad.power_iteration"


class PowerResult(NamedTuple):
    """``(eigenvalue, eigenvector, info)`` of the dominant eigenpair."""

    eigenvalue: torch.Tensor
    eigenvector: torch.Tensor
    info: ConvergenceInfo


def power_iteration(
    A: torch.Tensor | LinearOperator,
    *,
    x0: torch.Tensor | None = None,
    tol: float | None = None,
    max_iter: int = 10000,
    seed: int = 0,
    differentiation: str = "implicit",
    adjoint_tol: float | None = None,
    adjoint_max_iter: int = 20000,
    check_hermitian: bool = True,
) -> PowerResult:
    r"""Return the dominant (largest-magnitude) eigenpair of a Hermitian matrix or operator.

    Iterates ``x <- A x / ‖A x‖`` until ``‖A x - λ x‖ <= tol |λ|`` with ``λ = x^H A x``. The
    eigenvector is returned with its largest-magnitude entry real and positive (MATH.md 8).

    Parameters
    ----------
    A : Tensor or LinearOperator
        Hermitian ``(n, n)``, dense, sparse (COO/CSR) or matrix-free, as in :func:`eigsh`.
    x0 : Tensor, optional
        Start vector ``(n,)`` (default: seeded random).
    tol : float, optional
        Relative residual tolerance (default ``eps^(2/3)``).
    max_iter : int
        Maximum iterations.
    seed : int
        Seed of the random start vector.
    differentiation : {"implicit", "unrolled"}
        ``"implicit"``: the rule of MATH.md section 7 with ``k = 1`` (memory ``O(n)``, one
        projected MINRES solve in backward). ``"unrolled"``: autograd through every iteration
        (memory ``O(n · iterations)``); the reference the implicit rule is tested against.
    adjoint_tol, adjoint_max_iter
        Tolerance and iteration limit of the implicit rule's MINRES solve.
    check_hermitian : bool
        Check dense and sparse input for Hermitian symmetry; with ``False``, the Hermitian part
        ``(A + A^H) / 2`` is used, as in :func:`eigsh`.

    Returns
    -------
    PowerResult
        ``(eigenvalue, eigenvector, info)``; ``info`` is an :class:`eigengrad.ConvergenceInfo`.

    Raises
    ------
    InputError
        For an unknown ``differentiation`` or a bad ``x0``; typed input errors as in
        :func:`eigsh`.

    Warns
    -----
    ConvergenceWarning
        When the iteration (or the implicit rule's adjoint solve) stops before its tolerance.
    SplitClusterWarning
        When the dominant eigenvalue is (numerically) repeated: the guard has converged
        (residual at most ``sqrt(tol) |λ|``) and ``|λ| - |θ_g|`` is within the resolution
        (cluster tolerance plus the guard's residual norm), so the eigenvector depends on the
        start vector and the derivatives are not defined.

    Notes
    -----
    Implicit rule (``k = 1``): ``gA = gλ x x^H - (y x^H + x y^H) / 2`` with
    ``(A - λ I) y = (I - x x^H) gx`` on the complement of ``x``; JVP ``dλ = x^H dA x``,
    ``dx = -y'`` with ``(A - λ I) y' = (I - x x^H) dA x``. The rule needs ``|λ|`` to be a simple
    eigenvalue; if ``-λ`` is also an eigenvalue the iteration itself does not converge. A
    repeated dominant eigenvalue is detected by a guard vector iterated alongside ``x`` and
    kept orthogonal to it (subspace iteration's second column: it converges to the
    next-largest ``|λ|`` as fast as ``x`` converges when that equals ``|λ|``); ``x`` itself is
    unchanged by it. The second column costs about 1.4x one product for sparse matrices on
    the CPU (an extra product in ``"unrolled"`` mode). ``info.guard_gap`` is ``|λ| - |θ_g|``
    (``θ_g`` the guard's Rayleigh quotient, at most the next-largest ``|λ|``).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.diag(torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)).requires_grad_()
    >>> lam, x, info = eg.power_iteration(A)
    >>> lam.backward()
    >>> round(float(lam.detach()), 10), A.grad.diagonal().round(decimals=12)
    (5.0, tensor([0., 0., 1.], dtype=torch.float64))
    """
    if differentiation not in ("implicit", "unrolled"):
        raise InputError(
            f"{_FN}: expected differentiation='implicit' or 'unrolled', received "
            f"{differentiation!r}."
        )
    p = as_problem(A, _FN, check_hermitian=check_hermitian)
    tol = default_tol(p.dtype) if tol is None else check_tolerance(tol, "tol", _FN)
    max_iter = check_integer(max_iter, "max_iter", _FN, 1)
    seed = check_integer(seed, "seed", _FN)
    if x0 is None:
        x = random_block(p.n, 1, p.dtype, p.device, seed)
    else:
        x0 = check_start(x0, p.n, p.dtype, _FN, "x0", vector=True)
        if p.n and not bool(x0.abs().amax() > 0):
            raise InputError(
                f"{_FN}: expected a nonzero start vector x0, received all zeros. Omit x0 for a "
                f"seeded random start."
            )
        x = x0.to(dtype=p.dtype, device=p.device).reshape(-1, 1)
    unrolled = differentiation == "unrolled"
    product = p.matmat if unrolled else p.apply
    x = x / torch.linalg.vector_norm(x)
    # the guard: power iteration deflated by the current x, i.e. the second column of subspace
    # iteration (x itself is unchanged by it); it converges to the next-largest |λ|
    g = random_block(p.n, 1, p.dtype, p.device, seed + 1) if p.n > 1 else None
    res = torch.full((1,), float("inf"), dtype=real_dtype(p.dtype), device=p.device)
    lam = x.new_zeros(()).real
    theta, g_res = 0.0, math.inf
    it = 0
    with torch.enable_grad() if unrolled else torch.no_grad():
        while it < max_iter:
            it += 1
            if g is not None:
                with torch.no_grad():
                    g = g - x.detach() * (x.detach().conj() * g).sum()
                    norm = torch.linalg.vector_norm(g)  # 0 once A annihilates the complement
                    g = g / torch.where(norm > 0, norm, torch.ones_like(norm))
            if g is None or unrolled:
                y = product(x)
                with torch.no_grad():
                    z = p.apply(g) if g is not None else None
            else:  # one product with both columns
                yz = product(torch.cat([x, g], 1))
                y, z = yz[:, :1], yz[:, 1:]
            lam = (x.conj() * y).sum().real
            r = torch.linalg.vector_norm(y - x * lam.to(p.dtype))
            res = r.detach().reshape(1)
            done = float(res[0]) <= tol * abs(float(lam.detach()))
            if z is not None and (done or it == max_iter):
                assert g is not None
                theta_t = (g.conj() * z).sum().real
                theta = float(theta_t)
                g_res = float(torch.linalg.vector_norm(z - g * theta_t.to(p.dtype)))
            if done:
                break
            x = y / torch.linalg.vector_norm(y)
            if z is not None:
                g = z
    lam_value = float(lam.detach())
    converged = res <= tol * abs(lam_value)
    if not bool(converged.all()):
        warnings.warn(
            f"{_FN}: no convergence in {it} iterations: relative residual reached "
            f"{float(res[0]) / max(abs(lam_value), 1e-300):.3g} > tol = {tol:.3g}. The two "
            f"largest eigenvalue magnitudes are probably close (or equal, e.g. λ and -λ); use "
            f"eg.eigsh with which='largest' instead.",
            ConvergenceWarning,
            stacklevel=2,
        )
    rtol_c, atol_c = default_cluster_tolerances(
        p.n, machine_eps(p.dtype), abs(lam_value), res, None, 0.0
    )
    guard_gap = abs(lam_value) - abs(theta) if g is not None else math.inf
    # an unconverged guard proves nothing (its Rayleigh quotient sits anywhere below the
    # next-largest |λ|, with a residual of that size); a repeated |λ| converges it with x
    settled = g_res <= tol**0.5 * abs(lam_value)
    if g is not None and bool(converged.all()) and settled and guard_gap <= atol_c + g_res:
        warnings.warn(
            f"{_FN}: the dominant eigenvalue {lam_value:.10g} is (numerically) repeated: the "
            f"guard vector, kept orthogonal to the iterate, reached a Rayleigh quotient "
            f"{theta:.10g} whose magnitude differs by {guard_gap:.3g}, within the resolution "
            f"{atol_c + g_res:.3g}. The eigenvector (it depends on the start vector) and the "
            f"eigenvalue's derivative (a maximum over the eigenspace) are not defined. Use "
            f"eg.eigsh(A, k, which='largest') with k covering the whole cluster and invariant "
            f"quantities (its sum of eigenvalues, its projector).",
            SplitClusterWarning,
            stacklevel=2,
        )
    info = ConvergenceInfo(res, it, converged, "power", abs(lam_value), guard_gap)
    if not unrolled:
        w = lam.detach().reshape(1)
        X = x.detach()
        solve = minres_solver(
            p.apply, tol if adjoint_tol is None else float(adjoint_tol), adjoint_max_iter, _FN
        )
        spec = ImplicitSpec(solve, rtol_c, atol_c, "warn", _FN)
        if torch.is_grad_enabled() or _fw_active():
            with torch.enable_grad():
                Z = p.graph_matmat(X)
            if Z.requires_grad or (_fw_active() and _tangent(Z)):
                w, X = attach(Z, w, X, spec)
        lam, x = w[0], X
    return PowerResult(lam, fix_gauge(x)[:, 0], info)


def _fw_active() -> bool:
    import torch.autograd.forward_ad as fwAD

    return bool(fwAD._current_level >= 0)


def _tangent(t: Any) -> bool:
    import torch.autograd.forward_ad as fwAD

    return fwAD.unpack_dual(t).tangent is not None
