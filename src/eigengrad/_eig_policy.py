"""The degeneracy and defectiveness policy of nonsymmetric eig (MATH.md sections 3 and 6).

Runs on plain tensors through :func:`eigengrad._inspect.inspect` (so it may branch, synchronise
and warn, also under ``torch.func.vmap``) and synchronises once per call. The measurements come
from :mod:`eigengrad._rules._eig`; this module turns them into masks and into warnings or errors
that name the eigenvalue, its multiplicity and the measured quantity.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch

from ._policy import Gauge, batch_location, emit_gauge_dependence
from ._rules import _eig as rules
from .exceptions import (
    DefectiveEigenvalueError,
    DefectiveEigenvalueWarning,
    SubgradientWarning,
)

Defective = Literal["warn", "raise"]

# A cotangent that is constant on a cluster up to this relative spread is a basis-invariant
# loss evaluated at rounding-level splits (as in eigengrad._policy).
SPREAD_RTOL_POWER = 0.5


def distances(w: torch.Tensor) -> torch.Tensor:
    """Pairwise distances ``|w_i - w_j|`` of complex eigenvalues, shape ``(..., n, n)``."""
    n = w.shape[-1]
    points = torch.stack([w.real, w.imag], dim=-1).reshape(-1, n, 2)
    # Direct differences (not the matmul expansion, which loses tiny distances to cancellation).
    D = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    return D.reshape(*w.shape, n)


def _all_clear(
    w: torch.Tensor,
    w_max: torch.Tensor,
    scale: torch.Tensor,
    kappa: torch.Tensor,
    T: torch.Tensor | None,
    gV_norms: torch.Tensor | None,
    rtol: float,
    atol: float,
    defective_rtol: float,
    kappa_max: float,
) -> bool:
    """Decide with one cheap screen (one synchronisation) whether every decision is the default.

    True when no two eigenvalues are within ``sqrt(rtol) max|w|`` (no cluster, no tiny gap),
    no condition number exceeds ``kappa_max``, no pair can be within ``defective_rtol`` of a
    defective matrix (bounded with the largest condition number), and the loss is
    phase-invariant. The full policy re-derives every decision when this fails.
    """
    if atol != 0.0 or w.shape[-1] < 2:
        return False
    gaps = (w.unsqueeze(-1) - w.unsqueeze(-2)).abs()
    gaps.diagonal(dim1=-2, dim2=-1).fill_(torch.finfo(gaps.dtype).max)  # fresh, no grad
    nearest = gaps.amin(-1)  # (..., n)
    k_max = kappa.amax(-1, keepdim=True)
    # (nearest / scale) / k_max bounds the defect distance min_j |w_i - w_j| / (2 min κ scale).
    checks = [(nearest / w_max).amin(), (nearest / (scale * k_max)).amin(), -k_max.amax()]
    if T is not None:
        assert gV_norms is not None
        phase = T.diagonal(dim1=-2, dim2=-1).imag.abs() / gV_norms.clamp_min(1e-300)
        checks.append(-phase.amax())
    values = torch.stack(checks).tolist()
    return (
        values[0] >= rtol**0.5
        and values[1] >= 2 * defective_rtol
        and -values[2] <= kappa_max
        and (T is None or -values[3] <= rtol)
    )


def _fmt(z: complex) -> str:
    if z.imag == 0:
        return f"{z.real:.5g}"
    return f"{z.real:.5g}{z.imag:+.5g}j"


def eig_policy(
    w: torch.Tensor,
    kappa: torch.Tensor,
    scale: torch.Tensor,
    gw: torch.Tensor | None,
    T: torch.Tensor | None,
    gV_norms: torch.Tensor | None,
    *,
    rtol: float,
    atol: float,
    gauge: Gauge,
    defective: Defective,
    defective_rtol: float,
    kappa_max: float,
    fn: str,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(keep, mean)``: the kept ``1/gap`` pairs and the complex cluster-mean matrix.

    ``mean`` has shape ``(..., 0, 0)`` when there is no cluster (it is then the identity).

    In ``mode="backward"`` ``gw``/``T`` are cotangents (``None`` when unused); eigenvalues that
    the cotangent touches are checked for defectiveness (all of them when ``T`` is given). In
    ``mode="jvp"`` ``gw`` holds ``diag K`` and every eigenvalue is checked.
    """
    n = w.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=w.device)
    if w.numel() == 0:
        return eye.expand(*w.shape, n).clone(), torch.zeros(*w.shape, n, dtype=w.dtype)
    w_max = w.abs().amax(-1, keepdim=True)
    scale = torch.maximum(scale, w_max)  # two lower bounds of ||A||_2
    empty = torch.zeros(*w.shape[:-1], 0, 0, dtype=torch.bool, device=w.device)
    if _all_clear(w, w_max, scale, kappa, T, gV_norms, rtol, atol, defective_rtol, kappa_max):
        # Distinct, well-separated, well-conditioned eigenvalues and a phase-invariant loss: every
        # 1/gap term is kept (empty keep), no cluster means (empty mean), nothing to report.
        return empty, empty.to(w.dtype)
    inf = torch.finfo(kappa.dtype).max
    nearest = distances(w).masked_fill(eye, inf).amin(-1)  # (..., n)
    tol = atol + rtol * w_max
    # One synchronisation decides which (rare) slow paths are needed.
    screen = torch.stack(
        [
            (nearest <= tol).any(),  # a cluster (repeated eigenvalue)
            (nearest < defective_rtol * 2 * kappa.amax(-1, keepdim=True) * scale).any()
            | ~(kappa <= kappa_max).all(),  # a (nearly) defective eigenvalue, maybe (or NaN)
            (nearest < rtol**0.5 * w_max).any(),  # a tiny gap: 1/gap must not amplify noise
        ]
    ).tolist()
    multiple, maybe_defective, tiny_gap = screen
    if multiple:
        same = rules.complex_clusters(w, tol.unsqueeze(-1))
        member = same.to(w.dtype)
        mean = member / member.sum(-1, keepdim=True)
    else:
        same = eye.expand(*w.shape, n)
        mean = w.new_zeros(*w.shape[:-1], 0, 0)  # empty: the identity (no cluster)
    keep = ~same if mode == "jvp" else torch.zeros_like(same)
    spread_tol = torch.finfo(kappa.dtype).eps ** SPREAD_RTOL_POWER

    zero = kappa.new_zeros(())
    bad = distance = None
    defective_cluster = torch.zeros_like(kappa, dtype=torch.bool)
    if maybe_defective:
        pairs = rules.defect_pairs(w, kappa, same, scale)
        near = pairs < defective_rtol
        distance = pairs.amin(-1)
        flagged = ~(kappa <= kappa_max) | near.any(-1)  # NaN: V singular
        involved = torch.ones_like(flagged)
        if mode == "backward" and T is None and gw is not None:
            # An eigenvalue cotangent constant on a (nearly) defective group differentiates the
            # group's sum (a trace): smooth, so only unequal weights are reported.
            group = rules.connected(same | near) if bool(near.any()) else same
            uneven = rules.cluster_mean_spread(gw, group)[1] > spread_tol
            single = group.sum(-1) == 1
            involved = (gw != 0) & (uneven | single)
        # A singular V (non-finite kappa) poisons every gradient computed through V^{-1}.
        bad = (flagged & involved) | ~torch.isfinite(kappa)
        # A defective cluster has no eigenvector basis to speak of: report it as defective only.
        defective_cluster = (same & flagged.unsqueeze(-2)).any(-1)

    measured = None
    if T is not None:
        assert gV_norms is not None
        if multiple or tiny_gap:
            measured = rules.measure_eig_gauge(T, gV_norms, same, rtol)
        else:  # every gap is large: keep every pair; only the phase needs measuring
            safe = torch.where(gV_norms > 0, gV_norms, torch.ones_like(gV_norms))
            phase = T.diagonal(dim1=-2, dim2=-1).imag.abs() / safe
            measured = rules.EigGauge(keep=~same, basis=None, phase=phase)
        keep = measured.keep
    # Forward mode cannot see the loss: cluster means are exact for every symmetric function of
    # a cluster (its sum, its projector), so a tangent that moves members unequally is not reported.
    report_spread = gw is not None and multiple and mode == "backward"
    spread = rules.cluster_mean_spread(gw, same)[1] if report_spread else None

    stats = torch.stack(
        [
            bad.any().to(kappa.dtype) if bad is not None else zero,
            measured.basis.masked_fill(defective_cluster.unsqueeze(-1), 0).amax()
            if measured is not None and measured.basis is not None
            else zero,
            measured.phase.amax() if measured is not None else zero,
            spread.masked_fill(defective_cluster, 0).amax() if spread is not None else zero,
        ]
    ).tolist()
    if stats[0] > 0:
        assert bad is not None and distance is not None
        _report_defective(w, kappa, distance, bad, same, defective, fn, mode)
    if mode == "backward" and (stats[1] > rtol or stats[2] > rtol):
        assert measured is not None
        _report_gauge(w, same, measured, defective_cluster, rtol, gauge, fn)
    if stats[3] > spread_tol:
        assert spread is not None
        _report_mean(w, same, spread, spread_tol, fn, mode)
    return keep, mean


