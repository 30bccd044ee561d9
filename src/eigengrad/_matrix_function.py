"""Spectral functions ``f(A) = V f(Λ) V^H`` with Daleckii-Krein derivatives.

Wiring (torch side) of MATH.md section 4. The eigendecomposition is computed without gradient
(through :func:`eigengrad.eigh`'s checked forward); the derivative of ``f(A)`` with respect to
``A`` is defined here, by divided differences, so it never divides by a gap:

- ``_SpectralApply``: ``Y = V f(Λ) V^H``. JVP ``L_f(A, dA)``; VJP ``L_f(A, herm(gY))``.
- ``_Frechet``: ``L_f(A, E) = V (D ∘ V^H herm(E) V) V^H``. Its derivatives (double backward,
  forward-over-reverse) use the second divided differences ``T``.
- ``_SecondFrechet`` and ``_FrechetTangent``: ``d²f(A)[X, Y]``; their derivatives (third
  order) raise ``NotImplementedError``.

A custom Function's ``jvp`` output is seen by outer forward levels (``jacfwd(jacfwd(...))``)
only if it is itself the output of a Function: plain operations there would make second
forward derivatives silently zero. Every ``jvp`` here therefore returns a Function output.
"""

from __future__ import annotations

from typing import Any

import torch

from . import _eigh
from ._inspect import inspect
from ._rules import _divided_differences as rd
from ._spectral_function import Elementwise, ScalarFunction, SpectralFunction


def _herm(X: torch.Tensor) -> torch.Tensor:
    # halves first: (X + X^H) / 2 overflows for entries above half the largest float (expm of
    # an eigenvalue in (709, 709.78]); halving is exact, so the results are otherwise the same
    return torch.add(X * 0.5, X.mH, alpha=0.5)


def _to_eigenbasis(V: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    return V.mH @ _herm(X) @ V


def _from_eigenbasis(V: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    return _herm(V @ X @ V.mH)


def _vmap_all(fn: Any, info: Any, in_dims: Any, *args: Any) -> Any:
    """Vmap rule shared by every Function here: the ops are natively batched."""
    moved = []
    for a, d in zip(args, in_dims, strict=True):
        if not isinstance(a, torch.Tensor):
            moved.append(a)
        elif d is None:
            moved.append(a.expand(info.batch_size, *a.shape).contiguous())
        else:
            moved.append(a.movedim(d, 0))
    out = fn.apply(*moved)
    if isinstance(out, tuple):
        return out, (0,) * len(out)
    return out, 0


def _first(spec: SpectralFunction, w: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
    """First divided differences, checked for unbounded derivatives (no gradient)."""
    with torch.no_grad():
        D = spec.first(w, aux)
    return inspect(spec.check_first, w, D)[0]


class _SpectralApply(torch.autograd.Function):
    """``Y = V f(w) V^H`` given the (constant) eigendecomposition of ``A``."""

    @staticmethod
    def forward(
        A: torch.Tensor, w: torch.Tensor, V: torch.Tensor, aux: torch.Tensor, spec: Any
    ) -> torch.Tensor:
        fw = spec.values(w, aux)
        return _herm((V * fw.to(V.dtype).unsqueeze(-2)) @ V.mH)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, w, V, aux, spec = inputs
        ctx.spec = spec
        ctx.save_for_backward(A, w, V, aux)
        ctx.save_for_forward(A, w, V, aux)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        return _vmap_all(_SpectralApply, info, in_dims, *args)

    @staticmethod
    def backward(ctx: Any, gY: torch.Tensor | None) -> Any:
        # VJP: gA = L_f(A, herm(gY)) (L_f is self-adjoint); built from a differentiable primitive
        # so that double backward sees the second divided differences.
        if gY is None:
            return None, None, None, None, None
        A, w, V, aux = ctx.saved_tensors
        D = _first(ctx.spec, w, aux)
        return _Frechet.apply(A, gY, w, V, aux, D, ctx.spec), None, None, None, None

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor | None, *_: Any) -> torch.Tensor:
        A, w, V, aux = ctx.saved_tensors
        D = _first(ctx.spec, w, aux)
        # JVP: dY = V (D ∘ V^H dA V) V^H
        return _Frechet.apply(A, dA, w, V, aux, D, ctx.spec)


class _Frechet(torch.autograd.Function):
    """``L_f(A, E) = V (D ∘ V^H herm(E) V) V^H``, differentiable in ``A`` and ``E``."""

    @staticmethod
    def forward(
        A: torch.Tensor,
        E: torch.Tensor,
        w: torch.Tensor,
        V: torch.Tensor,
        aux: torch.Tensor,
        D: torch.Tensor,
        spec: Any,
    ) -> torch.Tensor:
        return _from_eigenbasis(V, D.to(V.dtype) * _to_eigenbasis(V, E))

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, E, w, V, aux, D, spec = inputs
        ctx.spec = spec
        ctx.save_for_backward(A, E, w, V, aux, D)
        ctx.save_for_forward(A, E, w, V, aux, D)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, *args: Any) -> Any:
        return _vmap_all(_Frechet, info, in_dims, *args)

    @staticmethod
    def backward(ctx: Any, gL: torch.Tensor | None) -> Any:
        A, E, w, V, aux, D = ctx.saved_tensors
        none = (None, None, None, None, None)
        if gL is None:
            return (None, None, *none)
        # E term: L_f(A, ·) is self-adjoint, gE = L_f(A, herm(gL)).
        gE = _Frechet.apply(A, gL, w, V, aux, D, ctx.spec) if ctx.needs_input_grad[1] else None
        # A term: <gL, d²f(A)[E, dA]> = <d²f(A)[E, gL], dA> (T is fully symmetric).
        gA = (
            _SecondFrechet.apply(A, E, gL, w, V, aux, D, ctx.spec)
            if ctx.needs_input_grad[0]
            else None
        )
        return (gA, gE, *none)

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor | None, dE: torch.Tensor | None, *_: Any) -> torch.Tensor:
        A, E, w, V, aux, D = ctx.saved_tensors
        # A jvp rule must return the output of a Function for outer forward levels to see it:
        # _FrechetTangent raises at the next order instead of silently dropping it.
        return _FrechetTangent.apply(A, E, dA, dE, w, V, aux, D, ctx.spec)


