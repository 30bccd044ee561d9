"""Trace functions ``tr f(A) = Σ_i f(w_i)`` with gradient ``f'(A)`` (MATH.md section 4).

``_TraceApply`` computes ``tr f(A)`` from the (constant) eigendecomposition; its gradient is the
matrix function ``f'(A)``, a differentiable ``_SpectralApply``, so the Hessian is the exact
Daleckii-Krein derivative of ``f'``. ``_TraceTangent`` and ``_TraceSecond`` carry forward mode
to second order (each ``jvp`` returns a Function output, see :mod:`._matrix_function`).
"""

from __future__ import annotations

from typing import Any

import torch

from ._inspect import inspect
from ._matrix_function import (
    _first,
    _Frechet,
    _LastOrder,
    _SpectralApply,
    _to_eigenbasis,
    _vmap_all,
    decompose,
)
from ._spectral_function import Elementwise, ScalarFunction, SpectralFunction


class _TraceTangent(torch.autograd.Function):
    """``Re tr(f'(A) dA)``, the tangent of ``tr f(A)``, differentiable once more."""

    @staticmethod
    def forward(
        A: torch.Tensor,
        dA: torch.Tensor,
        w: torch.Tensor,
        V: torch.Tensor,
        aux: torch.Tensor,
        dspec: Any,
    ) -> torch.Tensor:
        dfw = dspec.values(w, aux)
        K = torch.real(_to_eigenbasis(V, dA).diagonal(dim1=-2, dim2=-1))
        return (dfw * K).sum(dim=-1)  # Σ_i f'(w_i) (V^H dA V)_ii

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, dA, w, V, aux, dspec = inputs
        ctx.spec = dspec
        ctx.save_for_backward(A, dA, w, V, aux)
        ctx.save_for_forward(A, dA, w, V, aux)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        return _vmap_all(_TraceTangent, info, in_dims, *args)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None) -> Any:
        if g is None:
            return (None,) * 6
        A, dA, w, V, aux = ctx.saved_tensors
        scale = g.unsqueeze(-1).unsqueeze(-1).to(V.dtype)
        D = _first(ctx.spec, w, aux)
        # d/dA: L_{f'}(A, herm(dA)); d/d(dA): f'(A)
        gA = scale * _Frechet.apply(A, dA, w, V, aux, D, ctx.spec)
        gdA = scale * _SpectralApply.apply(A, w, V, aux, ctx.spec)
        return gA, gdA, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, tA: torch.Tensor | None, tdA: torch.Tensor | None, *_: Any) -> Any:
        A, dA, w, V, aux = ctx.saved_tensors
        D = _first(ctx.spec, w, aux)
        return _TraceSecond.apply(A, dA, tA, tdA, w, V, aux, D, ctx.spec)


class _TraceSecond(_LastOrder):
    """``tr(L_{f'}(A, tA) dA) + tr(f'(A) tdA)``; third order raises."""

    @staticmethod
    def forward(
        A: torch.Tensor,
        dA: torch.Tensor,
        tA: torch.Tensor | None,
        tdA: torch.Tensor | None,
        w: torch.Tensor,
        V: torch.Tensor,
        aux: torch.Tensor,
        D: torch.Tensor,
        dspec: Any,
    ) -> torch.Tensor:
        K = _to_eigenbasis(V, dA)
        out = torch.zeros(w.shape[:-1], dtype=w.dtype, device=w.device)
        if tA is not None:  # Σ_ij D'_ij (V^H tA V)_ij conj(K_ij)
            T = _to_eigenbasis(V, tA)
            out = out + torch.real((D.to(V.dtype) * T * K.conj()).sum(dim=(-2, -1)))
        if tdA is not None:  # Σ_i f'(w_i) (V^H tdA V)_ii
            Kt = torch.real(_to_eigenbasis(V, tdA).diagonal(dim1=-2, dim2=-1))
            out = out + (dspec.values(w, aux) * Kt).sum(dim=-1)
        return out


