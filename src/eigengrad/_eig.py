"""Gauge-aware differentiable ``eig`` and ``eigvals`` for torch (nonsymmetric matrices).

The forward is ``torch.linalg.eig``; the derivative rules are those of
:mod:`eigengrad._rules._eig` (MATH.md section 6), wired into an ``autograd.Function`` with reverse
mode, forward mode, double backward and a ``vmap`` rule; the checks (phase and basis gauge,
clusters in the complex plane, defective eigenvalues) run through
:func:`eigengrad._inspect.inspect`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import torch

from . import _eig_policy as policy
from . import _policy
from ._inspect import cache_forward_signature, inspect
from ._nested_forward import guard_nested_forward
from ._rules import _clusters as rc
from ._rules import _eig as rules
from ._validation import (
    check_cluster_tolerances,
    check_finite_hermitian,
    check_nonnegative,
    check_square,
    machine_eps,
)

# Up to this order the condition numbers are exact (V^{-1} is formed); above it they are
# estimated from V^{-1} G with a fixed k-column probe G (O(n^2 k), within a small factor).
EXACT_KAPPA_MAX_N = 64
PROBE_COLUMNS = 16
# Default relative distance to a defective matrix below which an eigenvalue is reported: sqrt of
# float64's eps, for every dtype (a precision-dependent sqrt(eps) would report ordinary pairs of
# float32 random matrices). Condition numbers above 1 / sqrt(eps) of the working dtype (where
# the derivative has lost half the digits) are always reported.
DEFECTIVE_RTOL = 2.0**-26


class EigResult(NamedTuple):
    """``(eigenvalues, eigenvectors)``, the field names of ``torch.linalg.eig``'s result."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor


class EigLeftResult(NamedTuple):
    """``(eigenvalues, eigenvectors, left_eigenvectors)`` with ``U^H V = I``."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    left_eigenvectors: torch.Tensor


@dataclass(frozen=True)
class _Options:
    rtol: float
    atol: float
    gauge: _policy.Gauge
    defective: policy.Defective
    defective_rtol: float
    kappa_max: float
    fn: str


def _options(
    A: Any,
    rtol: float | None,
    atol: float,
    gauge: str,
    defective: str,
    defective_rtol: float | None,
    fn: str,
) -> _Options:
    check_square(A, fn)
    _policy.check_gauge_option(gauge, fn)
    if defective not in ("warn", "raise"):
        from .exceptions import InputError

        raise InputError(
            f"{fn}: expected defective='warn' or defective='raise', received {defective!r}."
        )
    eps = machine_eps(A.dtype)
    rtol, atol = check_cluster_tolerances(rtol, atol, fn)
    return _Options(
        rtol=rc.default_rtol(A.shape[-1], eps) if rtol is None else rtol,
        atol=atol,
        gauge=gauge,  # type: ignore[arg-type]
        defective=defective,  # type: ignore[arg-type]
        defective_rtol=(
            DEFECTIVE_RTOL
            if defective_rtol is None
            else check_nonnegative(defective_rtol, "defective_rtol", fn)
        ),
        kappa_max=1 / math.sqrt(eps),
        fn=fn,
    )


def _cluster_mean(mean: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Apply the cluster-mean matrix of the policy (empty: the identity, no cluster)."""
    return g if mean.shape[-1] == 0 else (mean @ g.unsqueeze(-1)).squeeze(-1)