def _report_defective(
    w: torch.Tensor,
    kappa: torch.Tensor,
    distance: torch.Tensor,
    bad: torch.Tensor,
    same: torch.Tensor,
    defective: Defective,
    fn: str,
    mode: str,
) -> None:
    n = w.shape[-1]
    score = torch.where(bad, kappa, torch.zeros_like(kappa)).reshape(-1)
    flat = int(score.argmax())
    batch, i = divmod(flat, n)
    value = complex(w.reshape(-1, n)[batch, i])
    k = float(kappa.reshape(-1)[flat])
    d = float(distance.reshape(-1)[flat])
    mult = int(same.reshape(-1, n, n)[batch, i].sum())
    count = int(bad.sum())
    where = batch_location(w.shape[:-1], batch)
    near = f"; the estimated relative distance to a defective matrix is {d:.3g}" if d < 1 else ""
    message = (
        f"{fn} {mode}: eigenvalue {_fmt(value)}{where} is defective or nearly defective "
        f"(condition number ||u|| ||v|| / |u^H v| = {k:.3g}{near}"
        + (f"; computed multiplicity {mult}" if mult > 1 else "")
        + (f"; {count} eigenvalues are affected in total" if count > 1 else "")
        + "). At a defective eigenvalue (a Jordan block) the eigenvalues and eigenvectors are "
        "not differentiable: a perturbation of size e moves them like e^(1/m), so the derivative "
        "is unbounded, and near one it is as large as the condition number. Use quantities that "
        "stay smooth: the sum (trace) or mean of the eigenvalues of the whole group, the spectral "
        "projector onto the whole invariant subspace, or regularise A away from the defect"
    )
    if not math.isfinite(k):
        raise DefectiveEigenvalueError(
            message + ". The computed eigenvectors are linearly dependent (V is singular in "
            "floating point), so not even a first-order value exists."
        )
    if defective == "raise":
        raise DefectiveEigenvalueError(message + ".")
    warnings.warn(
        message + ". eigengrad returned the (huge, inaccurate) first-order value; pass "
        "defective='raise' to make this an error.",
        DefectiveEigenvalueWarning,
        stacklevel=4,
    )


