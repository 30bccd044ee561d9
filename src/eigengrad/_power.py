"""``eg.power_iteration``: the dominant eigenpair, differentiated implicitly or by unrolling."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch

from ._eigsh import ConvergenceInfo, default_tol
from ._implicit import ImplicitSpec, attach, default_cluster_tolerances, minres_solver
from ._lobpcg import random_block
from ._operator import LinearOperator, as_problem
from ._rules._gauge import fix_gauge
from ._validation import check_integer, check_start, check_tolerance, machine_eps, real_dtype
from .exceptions import ConvergenceWarning, InputError

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

    Notes
    -----
    Implicit rule (``k = 1``): ``gA = gλ x x^H - (y x^H + x y^H) / 2`` with
    ``(A - λ I) y = (I - x x^H) gx`` on the complement of ``x``; JVP ``dλ = x^H dA x``,
    ``dx = -y'`` with ``(A - λ I) y' = (I - x x^H) dA x``. The rule needs ``|λ|`` to be a simple
    eigenvalue; if ``-λ`` is also an eigenvalue the iteration itself does not converge. A
    repeated dominant eigenvalue is not detected: the iteration converges to a vector of its
    eigenspace that depends on ``x0``, and so do the eigenvector's derivatives. Where that can
    happen use :func:`eigsh` with ``which="largest"``, whose guard vectors detect it.

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
    res = torch.full((1,), float("inf"), dtype=real_dtype(p.dtype), device=p.device)
    lam = x.new_zeros(()).real
    it = 0
    with torch.enable_grad() if unrolled else torch.no_grad():
        while it < max_iter:
            it += 1
            y = product(x)
            lam = (x.conj() * y).sum().real
            r = torch.linalg.vector_norm(y - x * lam.to(p.dtype))
            res = r.detach().reshape(1)
            if float(res[0]) <= tol * abs(float(lam.detach())):
                break
            x = y / torch.linalg.vector_norm(y)
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
    info = ConvergenceInfo(res, it, converged, "power", abs(lam_value), float("nan"))
    if not unrolled:
        w = lam.detach().reshape(1)
        X = x.detach()
        rtol_c, atol_c = default_cluster_tolerances(
            p.n, machine_eps(p.dtype), abs(lam_value), res, None, 0.0
        )
        solve = minres_solver(
            p.apply, tol if adjoint_tol is None else float(adjoint_tol), adjoint_max_iter, _FN
        )
        spec = ImplicitSpec(solve, rtol_c, atol_c, "warn", _FN)
        if torch.is_grad_enabled() or _fw_active():
            with torch.enable_grad():
                Z = p.matmat(X)
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