def _second(
    spec: SpectralFunction,
    w: torch.Tensor,
    V: torch.Tensor,
    aux: torch.Tensor,
    D: torch.Tensor,
    X: torch.Tensor,
    Y: torch.Tensor,
) -> torch.Tensor:
    """``d²f(A)[X, Y] = V (Σ_c T_abc (X̂_ac Ŷ_cb + Ŷ_ac X̂_cb)) V^H``."""
    with torch.no_grad():
        T = spec.second(w, aux, D)
    (T,) = inspect(spec.check_second, w, T)
    Xh, Yh = _to_eigenbasis(V, X), _to_eigenbasis(V, Y)
    return _from_eigenbasis(V, rd.second_frechet_eigenbasis(T, Xh, Yh))


_THIRD = (
    "{name}: third derivatives of a matrix function need third divided differences, which "
    "eigengrad does not implement; it raises rather than return a wrong value. First and second "
    "derivatives (backward, double backward, forward-over-reverse) are exact at every degeneracy."
)


class _LastOrder(torch.autograd.Function):
    """Base of the second-order primitives: their own derivatives (third order) raise.

    Subclasses define ``forward`` with the spectral function object as its last argument.
    """

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.spec = inputs[-1]

    @classmethod
    def vmap(cls, info: Any, in_dims: Any, *args: Any) -> Any:
        return _vmap_all(cls, info, in_dims, *args)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError(_THIRD.format(name=ctx.spec.name))

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise NotImplementedError(_THIRD.format(name=ctx.spec.name))


class _SecondFrechet(_LastOrder):
    """``d²f(A)[X, Y]``; its own derivatives (third order) are not implemented."""

    @staticmethod
    def forward(
        A: torch.Tensor,
        X: torch.Tensor,
        Y: torch.Tensor,
        w: torch.Tensor,
        V: torch.Tensor,
        aux: torch.Tensor,
        D: torch.Tensor,
        spec: Any,
    ) -> torch.Tensor:
        return _second(spec, w, V, aux, D, X, Y)


class _FrechetTangent(_LastOrder):
    """Tangent of ``L_f(A, E)``: ``L_f(A, dE) + d²f(A)[E, dA]``; third order raises."""

    @staticmethod
    def forward(
        A: torch.Tensor,
        E: torch.Tensor,
        dA: torch.Tensor | None,
        dE: torch.Tensor | None,
        w: torch.Tensor,
        V: torch.Tensor,
        aux: torch.Tensor,
        D: torch.Tensor,
        spec: Any,
    ) -> torch.Tensor:
        out = torch.zeros_like(V)
        if dE is not None:  # E term: L_f(A, dE)
            out = out + _from_eigenbasis(V, D.to(V.dtype) * _to_eigenbasis(V, dE))
        if dA is not None:  # A term: d²f(A)[E, dA]
            out = out + _second(spec, w, V, aux, D, E, dA)
        return out