def _report_gauge(
    w: torch.Tensor,
    same: torch.Tensor,
    measured: rules.EigGauge,
    defective_cluster: torch.Tensor,
    rtol: float,
    gauge: Gauge,
    fn: str,
) -> None:
    n = w.shape[-1]
    parts = []
    basis = torch.zeros_like(w.real.unsqueeze(-1).expand(*w.shape, n))
    if measured.basis is not None:
        basis = measured.basis.masked_fill(defective_cluster.unsqueeze(-1), 0)
    basis = basis.reshape(-1, n, n)
    worst_basis = float(basis.amax())
    if worst_basis > rtol:
        flat = int(basis.reshape(-1).argmax())
        batch, i = divmod(flat // n, n)
        members = same.reshape(-1, n, n)[batch, i]
        value = complex(w.reshape(-1, n)[batch][members].mean())
        mult = int(members.sum())
        parts.append(
            f"the loss depends on the choice of basis inside the repeated eigenvalue "
            f"{_fmt(value)} (multiplicity {mult}){batch_location(w.shape[:-1], batch)}: "
            "its relative "
            "within-cluster cotangent |(V^H gV - V^H V Re diag(V^H gV))_ij| / "
            f"(||gV_j|| max(1, kappa_j)) is "
            f"{worst_basis:.3g} > rtol = {rtol:.3g}. A basis of a repeated eigenvalue's "
            "eigenspace is arbitrary, so this loss has no derivative there. Use the spectral "
            "projector onto the whole eigenspace or functions of the whole cluster instead"
        )
    phase = measured.phase.reshape(-1, n)
    worst_phase = float(phase.amax())
    if worst_phase > rtol:
        flat = int(phase.reshape(-1).argmax())
        batch, i = divmod(flat, n)
        value = complex(w.reshape(-1, n)[batch, i])
        kind = "real" if bool((w.imag == 0).all()) else "complex"
        parts.append(
            f"the loss depends on the complex phase of eigenvector {i} (eigenvalue "
            f"{_fmt(value)}){batch_location(w.shape[:-1], batch)}: relative |Im diag(V^H gV)_i| / "
            f"(||gV_i|| max(1, kappa_i)) "
            f"is {worst_phase:.3g} > rtol = {rtol:.3g} (all eigenvalues are {kind}). "
            "Eigenvectors of eig are defined only up to a factor e^(i phi); use phase-invariant "
            "quantities: |v|, v v^H, ratios v_k / v_l, or the projectors of eg.eig_projectors"
        )
    emit_gauge_dependence(f"{fn} backward: " + "; and ".join(parts) + ".", gauge)


def _report_mean(
    w: torch.Tensor,
    same: torch.Tensor,
    spread: torch.Tensor,
    spread_tol: float,
    fn: str,
    mode: str,
) -> None:
    n = w.shape[-1]
    flat = int(spread.reshape(-1).argmax())
    batch, i = divmod(flat, n)
    members = same.reshape(-1, n, n)[batch, i]
    value = complex(w.reshape(-1, n)[batch][members].mean())
    warnings.warn(
        f"{fn} {mode}: the loss weights the individual eigenvalues of the repeated eigenvalue "
        f"{_fmt(value)} (multiplicity {int(members.sum())}){batch_location(w.shape[:-1], batch)} "
        f"unequally (relative spread {float(spread.reshape(-1)[flat]):.3g} > {spread_tol:.3g}). "
        "Individual eigenvalues of a repeated eigenvalue are not differentiable; eigengrad used "
        "the cluster mean (the derivative of the mean eigenvalue of the cluster, which is "
        "exact). Functions of the whole cluster (its sum, its projector) have exact derivatives.",
        SubgradientWarning,
        stacklevel=4,
    )
