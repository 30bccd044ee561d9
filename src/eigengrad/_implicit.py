"""Implicit differentiation of converged partial eigenpairs (MATH.md section 7), torch wiring.

The solver's outputs ``(w, X)`` are attached to the autograd graph through the single product
``Z = sym(A) X`` (``X`` held constant): for Hermitian perturbations every derivative of converged
eigenpairs depends on ``dA`` only through ``dA X`` (see :mod:`eigengrad._rules._partial`). So

- reverse mode returns ``gZ = G = X M - Y``, and torch's own autograd carries it to a dense
  ``A``, to the stored entries of a sparse ``A``, or to the parameters of a matrix-free operator;
- forward mode receives ``dZ = dA X`` and returns ``(dw, dX)``.

Nothing here forms an ``n × n`` matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import _policy
from ._krylov import projected_minres
from ._nested_forward import guard_nested_forward
from ._rules import _clusters as rc
from ._rules import _eigh as re
from ._rules import _partial as rp
from .exceptions import ConvergenceWarning

ComplementSolve = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, str], torch.Tensor]


@dataclass(frozen=True)
class ImplicitSpec:
    """What the implicit rules need besides ``(w, X)``.

    Attributes
    ----------
    solve : callable
        ``solve(X, w, B, purpose) -> Y`` with ``(A - w_i I) y_i = b_i`` on the complement of
        ``X``; it warns itself when it does not converge.
    rtol, atol : float
        Cluster tolerance inside the computed set (``atol`` includes the forward's eigenvalue
        uncertainty).
    gauge : {"warn", "raise"}
        Gauge policy inside the computed set.
    fn : str
        Public function name for messages.
    """

    solve: ComplementSolve
    rtol: float
    atol: float
    gauge: _policy.Gauge
    fn: str


def minres_solver(
    apply: Callable[[torch.Tensor], torch.Tensor],
    tol: float,
    max_iter: int,
    fn: str,
    precond: Callable[[torch.Tensor], torch.Tensor] | None = None,
    precision: torch.dtype | None = None,
    invariant: bool = False,
) -> ComplementSolve:
    """Complement solves by projected MINRES, warning with the residual reached if needed.

    ``precond`` (Hermitian positive definite, e.g. the forward's Chebyshev polynomial) is used
    as the MINRES preconditioner. With ``precision`` (a wider dtype, for which ``apply`` and
    ``precond`` accept and return tensors) the solves run in it and the result is cast back.
    ``invariant`` is passed to :func:`~eigengrad._krylov.projected_minres` (the solves' ``X``
    is always the eigensolver's Ritz block; whether skipping the operator's projection pays
    depends on the preconditioner).
    """

    def solve(X: torch.Tensor, w: torch.Tensor, B: torch.Tensor, purpose: str) -> torch.Tensor:
        if precision is not None:
            real = torch.empty((), dtype=precision).real.dtype
            return solve_in(X.to(precision), w.to(real), B.to(precision), purpose).to(B.dtype)
        return solve_in(X, w, B, purpose)

    def solve_in(X: torch.Tensor, w: torch.Tensor, B: torch.Tensor, purpose: str) -> torch.Tensor:
        Y, info = projected_minres(
            apply,
            X,
            w,
            B,
            tol=tol,
            max_iter=max_iter,
            precond=precond,
            restarts=2 if precond is None else 6,
            invariant=invariant,
        )
        if not bool(info.converged.all()):
            i = int(info.residual_norms.argmax())
            warnings.warn(
                f"{fn} {purpose}: the projected adjoint solve (A - w_i I) y = (I - X X^H) b did "
                f"not converge for eigenvalue w_{i} = {float(w[i]):.6g}: relative residual "
                f"reached {float(info.residual_norms[i]):.3g} > adjoint_tol = {tol:.3g} after "
                f"{info.iterations} iterations ({int((~info.converged).sum())} of {w.numel()} "
                f"columns). The derivative is accurate only to about that level. The eigenvalue "
                f"is probably poorly separated from the unselected spectrum: compute more "
                f"eigenpairs (larger k), or raise adjoint_max_iter.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return Y

    return solve


def spectral_solver(w_rest: torch.Tensor, Q: torch.Tensor, tol: float) -> ComplementSolve:
    """Exact complement solves from the unselected eigenpairs ``(w_rest, Q)`` (dense path).

    ``y_i = Q (w_rest - w_i)^{-1} Q^H b_i``; gaps at or below ``tol`` (a split cluster, already
    reported by the forward) are dropped.
    """

    def solve(X: torch.Tensor, w: torch.Tensor, B: torch.Tensor, purpose: str) -> torch.Tensor:
        gaps = w_rest.unsqueeze(-1) - w.unsqueeze(-2)  # (n - k, k)
        ok = gaps.abs() > tol
        inv = torch.where(ok, 1 / torch.where(ok, gaps, torch.ones_like(gaps)), 0.0)
        return Q @ (inv.to(Q.dtype) * (Q.mH @ B))

    return solve


def _vjp(
    w: torch.Tensor,
    X: torch.Tensor,
    gw: torch.Tensor | None,
    gX: torch.Tensor | None,
    spec: ImplicitSpec,
) -> torch.Tensor:
    """``G = X M - Y``: the cotangent of ``Z = A X``."""
    skew_S = S_diag = None
    if gX is not None:
        S = X.mH @ gX
        skew_S = re.skew_hermitian(S)
        S_diag = S.diagonal()
    keep, mean = _policy.clustered_cotangent(
        w, gw, gX, skew_S, S_diag, rtol=spec.rtol, atol=spec.atol, gauge=spec.gauge, fn=spec.fn
    )
    gw_bar = None if gw is None else mean @ gw  # cluster means
    F = None if gX is None else re.inverse_gaps(w, keep)
    like = X.new_zeros(w.shape[0], w.shape[0])
    M = rp.inspace_cotangent(gw_bar, F, skew_S, like)
    Y = None
    if gX is not None:
        Y = spec.solve(X, w, rp.complement_project(X, gX), "backward")
    return rp.vjp_factor(X, M, Y)


class _Implicit(torch.autograd.Function):
    """``(w, X) = attach(Z = sym(A) X, w, X)``: converged pairs with implicit derivatives."""

    @staticmethod
    def forward(
        Z: torch.Tensor, w: torch.Tensor, X: torch.Tensor, spec: ImplicitSpec
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return w.clone(), X.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        _, w, X, spec = inputs
        ctx.spec = spec
        ctx.save_for_backward(w, X)
        ctx.save_for_forward(w, X)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx: Any, gw: torch.Tensor | None, gX: torch.Tensor | None) -> Any:
        w, X = ctx.saved_tensors
        if gw is None and gX is None:
            return None, None, None, None
        if torch.is_grad_enabled():
            raise NotImplementedError(
                f"{ctx.spec.fn}: double backward (create_graph=True) is not implemented: the "
                f"first derivative solves projected linear systems with MINRES, whose derivative "
                f"would need second-order perturbation terms of the eigenpairs. For second "
                f"derivatives use eg.eigh on a dense matrix."
            )
        return _vjp(w, X, gw, gX, ctx.spec), None, None, None

    @staticmethod
    def jvp(ctx: Any, dZ: torch.Tensor | None, *_: Any) -> tuple[torch.Tensor, torch.Tensor]:
        w, X = ctx.saved_tensors
        spec: ImplicitSpec = ctx.spec
        if dZ is None:
            return torch.zeros_like(w), torch.zeros_like(X)
        K = X.mH @ dZ
        K = (K + K.mH) / 2
        labels, same = _policy.clusters(w, spec.rtol, spec.atol)
        dw = K.diagonal().real.clone()
        multiple = rc.is_multiple(same)
        if bool(multiple.any()):  # one-sided derivative eigvalsh(K_cc) on clusters
            dw = re.cluster_eigvalsh(K, labels, multiple)
        F = re.inverse_gaps(w, ~same)
        Yd = spec.solve(X, w, rp.complement_project(X, dZ), "forward-mode derivative")
        message = (
            f"{spec.fn}: forward mode over forward mode (e.g. jacfwd(jacfwd(f))) would need "
            f"second-order implicit derivatives of the eigenpairs, which are not implemented; "
            f"eigengrad raises rather than return zero. For second derivatives use eg.eigh on a "
            f"dense matrix."
        )
        return guard_nested_forward((w, X), (dw, rp.inspace_tangent(X, K, F) - Yd), message)


def attach(
    Z: torch.Tensor, w: torch.Tensor, X: torch.Tensor, spec: ImplicitSpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(w, X)`` carrying implicit derivatives with respect to whatever ``Z`` depends on."""
    out = _Implicit.apply(Z, w, X, spec)
    return out[0], out[1]


def default_cluster_tolerances(
    n: int,
    eps: float,
    norm_estimate: float,
    residuals: torch.Tensor,
    rtol: float | None,
    atol: float,
) -> tuple[float, float]:
    """``(rtol, atol)`` for clusters among computed pairs.

    ``rtol`` defaults to eigh's ``16 sqrt(n) eps``; ``atol`` adds ``rtol · ‖A‖_est`` (the
    computed values may all be small compared to ``‖A‖``) and the largest residual norm, which
    bounds each Ritz value's distance to the spectrum: pairs closer than the forward can resolve
    form a cluster.
    """
    r = rc.default_rtol(n, eps) if rtol is None else float(rtol)
    worst = float(residuals.max()) if residuals.numel() else 0.0
    return r, float(atol) + r * norm_estimate + worst