class _TraceApply(torch.autograd.Function):
    """``tr f(A) = Σ f(w_i)``; gradient ``f'(A)``, a differentiable matrix function."""

    @staticmethod
    def forward(
        A: torch.Tensor, w: torch.Tensor, V: torch.Tensor, aux: torch.Tensor, spec: Any
    ) -> torch.Tensor:
        return spec.values(w, aux).sum(dim=-1)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, w, V, aux, spec = inputs
        ctx.spec = spec
        ctx.save_for_backward(A, w, V, aux)
        ctx.save_for_forward(A, w, V, aux)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        return _vmap_all(_TraceApply, info, in_dims, *args)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor | None) -> Any:
        if g is None:
            return None, None, None, None, None
        A, w, V, _ = ctx.saved_tensors
        dspec = ctx.spec.derivative()
        (daux,) = inspect(dspec.prepare, w)
        # gA = g f'(A) = g V f'(Λ) V^H, differentiable through f' 's divided differences.
        gA = _SpectralApply.apply(A, w, V, daux, dspec)
        return g.unsqueeze(-1).unsqueeze(-1).to(gA.dtype) * gA, None, None, None, None

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor | None, *_: Any) -> torch.Tensor | None:
        if dA is None:
            return None
        A, w, V, _ = ctx.saved_tensors
        dspec = ctx.spec.derivative()
        (daux,) = inspect(dspec.prepare, w)
        # d tr f(A) = Re tr(f'(A) dA), returned as a Function output so that outer forward
        # levels (jacfwd of jacfwd) see its derivative.
        return _TraceTangent.apply(A, dA, w, V, daux, dspec)


def apply_trace(
    A: torch.Tensor, spec: SpectralFunction, UPLO: str = "L", check_hermitian: bool = True
) -> torch.Tensor:
    """``tr f(A)`` with gradient ``f'(A)``, for any :class:`SpectralFunction`."""
    w, V, aux = decompose(A, spec, UPLO, check_hermitian)
    return _TraceApply.apply(A, w, V, aux, spec)


def trace_function(
    A: torch.Tensor,
    f: Elementwise,
    *,
    df: Elementwise | None = None,
    d2f: Elementwise | None = None,
    UPLO: str = "L",
    check_hermitian: bool = True,
) -> torch.Tensor:
    r"""Trace function ``tr f(A) = Σ_i f(w_i)`` (log-det, entropy, free energy).

    Parameters
    ----------
    A : Tensor
        Hermitian matrices ``(..., n, n)``.
    f : callable
        Real elementwise scalar function (e.g. ``torch.log`` for the log-determinant).
    df, d2f : callable, optional
        ``f'`` and ``f''``; automatic differentiation of ``f`` when omitted.
    UPLO, check_hermitian
        As in :func:`matrix_function`.

    Returns
    -------
    Tensor
        Real tensor of shape ``A.shape[:-2]``.

    Raises
    ------
    DomainError
        ``f`` (forward) or ``f'`` (backward) is not finite at an eigenvalue.

    Notes
    -----
    Gradient ``gA = g V f'(Λ) V^H = g f'(A)``, exact everywhere (no divided differences needed);
    JVP ``Σ_i f'(w_i) (V^H dA V)_ii``. The gradient is computed as the matrix function ``f'(A)``,
    so double backward (the Hessian ``L_{f'}(A, ·)``) uses divided differences of ``f'`` and is
    exact at repeated eigenvalues.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64)).requires_grad_()
    >>> eg.trace_function(A, torch.log).backward()  # log det, gradient A^{-1}
    >>> A.grad
    tensor([[1.0000, 0.0000],
            [0.0000, 0.5000]], dtype=torch.float64)
    """
    spec = ScalarFunction(f, df, d2f, name="eigengrad.trace_function")
    return apply_trace(A, spec, UPLO, check_hermitian)