def _inverse_gaps(w: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Masked inverse gaps; an empty ``keep`` from the policy means every off-diagonal pair."""
    return rules.inverse_gaps(w, None if keep.shape[-1] == 0 else keep)


def _probe(n: int, like: torch.Tensor) -> torch.Tensor:
    return _cached_probe(n, like.dtype, like.device)


@functools.lru_cache(maxsize=32)
def _cached_probe(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Identity (small ``n``) or a fixed, deterministic ``n x k`` probe with unit-variance entries.

    No random generator is used, so the probe also works under ``vmap(randomness='error')``.
    """
    if n <= EXACT_KAPPA_MAX_N:
        return torch.eye(n, dtype=dtype, device=device)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(-1)
    j = torch.arange(PROBE_COLUMNS, dtype=torch.float64).unsqueeze(-2)
    phase = (i * j * 0.7548776662466927 + i * 0.5698402909980532 + j * 0.3247179572447460) % 1.0
    G = math.sqrt(2.0) * torch.cos(2 * math.pi * phase)
    return G.to(device=device, dtype=dtype)


def frobenius_scale(A: torch.Tensor) -> torch.Tensor:
    """``‖A‖_F / sqrt(n) <= ‖A‖_2``, shape ``(..., 1)``: the scale of eig's tolerances."""
    return (_norm(A.detach(), (-2, -1)) / math.sqrt(max(A.shape[-1], 1))).unsqueeze(-1)


def _norm(x: torch.Tensor, dim: int | tuple[int, int]) -> torch.Tensor:
    """2-norm along ``dim`` (``vector_norm`` is several times slower on complex input)."""
    if x.is_complex():
        # x.imag of a conjugate view is a _neg_view, which vmap cannot batch (jacrev(jacrev))
        x = x.resolve_conj()
        return (x.real.square() + x.imag.square()).sum(dim).sqrt()
    return x.square().sum(dim).sqrt()


def _kappa_from(probed: torch.Tensor) -> torch.Tensor:
    """Row norms of ``V^{-1} G``, rescaled to estimate ``‖row_i V^{-1}‖ = κ_i``.

    Scaled by the largest entry, so that huge (not infinite) condition numbers do not overflow.
    """
    k = probed.shape[-1]
    parts = torch.view_as_real(probed) if probed.is_complex() else probed.unsqueeze(-1)
    if parts.numel() == 0:  # n = 0 (or no probe): no rows to measure
        return parts.new_zeros(probed.shape[:-1])
    big = parts.abs().amax((-2, -1)).clamp_min(torch.finfo(parts.dtype).tiny)
    norms = big * (parts / big[..., None, None]).square().sum((-2, -1)).sqrt()
    return norms if k == probed.shape[-2] and k <= EXACT_KAPPA_MAX_N else norms / math.sqrt(k)


def _decide(
    opts: _Options,
    w: torch.Tensor,
    kappa: torch.Tensor,
    scale: torch.Tensor,
    g: torch.Tensor | None,
    T: torch.Tensor | None,
    gV_norms: torch.Tensor | None,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the eig policy (clusters, gauge, defects) on the whole batch; ``(keep, mean)``."""
    keep, mean = inspect(
        policy.eig_policy,
        w,
        kappa,
        scale,
        g,
        T,
        gV_norms,
        rtol=opts.rtol,
        atol=opts.atol,
        gauge=opts.gauge,
        defective=opts.defective,
        defective_rtol=opts.defective_rtol,
        kappa_max=opts.kappa_max,
        fn=opts.fn,
        mode=mode,
    )
    return keep, mean


class _Eig(torch.autograd.Function):
    """``(w, V) = eig(A)`` with the gauge- and defect-aware rules of MATH.md section 6."""

    @staticmethod
    def forward(A: torch.Tensor, opts: _Options) -> tuple[torch.Tensor, torch.Tensor]:
        check_finite_hermitian(A, opts.fn, None)
        return torch.linalg.eig(A)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, opts = inputs
        w, V = output
        scale = frobenius_scale(A)  # the policy takes the max with max|w| (another bound)
        ctx.opts = opts
        ctx.real_input = not A.is_complex()
        ctx.save_for_backward(w, V, scale)
        ctx.save_for_forward(w, V, scale)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, A: torch.Tensor, opts: _Options) -> Any:
        # eig is natively batched: hand the whole batch to one call, where checks may branch.
        return _Eig.apply(A.movedim(in_dims[0], 0), opts), (0, 0)

    @staticmethod
    def backward(ctx: Any, gw: torch.Tensor | None, gV: torch.Tensor | None) -> Any:
        w, V, scale = ctx.saved_tensors
        opts: _Options = ctx.opts
        if gw is None and gV is None:
            return None, None
        n = V.shape[-1]
        Vh = V.mH
        # Shared by gA and the condition numbers; _ex: a singular V is reported by the policy.
        LU, pivots, _ = torch.linalg.lu_factor_ex(Vh)
        probed = torch.linalg.lu_solve(LU.detach(), pivots, _probe(n, V), adjoint=True)
        kappa = _kappa_from(probed.detach())
        T = gV_norms = None
        if gV is not None:
            T = rules.gauge_cotangent(V, Vh @ gV)
            # Rounding noise of phase-invariant losses grows with the conditioning (cancellation
            # in V^{-1}): measure gauge dependence relative to ||gV_j|| max(1, kappa_j).
            gV_norms = _norm(gV.detach(), -2) * kappa.clamp_min(1.0)
        keep, mean = _decide(opts, w, kappa, scale, gw, T, gV_norms, "backward")
        gw_bar = None if gw is None else _cluster_mean(mean, gw)
        F = None if T is None else _inverse_gaps(w, keep)
        gA = torch.linalg.lu_solve(LU, pivots, rules.eig_vjp_inner(gw_bar, F, T) @ Vh)
        return (gA.real if ctx.real_input else gA), None

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor, _: Any) -> tuple[torch.Tensor, torch.Tensor]:
        w, V, scale = ctx.saved_tensors
        opts: _Options = ctx.opts
        n = V.shape[-1]
        rhs = torch.cat([dA.to(V.dtype) @ V, _probe(n, V).expand(*V.shape[:-1], -1)], dim=-1)
        solved, _ = torch.linalg.solve_ex(V, rhs)  # a singular V is reported by the policy
        K = solved[..., :n]
        kappa = _kappa_from(solved[..., n:].detach())
        dK = K.diagonal(dim1=-2, dim2=-1)
        keep, mean = _decide(opts, w, kappa, scale, dK, None, None, "jvp")
        _, dV = rules.eig_jvp(V, K, _inverse_gaps(w, keep))
        message = _NESTED_FORWARD.format(fn=opts.fn)
        return guard_nested_forward((w, V), (_cluster_mean(mean, dK), dV), message)


_NESTED_FORWARD = (
    "{fn}: forward mode over forward mode (e.g. jacfwd(jacfwd(f))) needs the second "
    "derivative of eig's forward rule, which eigengrad does not implement; it raises "
    "rather than return zero. Use reverse mode for one of the two levels (torch.func.hessian, "
    "jacrev(jacfwd(f)) or jacrev(jacrev(f)))."
)


cache_forward_signature(_Eig)


@overload
def eig(
    A: torch.Tensor,
    *,
    left: Literal[False] = ...,
    rtol: float | None = ...,
    atol: float = ...,
    gauge: str = ...,
    defective: str = ...,
    defective_rtol: float | None = ...,
) -> EigResult: ...


@overload
def eig(
    A: torch.Tensor,
    *,
    left: Literal[True],
    rtol: float | None = ...,
    atol: float = ...,
    gauge: str = ...,
    defective: str = ...,
    defective_rtol: float | None = ...,
) -> EigLeftResult: ...


def eig(
    A: torch.Tensor,
    *,
    left: bool = False,
    rtol: float | None = None,
    atol: float = 0.0,
    gauge: str = "warn",
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> EigResult | EigLeftResult:
    r"""Eigendecomposition of square matrices with gauge- and defect-aware derivatives.

    A drop-in for :func:`torch.linalg.eig`: ``A V = V diag(w)`` with complex ``w`` and complex,
    unit-norm eigenvectors (LAPACK's order and phases). The forward is ``torch.linalg.eig``; the
    derivatives follow MATH.md section 6 and never divide by a zero gap.

    Parameters
    ----------
    A : Tensor
        Square matrices ``(..., n, n)``: float32, float64, complex64 or complex128; any batch
        shape (also empty), any ``n >= 0``. Gradients with respect to a real ``A`` are real.
    left : bool
        Also return the left eigenvectors ``U = V^{-H}`` (``u_i^H A = w_i u_i^H``), scaled so
        that ``U^H V = I`` (so ``u_i^H v_i = 1``; SciPy's ``left=True`` returns them unit-norm).
    rtol, atol : float, optional
        Cluster tolerance: eigenvalues closer than ``atol + rtol * max|w|`` in the complex plane
        (transitively) form a cluster. ``rtol`` also bounds the relative cotangent treated as
        rounding noise. Default ``rtol = 16 sqrt(n) eps``, ``atol = 0`` (the names and defaults
        of :func:`eigengrad.eigh`).
    gauge : {"warn", "raise"}
        What to do when the loss depends on eigenvector phases or on the basis inside a repeated
        eigenvalue.
    defective : {"warn", "raise"}
        What to do when an eigenvalue the derivative depends on is defective or nearly so.
    defective_rtol : float, optional
        An eigenvalue is reported as (nearly) defective when its estimated relative distance to
        a defective matrix, ``min_j |w_i - w_j| / (2 min(κ_i, κ_j) s)`` with
        ``s = max(‖A‖_F / sqrt(n), max|w|)`` (a lower bound of ``‖A‖_2``), is below
        ``defective_rtol`` (default ``2^-26 ≈ 1.5e-8`` for every dtype), or when its condition
        number exceeds ``1 / sqrt(eps)`` of the working dtype.

    Returns
    -------
    EigResult or EigLeftResult
        Named tuple ``(eigenvalues, eigenvectors)``, plus ``left_eigenvectors`` when ``left``.

    Raises
    ------
    InputDTypeError, InputShapeError, NotSquareError, NonFiniteInputError, InputError
        For invalid input or options; the message says what was received and how to fix it.
    GaugeDependenceError
        In backward, with ``gauge="raise"``, for a phase- or basis-dependent loss.
    DefectiveEigenvalueError
        In backward or forward mode, with ``defective="raise"``, at a (nearly) defective
        eigenvalue.

    Warns
    -----
    GaugeDependenceWarning
        In backward, when the loss depends on a phase (also when every eigenvalue is real) or
        on a basis inside a repeated eigenvalue: names the eigenvalue, its multiplicity and the
        measured relative dependence.
    DefectiveEigenvalueWarning
        For (nearly) defective eigenvalues; reports the condition number and the estimated
        distance to a defective matrix.
    SubgradientWarning
        When the individual eigenvalues of a repeated eigenvalue are weighted unequally.

    Notes
    -----
    With ``K = V^{-1} dA V``, ``S = V^H gV``, ``F_ij = 1 / (w_j - w_i)``:

    - JVP: ``dw = diag K``; ``dV = V (F ∘ K) - V Re diag(V^H V (F ∘ K))``.
    - VJP: ``gA = V^{-H} (diag(gw) + conj(F) ∘ (S - V^H V Re diag S)) V^H``; ``Re gA`` for real
      ``A``.

    Gauge: the loss is phase-invariant iff ``Im diag S = 0`` (checked relative to
    ``‖gV_i‖ max(1, κ_i)``, so independently of the loss scale and above the rounding noise of
    ill-conditioned eigenvectors, whether the spectrum is real or complex). Clusters:
    within-cluster entries of ``F`` are dropped; basis-invariant losses stay exact, others warn
    and get the gauge-projected gradient; ``gw`` and, in forward mode, ``dw`` are replaced by
    their cluster means (the mean eigenvalue of a cluster is differentiable, its members are
    not; exact for every symmetric function of the cluster). Forward mode cannot see the loss,
    so it checks neither gauges nor unequal use of a cluster's members (backward mode warns).
    Defective eigenvalues are detected from ``κ_i = ‖row_i V^{-1}‖`` (exact up to ``n = 64``,
    estimated from a fixed 16-column probe above). Double backward differentiates the backward
    formula with the cluster decisions held fixed.

    References
    ----------
    Giles 2008; Boeddeker et al. 2017 (arXiv:1701.00392); Wilkinson 1965 (condition numbers).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[0.0, 1.0], [-2.0, -3.0]], dtype=torch.float64, requires_grad=True)
    >>> w, V = eg.eig(A)
    >>> w
    tensor([-1.+0.j, -2.+0.j], dtype=torch.complex128, grad_fn=<_EigBackward>)
    >>> (V.abs() ** 2).sum().backward()  # phase-invariant: exact, no warning
    >>> A.grad.abs().max() < 1e-12
    tensor(True)
    """
    opts = _options(A, rtol, atol, gauge, defective, defective_rtol, "eigengrad.eig")
    w, V = _Eig.apply(A, opts)
    if left:
        return EigLeftResult(w, V, torch.linalg.inv(V).mH)
    return EigResult(w, V)


def eigvals(
    A: torch.Tensor,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    defective: str = "warn",
    defective_rtol: float | None = None,
) -> torch.Tensor:
    """Eigenvalues of square matrices with defect-aware derivatives.

    A drop-in for :func:`torch.linalg.eigvals`. Derivative as in :func:`eig` for the eigenvalue
    output: ``dλ_i = u_i^H dA v_i`` (``u_i^H v_i = 1``), VJP ``gA = V^{-H} diag(gw) V^H``
    (``Re`` for real ``A``), with ``gw`` replaced by its mean on repeated eigenvalues
    (:class:`SubgradientWarning` if it was not constant there) and a
    :class:`DefectiveEigenvalueWarning` (or error) when an eigenvalue with a non-zero cotangent
    is (nearly) defective.

    Parameters and errors as in :func:`eig`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.tensor([[1.0, 2.0], [0.0, 3.0]], dtype=torch.float64, requires_grad=True)
    >>> eg.eigvals(A).real.max().backward()  # gradient u v^H / (v^H u): u = (0, 1), v = (1, 1)
    >>> A.grad
    tensor([[0., 0.],
            [1., 1.]], dtype=torch.float64)
    """
    opts = _options(A, rtol, atol, "warn", defective, defective_rtol, "eigengrad.eigvals")
    return _Eig.apply(A, opts)[0]
