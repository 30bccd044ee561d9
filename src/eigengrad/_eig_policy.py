"""The degeneracy and defectiveness policy of nonsymmetric eig (MATH.md sections 3 and 6).

Runs on plain tensors through :func:`eigengrad._inspect.inspect` (so it may branch, synchronise
and warn, also under ``torch.func.vmap``) and synchronises once per call. The measurements come
from :mod:`eigengrad._rules._eig`; this module turns them into masks and into warnings or errors
that name the eigenvalue, its multiplicity and the measured quantity.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

from ._policy import Gauge, _where
from ._rules import _clusters as rc
from ._rules import _eig as rules
from .exceptions import (
    DefectiveEigenvalueError,
    DefectiveEigenvalueWarning,
    GaugeDependenceError,
    GaugeDependenceWarning,
    SubgradientWarning,
)

Defective = Literal["warn", "raise"]

# A cotangent that is constant on a cluster up to this relative spread is a basis-invariant
# loss evaluated at rounding-level splits (as in eigengrad._policy).
SPREAD_RTOL_POWER = 0.5


def clusters(w: torch.Tensor, rtol: float, atol: float) -> torch.Tensor:
    """Boolean ``same`` matrix of the clusters of complex eigenvalues ``w``."""
    n = w.shape[-1]
    tol = rc.cluster_tolerance(w.abs(), rtol, atol).unsqueeze(-1)
    close = (w.unsqueeze(-1) - w.unsqueeze(-2)).abs() <= tol
    eye = torch.eye(n, dtype=torch.bool, device=w.device)
    if n < 2 or not bool((close & ~eye).any()):  # the common case: no closure to compute
        return eye.expand(close.shape).clone()
    return rules.complex_clusters(w, tol)


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
    fn: str,
    mode: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(keep, mean)``: the kept ``1/gap`` pairs and the complex cluster-mean matrix.

    In ``mode="backward"`` ``gw``/``T`` are cotangents (``None`` when unused); eigenvalues that
    the cotangent touches are checked for defectiveness (all of them when ``T`` is given). In
    ``mode="jvp"`` ``gw`` holds ``diag K`` and every eigenvalue is checked.
    """
    same = clusters(w, rtol, atol)
    member = same.to(w.dtype)
    mean = member / member.sum(-1, keepdim=True)
    if mode == "jvp":
        keep = ~same
    else:
        keep = torch.zeros_like(same)
    if w.numel() == 0:
        return keep, mean
    pairs = rules.defect_pairs(w, kappa, same, scale)
    near = pairs < defective_rtol
    distance = pairs.amin(-1)
    flagged = (kappa * defective_rtol > 1) | near.any(-1)
    spread_tol = torch.finfo(kappa.dtype).eps ** SPREAD_RTOL_POWER
    involved = torch.ones_like(flagged)
    if mode == "backward" and T is None and gw is not None:
        # An eigenvalue cotangent constant on a (nearly) defective group differentiates the
        # group's sum (a trace): smooth, so only unequal weights are reported.
        group = rules.connected(same | near) if bool(near.any()) else same
        uneven = rules.cluster_mean_spread(gw, group)[1] > spread_tol
        single = group.sum(-1) == 1
        involved = (gw != 0) & (uneven | single)
    measured = None
    if T is not None:
        assert gV_norms is not None
        measured = rules.measure_eig_gauge(T, gV_norms, same, rtol)
        keep = measured.keep
    spread = rules.cluster_mean_spread(gw, same)[1] if gw is not None else None
    # A defective cluster has no eigenvector basis to speak of: report it as defective only.
    defective_cluster = (same & flagged.unsqueeze(-2)).any(-1)
    zero = kappa.new_zeros(())
    stats = torch.stack(
        [
            (flagged & involved).any().to(kappa.dtype),
            measured.basis.masked_fill(defective_cluster.unsqueeze(-1), 0).amax()
            if measured is not None
            else zero,
            measured.phase.amax() if measured is not None else zero,
            spread.masked_fill(defective_cluster, 0).amax() if spread is not None else zero,
        ]
    ).tolist()
    if stats[0] > 0:
        _report_defective(w, kappa, distance, flagged & involved, same, defective, fn, mode)
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
    where = _where(w.shape[:-1], batch)
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
    basis = measured.basis.masked_fill(defective_cluster.unsqueeze(-1), 0).reshape(-1, n, n)
    worst_basis = float(basis.amax())
    if worst_basis > rtol:
        flat = int(basis.reshape(-1).argmax())
        batch, i = divmod(flat // n, n)
        members = same.reshape(-1, n, n)[batch, i]
        value = complex(w.reshape(-1, n)[batch][members].mean())
        mult = int(members.sum())
        parts.append(
            f"the loss depends on the choice of basis inside the repeated eigenvalue "
            f"{_fmt(value)} (multiplicity {mult}){_where(w.shape[:-1], batch)}: its relative "
            f"within-cluster cotangent |(V^H gV - V^H V Re diag(V^H gV))_ij| / ||gV_j|| is "
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
            f"{_fmt(value)}){_where(w.shape[:-1], batch)}: relative |Im diag(V^H gV)| / ||gV_i|| "
            f"is {worst_phase:.3g} > rtol = {rtol:.3g} (all eigenvalues are {kind}). "
            "Eigenvectors of eig are defined only up to a factor e^(i phi); use phase-invariant "
            "quantities: |v|, v v^H, ratios v_k / v_l, or the projectors of eg.eig_projectors"
        )
    message = f"{fn} backward: " + "; and ".join(parts) + "."
    if gauge == "raise":
        raise GaugeDependenceError(message)
    warnings.warn(
        message + " eigengrad returned the gradient of the gauge-projected cotangent (the "
        "phase/basis-dependent part removed). Pass gauge='raise' to make this an error.",
        GaugeDependenceWarning,
        stacklevel=4,
    )


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
    what = "the loss weights" if mode == "backward" else "the tangent moves"
    warnings.warn(
        f"{fn} {mode}: {what} the individual eigenvalues of the repeated eigenvalue "
        f"{_fmt(value)} (multiplicity {int(members.sum())}){_where(w.shape[:-1], batch)} "
        f"unequally (relative spread {float(spread.reshape(-1)[flat]):.3g} > {spread_tol:.3g}). "
        "Individual eigenvalues of a repeated eigenvalue are not differentiable; eigengrad used "
        "the cluster mean (the derivative of the mean eigenvalue of the cluster, which is "
        "exact). Functions of the whole cluster (its sum, its projector) have exact derivatives.",
        SubgradientWarning,
        stacklevel=4,
    )
