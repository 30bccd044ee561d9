"""Degeneracy-safe differentiable ``eigh`` and ``eigvalsh`` for torch.

The forward is ``torch.linalg.eigh``; the derivative rules are those of
:mod:`eigengrad._rules._eigh` (MATH.md sections 2 and 3), wired into an ``autograd.Function`` that
supports reverse mode, forward mode, double backward and the ``torch.func`` transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.autograd.forward_ad as fwAD

from . import _policy
from ._inspect import cache_forward_signature, inspect, is_transformed
from ._rules import _clusters as rc
from ._rules import _eigh as re
from ._rules._gauge import fix_gauge as _fix_gauge
from ._validation import (
    check_cluster_tolerances,
    check_finite,
    check_square,
    check_uplo,
    default_hermitian_rtol,
    machine_eps,
    not_hermitian_error,
)


class EighResult(NamedTuple):
    """``(eigenvalues, eigenvectors)``, the field names of ``torch.linalg.eigh``'s result."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor


@dataclass
class _Probe:
    """What the forward learnt about the whole batch; read by backward to pick a path.

    The defaults are the conservative choice (full cluster policy), used whenever the forward
    did not run eagerly on concrete tensors.
    """

    clustered: bool = True  # some gap <= tol: the cluster policy is needed
    resolved: bool = False  # every gap > tol / sqrt(eps): cotangent noise / gap is negligible


@dataclass(frozen=True)
class _Options:
    UPLO: str
    rtol: float
    atol: float
    gauge: _policy.Gauge
    hermitian_rtol: float | None
    fn: str
    probe: _Probe
    # (w, V) already computed by the native path, so that the Function does not recompute them
    precomputed: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


def _options(
    A: Any,
    UPLO: str,
    rtol: float | None,
    atol: float,
    gauge: str,
    check_hermitian: bool,
    fn: str,
) -> _Options:
    check_square(A, fn)
    check_uplo(UPLO, fn)
    _policy.check_gauge_option(gauge, fn)
    eps = machine_eps(A.dtype)
    rtol, atol = check_cluster_tolerances(rtol, atol, fn)
    return _Options(
        UPLO=UPLO,
        rtol=rc.default_rtol(A.shape[-1], eps) if rtol is None else rtol,
        atol=atol,
        gauge=gauge,  # type: ignore[arg-type]
        hermitian_rtol=default_hermitian_rtol(A.dtype) if check_hermitian else None,
        fn=fn,
        probe=_Probe(),
    )