def decompose(
    A: torch.Tensor, spec: SpectralFunction, UPLO: str, check_hermitian: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the checked eigendecomposition of ``A`` (constants) and the ``aux`` of ``spec``."""
    opts = _eigh._options(A, UPLO, None, 0.0, "warn", check_hermitian, spec.name)
    w, V = _eigh._Eigh.apply(A.detach(), opts)
    (aux,) = inspect(spec.prepare, w)
    return w, V, aux


def apply_spectral(
    A: torch.Tensor, spec: SpectralFunction, UPLO: str = "L", check_hermitian: bool = True
) -> torch.Tensor:
    """``V f(Λ) V^H`` with Daleckii-Krein derivatives, for any :class:`SpectralFunction`."""
    w, V, aux = decompose(A, spec, UPLO, check_hermitian)
    return _SpectralApply.apply(A, w, V, aux, spec)


def matrix_function(
    A: torch.Tensor,
    f: Elementwise,
    *,
    df: Elementwise | None = None,
    d2f: Elementwise | None = None,
    UPLO: str = "L",
    check_hermitian: bool = True,
) -> torch.Tensor:
    r"""Apply a scalar function to the eigenvalues of Hermitian matrices: ``V f(Λ) V^H``.

    Parameters
    ----------
    A : Tensor
        Real symmetric or complex Hermitian matrices ``(..., n, n)``; float32/64, complex64/128.
    f : callable
        Real scalar function acting elementwise on a real tensor of eigenvalues, traceable by
        torch (e.g. ``torch.sin``, ``lambda x: x * torch.exp(-x)``).
    df, d2f : callable, optional
        ``f'`` and ``f''`` (elementwise). Obtained by automatic differentiation of ``f`` when
        omitted (pass them for functions autograd cannot differentiate).
    UPLO : {"L", "U"}
        Triangle read by the eigensolver.
    check_hermitian : bool
        Reject asymmetric input (see :func:`eigengrad.eigh`).

    Returns
    -------
    Tensor
        ``f(A)``, Hermitian, same shape and dtype as ``A``.

    Raises
    ------
    DomainError
        ``f`` is not finite at an eigenvalue (forward), or a divided difference is infinite
        (backward); the message names the eigenvalue and how to shift or clamp the spectrum.
    InputError
        Invalid ``A`` (see :func:`eigengrad.eigh`) or ``f`` not elementwise/real.
    NotImplementedError
        Third derivatives (the second are exact).

    Notes
    -----
    Daleckii-Krein (MATH.md section 4): with ``K = V^H dA V`` and divided differences
    ``D_ij = (f(w_i) - f(w_j)) / (w_i - w_j)`` (``f'(w_i)`` when equal),

    - JVP: ``d f(A) = V (D ∘ K) V^H``;
    - VJP: ``gA = V (D ∘ (V^H G V)) V^H``, ``G = (gY + gY^H) / 2``.

    Exact at every degeneracy: no gap is ever a denominator. Near-equal eigenvalues use
    Simpson's rule ``(f'(w_i) + 4 f'((w_i + w_j) / 2) + f'(w_j)) / 6`` wherever its estimated
    truncation error is below the cancellation error of the quotient (a scale-aware switch-over
    without tolerance; accuracy at least ``eps^(2/3)``). Every second-order composition
    (double backward, forward-over-reverse, reverse-over-forward, forward-over-forward) uses
    the second divided differences ``f[w_i, w_j, w_k]`` (``O(n³)`` memory), exact at repeated
    eigenvalues; third derivatives raise ``NotImplementedError``.

    References
    ----------
    Daleckii and Krein 1965; Higham 2008, Functions of Matrices, Thm 3.11; Bhatia 1997, V.3.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.eye(2, dtype=torch.float64, requires_grad=True)
    >>> Y = eg.matrix_function(A, torch.sin)
    >>> (Y * torch.tensor([[1.0, 2.0], [2.0, 3.0]], dtype=torch.float64)).sum().backward()
    >>> A.grad  # cos(1) * B at the identity (a double eigenvalue)
    tensor([[0.5403, 1.0806],
            [1.0806, 1.6209]], dtype=torch.float64)
    """
    return apply_spectral(A, ScalarFunction(f, df, d2f), UPLO, check_hermitian)