def _checked_eigh(A: torch.Tensor, opts: _Options) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` plus input checks and the spectrum probe, in one synchronisation.

    Per matrix: ``scale = max|w|`` (the spectral norm), the asymmetry ``max|A - A^H|`` and the
    smallest gap. Asymmetry is judged relative to ``scale``; clusters use the tolerance
    ``atol + rtol * scale`` of :func:`eigengrad._rules._clusters.cluster_tolerance`. Non-finite
    input shows up as non-finite eigenvalues (LAPACK propagates NaN) and is then diagnosed.
    """
    try:
        w_out, V_out = torch.linalg.eigh(A, UPLO=opts.UPLO)
    except RuntimeError:  # LAPACK may fail on NaN input instead of propagating it
        check_finite(A, opts.fn)
        raise
    with torch.no_grad():
        _probe(A.detach(), w_out.detach(), opts)
    return w_out, V_out


def _probe(A: torch.Tensor, w: torch.Tensor, opts: _Options) -> None:
    n = w.shape[-1]
    if w.numel() == 0:
        opts.probe.clustered, opts.probe.resolved = False, True
        return
    scale = w.abs().amax(dim=-1)
    asym = (
        (A - A.mH.contiguous()).abs().amax(dim=(-2, -1))
        if opts.hermitian_rtol is not None
        else scale
    )
    gap = (w[..., 1:] - w[..., :-1]).amin(dim=-1) if n > 1 else scale
    resolution = math.sqrt(machine_eps(A.dtype))
    if A.ndim == 2:  # one matrix: three numbers, judged in Python
        s, a, g = torch.stack([scale, asym, gap]).tolist()
        tol = opts.atol + opts.rtol * s
        finite = math.isfinite(s) and math.isfinite(a)
        asymmetric = opts.hermitian_rtol is not None and a > opts.hermitian_rtol * s
        clustered, unresolved = n > 1 and g <= tol, n > 1 and g <= tol / resolution
    else:
        tol = opts.atol + opts.rtol * scale
        bad = torch.stack(
            [
                ~torch.isfinite(scale) | ~torch.isfinite(asym),
                asym > (opts.hermitian_rtol or 0.0) * scale,
                gap <= tol,
                gap <= tol / resolution,
            ]
        )
        not_finite, asymmetric, clustered, unresolved = bad.flatten(1).any(dim=-1).tolist()
        finite = not not_finite
        asymmetric = asymmetric and opts.hermitian_rtol is not None
        clustered, unresolved = clustered and n > 1, unresolved and n > 1
    if not finite:
        check_finite(A, opts.fn)  # raises NonFiniteInputError
    if asymmetric:
        assert opts.hermitian_rtol is not None
        ratio = float((asym / torch.where(scale > 0, scale, 1.0)).amax())
        raise not_hermitian_error(
            opts.fn, ratio, "‖A‖₂ (spectral norm)", opts.hermitian_rtol, A.is_complex()
        )
    opts.probe.clustered, opts.probe.resolved = clustered, not unresolved


class _Eigh(torch.autograd.Function):
    """``(w, V) = eigh(A)`` with the cluster-aware rules of MATH.md section 3."""

    @staticmethod
    def forward(A: torch.Tensor, opts: _Options) -> tuple[torch.Tensor, torch.Tensor]:
        if opts.precomputed:
            return opts.precomputed.pop()
        return _checked_eigh(A, opts)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        w, V = output
        ctx.opts = inputs[1]
        ctx.save_for_backward(w, V)
        ctx.save_for_forward(w, V)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, A: torch.Tensor, opts: _Options) -> Any:
        # eigh is natively batched: hand the whole batch to one call, where checks may branch.
        return _Eigh.apply(A.movedim(in_dims[0], 0), opts), (0, 0)

    @staticmethod
    def backward(ctx: Any, gw: torch.Tensor | None, gV: torch.Tensor | None) -> Any:
        w, V = ctx.saved_tensors
        opts: _Options = ctx.opts
        if gw is None and gV is None:
            return None, None
        skew_S = S_diag = F = None
        if gV is not None:
            S = V.mH @ gV
            skew_S = re.skew_hermitian(S)
            # Im diag S measures phase dependence (complex); the cluster policy reads it too
            S_diag = (
                S.diagonal(dim1=-2, dim2=-1) if (V.is_complex() or opts.probe.clustered) else None
            )
        common = {"rtol": opts.rtol, "gauge": opts.gauge, "fn": opts.fn}
        if opts.probe.clustered:
            keep, mean = inspect(
                _policy.clustered_cotangent, w, gw, gV, skew_S, S_diag, atol=opts.atol, **common
            )
            if gw is not None:
                gw = (mean @ gw.unsqueeze(-1)).squeeze(-1)  # cluster means: min-norm subgradient
            if gV is not None:
                F = re.inverse_gaps(w, keep)
        elif gV is not None:
            if V.is_complex():
                inspect(_policy.check_phase, w, gV, S_diag, **common)
            F = re.inverse_gaps(w)  # no cluster: every gap is finite
            if not opts.probe.resolved:
                # tiny gaps: drop the pairs whose cotangent is rounding noise (noise / gap)
                norms = torch.linalg.vector_norm(gV, dim=-2)
                F = F * re.above_noise(skew_S, norms, opts.rtol)
        return re.eigh_vjp(V, gw, F, skew_S), None

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor, _: Any) -> tuple[torch.Tensor, torch.Tensor]:
        w, V = ctx.saved_tensors
        opts: _Options = ctx.opts
        if not opts.probe.clustered:
            return _EighTangent.apply(w, V, dA, None, opts.fn)
        labels, _ = _policy.clusters(w, opts.rtol, opts.atol)
        return _EighTangent.apply(w, V, dA, labels, opts.fn)


class _EighTangent(torch.autograd.Function):
    """``(dw, dV)``, the eigh JVP at ``(w, V)`` along ``dA``, as a differentiable primitive.

    torch runs a Function's ``jvp`` with forward gradients disabled, so tangents computed there
    with plain operations would be constants for an outer forward level (``jacfwd(jacfwd(.))``
    would silently give zero). Returned as this Function's output, the tangent carries its own
    rules: :func:`eigengrad._rules._eigh.eigh_jvp_jvp` (forward) and
    :func:`eigengrad._rules._eigh.eigh_jvp_vjp` (reverse). At a cluster (``labels`` given) the
    first-order tangent is exact but its own derivative does not exist in general: raise.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        w: torch.Tensor, V: torch.Tensor, dA: torch.Tensor, labels: torch.Tensor | None, fn: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if labels is None:
            dw, dV, _ = re.eigh_jvp(V, dA, re.inverse_gaps(w))
            return dw, dV
        same = rc.same_cluster(labels)
        dw, dV, K = re.eigh_jvp(V, dA, re.inverse_gaps(w, ~same))
        # On a cluster the one-sided directional derivative is eigvalsh(K_cc), sorted.
        return re.cluster_eigvalsh(K, labels, rc.is_multiple(same)), dV

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        w, V, dA, labels, fn = inputs
        ctx.clustered, ctx.fn = labels is not None, fn
        ctx.save_for_backward(w, V, dA)
        ctx.save_for_forward(w, V, dA)
        ctx.set_materialize_grads(False)

    @staticmethod
    def _refuse(ctx: Any) -> None:
        if ctx.clustered:
            raise NotImplementedError(
                f"{ctx.fn}: the derivative of the forward-mode eigh derivative at a cluster of "
                "repeated eigenvalues does not exist in general (eigvalsh of the compressed "
                "perturbation is not smooth); eigengrad raises rather than return a wrong "
                "second derivative. Use a spectral function (eg.matrix_function, "
                "eg.trace_function), whose second derivatives are exact at repeated eigenvalues."
            )

    @staticmethod
    def jvp(ctx: Any, w_dot: Any, V_dot: Any, dA_dot: Any, *_: Any) -> Any:
        _EighTangent._refuse(ctx)
        w, V, dA = ctx.saved_tensors
        w_dot = torch.zeros_like(w) if w_dot is None else w_dot
        V_dot = torch.zeros_like(V) if V_dot is None else V_dot
        dA_dot = torch.zeros_like(dA) if dA_dot is None else dA_dot
        return re.eigh_jvp_jvp(w, V, dA, re.inverse_gaps(w), w_dot, V_dot, dA_dot)

    @staticmethod
    def backward(ctx: Any, g_dw: Any, g_dV: Any) -> Any:
        _EighTangent._refuse(ctx)
        w, V, dA = ctx.saved_tensors
        gw, gV, g_dA = re.eigh_jvp_vjp(w, V, dA, re.inverse_gaps(w), g_dw, g_dV)
        return gw, gV, g_dA, None, None


cache_forward_signature(_Eigh)
cache_forward_signature(_EighTangent)


def _decompose(A: torch.Tensor, opts: _Options) -> tuple[torch.Tensor, torch.Tensor]:
    """Route to torch's native derivative node where it coincides with eigengrad's rule.

    For real input whose spectrum is resolved (no cluster; every gap above ``tol / sqrt(eps)``,
    so no cotangent-dependent decision is needed) the rule of :class:`_Eigh` keeps every
    ``1/gap`` term and leaves ``gw`` unchanged, and real eigenvectors have no continuous gauge:
    that is exactly torch's own eigh derivative (reverse, forward and double backward), so its
    native node is kept. Everything else goes through :class:`_Eigh`, reusing the
    decomposition already computed.
    """
    if A.is_complex() or torch.compiler.is_compiling() or is_transformed(A):
        return _Eigh.apply(A, opts)
    w, V = _checked_eigh(A, opts)
    if opts.probe.resolved and not opts.probe.clustered:
        return w, V
    opts.precomputed.append((w.detach(), V.detach()))
    return _Eigh.apply(A, opts)


def eigh(
    A: torch.Tensor,
    UPLO: str = "L",
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    gauge: str = "warn",
    fix_gauge: bool = False,
    check_hermitian: bool = True,
) -> EighResult:
    r"""Eigendecomposition of Hermitian matrices with degeneracy-safe derivatives.

    A drop-in for :func:`torch.linalg.eigh`: ``A = V diag(w) V^H`` with ascending real ``w`` and
    unitary ``V``. The forward is ``torch.linalg.eigh``; the derivatives follow MATH.md sections
    2-3 and never divide by a zero gap.

    Parameters
    ----------
    A : Tensor
        Real symmetric or complex Hermitian matrices, shape ``(..., n, n)``; float32, float64,
        complex64 or complex128; any batch shape (also empty), any ``n >= 0``.
    UPLO : {"L", "U"}
        Triangle read by the solver, as in torch.
    rtol, atol : float, optional
        Cluster tolerance: neighbouring eigenvalues with gap ``<= atol + rtol * max|w|`` form a
        cluster. ``rtol`` also bounds the relative cotangent treated as rounding noise. Default
        ``rtol = 16 sqrt(n) eps``, ``atol = 0``.
    gauge : {"warn", "raise"}
        What to do when the loss depends on the basis inside a cluster or on eigenvector phases.
    fix_gauge : bool
        Make the largest-magnitude entry of every eigenvector real and positive (MATH.md 8).
    check_hermitian : bool
        Reject inputs with ``max|A - A^H| / max|A| > sqrt(eps)``. ``False`` reads the ``UPLO``
        triangle only, as torch does.

    Returns
    -------
    EighResult
        Named tuple ``(eigenvalues, eigenvectors)``.

    Raises
    ------
    InputDTypeError, InputShapeError, NotSquareError, NonFiniteInputError, NotHermitianError
        For invalid input; the message says what was received and how to fix it.
    GaugeDependenceError
        In backward, with ``gauge="raise"``, for a basis- or phase-dependent loss.

    Warns
    -----
    GaugeDependenceWarning
        In backward, for a loss that depends on the basis inside a cluster (or on phases). The
        message names the eigenvalue, its multiplicity and the measured dependence.
    SubgradientWarning
        In backward, when individual eigenvalues of a cluster are weighted unequally.

    Notes
    -----
    With ``K = V^H dA V``, ``S = V^H gV``, ``F_ij = 1 / (w_j - w_i)``:

    - JVP: ``dw = Re diag K``; ``dV = V (F ∘ K)``.
    - VJP: ``gA = V (diag(gw) + F ∘ (S - S^H) / 2) V^H``.

    Degeneracy (MATH.md section 3): ``F`` is evaluated only between clusters, and only where the
    anti-Hermitian cotangent exceeds rounding level, so basis-invariant losses (projectors onto
    whole clusters, cluster sums) get exact gradients at exact, rounding-level and tiny gaps,
    while losses that are not invariant keep their exact ``1/gap`` terms at every resolvable
    gap. A basis-dependent loss warns (or raises) and gets the gauge-projected gradient. On a
    cluster ``gw`` is replaced by its mean (the minimum-norm subgradient; a warning says so if it
    was not constant). In forward mode a cluster's ``dw`` is the ascending ``eigvalsh(K_cc)``, the
    exact one-sided directional derivative, and ``dV`` omits within-cluster rotations (exact for
    every basis-invariant function of ``V``). Double backward differentiates the backward formula
    with the cluster decisions held fixed.

    References
    ----------
    Giles 2008; Seeger et al. 2017 (arXiv:1710.08717); Kato, Perturbation Theory, II.5;
    Lewis 1996 (subdifferentials of spectral functions).

    Examples
    --------
    >>> import torch, eigengrad as eg

    The projector onto the eigenspace of a double eigenvalue is differentiable; native torch
    returns NaN here, eigengrad the exact gradient:

    >>> A = torch.diag(torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64)).requires_grad_()
    >>> w, V = eg.eigh(A)
    >>> P = V[:, :2] @ V[:, :2].T
    >>> P[0, 2].backward()
    >>> A.grad
    tensor([[ 0.0000,  0.0000, -0.2500],
            [ 0.0000,  0.0000,  0.0000],
            [-0.2500,  0.0000,  0.0000]], dtype=torch.float64)
    """
    opts = _options(A, UPLO, rtol, atol, gauge, check_hermitian, "eigengrad.eigh")
    w, V = _decompose(A, opts)
    if fix_gauge:
        V = _fix_gauge(V)
    return EighResult(w, V)


def eigvalsh(
    A: torch.Tensor,
    UPLO: str = "L",
    *,
    rtol: float | None = None,
    atol: float = 0.0,
    check_hermitian: bool = True,
) -> torch.Tensor:
    """Eigenvalues of Hermitian matrices, ascending, with degeneracy-safe derivatives.

    A drop-in for :func:`torch.linalg.eigvalsh`. Derivatives as in :func:`eigh` for the
    eigenvalue output: ``gA = V diag(gw) V^H`` with ``gw`` replaced by its mean on each cluster
    (the minimum-norm subgradient, with a :class:`SubgradientWarning` when ``gw`` was not
    constant there); forward mode gives the one-sided directional derivative
    ``eigvalsh(K_cc)`` on clusters.

    Parameters and errors as in :func:`eigh`.

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> A = torch.eye(3, dtype=torch.float64).requires_grad_()
    >>> eg.eigvalsh(A).sum().backward()
    >>> A.grad.diagonal()
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    opts = _options(A, UPLO, rtol, atol, "warn", check_hermitian, "eigengrad.eigvalsh")
    if not _needs_derivative(A):  # eigenvalues only: LAPACK skips the eigenvectors
        try:
            w = torch.linalg.eigvalsh(A, UPLO=UPLO)
        except RuntimeError:
            check_finite(A, opts.fn)
            raise
        _probe(A, w, opts)
        return w
    return _decompose(A, opts)[0]


def _needs_derivative(A: torch.Tensor) -> bool:
    if torch.compiler.is_compiling() or is_transformed(A):
        return True
    if torch.is_grad_enabled() and A.requires_grad:
        return True
    return fwAD.unpack_dual(A).tangent is not None
