"""The degeneracy policy of MATH.md section 3, applied to an eigh cotangent (torch side).

The measurements come from the neutral layer (:mod:`eigengrad._rules`); this module turns them into
the masks used by the VJP and into the warnings or errors that name the offending cluster. It runs
on plain tensors (see :mod:`eigengrad._inspect`) and synchronises once per backward call.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

from ._rules import _clusters as rc
from ._rules import _eigh as re
from .exceptions import GaugeDependenceError, GaugeDependenceWarning, SubgradientWarning

Gauge = Literal["warn", "raise"]

# A cotangent that is constant on a cluster up to this relative spread is a basis-invariant
# spectral loss evaluated at rounding-level splits (g'(w_i) - g'(w_j) = O(g'' * gap)).
SPREAD_RTOL_POWER = 0.5  # spread tolerance = eps ** 0.5


def check_gauge_option(gauge: str, fn: str) -> None:
    """Validate the ``gauge`` keyword shared by every function with a gauge policy."""
    if gauge not in ("warn", "raise"):
        from .exceptions import InputError

        raise InputError(f"{fn}: expected gauge='warn' or gauge='raise', received {gauge!r}.")


def clusters(w: torch.Tensor, rtol: float, atol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(labels, same)`` for ascending eigenvalues ``w``."""
    labels = rc.cluster_labels(w, rc.cluster_tolerance(w, rtol, atol))
    return labels, rc.same_cluster(labels)


def clustered_cotangent(
    w: torch.Tensor,
    gw: torch.Tensor | None,
    gV: torch.Tensor | None,
    skew_S: torch.Tensor | None,
    S_diag: torch.Tensor | None,
    *,
    rtol: float,
    atol: float,
    gauge: Gauge,
    fn: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(keep, mean)``: the kept ``1/gap`` pairs and the cluster-mean matrix.

    Warns with :class:`GaugeDependenceWarning` (or raises :class:`GaugeDependenceError`) when the
    within-cluster anti-Hermitian cotangent, or the imaginary diagonal of ``V^H gV``, exceeds
    ``rtol``; warns with :class:`SubgradientWarning` when ``gw`` is not constant on a cluster.
    Synchronises once.
    """
    _, same = clusters(w, rtol, atol)
    mean = rc.cluster_mean_matrix(same, w.dtype)
    measured = None
    keep = torch.zeros_like(same)
    if gV is not None:
        norms = torch.linalg.vector_norm(gV, dim=-2)
        measured = re.measure_cotangent_gauge(skew_S, S_diag, norms, same, rtol)
        keep = measured.keep
    spread = re.cluster_spread(gw, same) if gw is not None else None
    if w.numel() == 0:
        return keep, mean
    zero = w.new_zeros(())
    stats = torch.stack(
        [
            measured.basis.amax() if measured is not None else zero,
            _max_or_zero(measured.phase if measured is not None else None, zero),
            spread.amax() if spread is not None else zero,
        ]
    ).tolist()
    if measured is not None and (stats[0] > rtol or stats[1] > rtol):
        _report_gauge(w, same, measured.basis, measured.phase, rtol, gauge, fn)
    spread_tol = torch.finfo(w.dtype).eps ** SPREAD_RTOL_POWER
    if spread is not None and stats[2] > spread_tol:
        _report_subgradient(w, same, spread, spread_tol, fn)
    return keep, mean


def check_phase(
    w: torch.Tensor,
    gV: torch.Tensor,
    S_diag: torch.Tensor,
    *,
    rtol: float,
    gauge: Gauge,
    fn: str,
) -> tuple[torch.Tensor]:
    """Warn (or raise) if a complex cotangent depends on eigenvector phases; one sync.

    Returns the measured dependence ``|Im S_ii| / ‖gV_i‖``, shape ``(..., n)``.
    """
    phase = re.phase_dependence(S_diag, torch.linalg.vector_norm(gV, dim=-2))
    if phase.numel() > 0 and float(phase.amax()) > rtol:
        _report_gauge(w, None, None, phase, rtol, gauge, fn)
    return (phase,)


def _max_or_zero(x: torch.Tensor | None, zero: torch.Tensor) -> torch.Tensor:
    return zero if x is None else x.amax().to(zero.dtype)


def batch_location(batch_shape: torch.Size, flat: int) -> str:
    """Return `` (batch index (i, j))`` for flat batch index ``flat``, or ``""`` unbatched."""
    if len(batch_shape) == 0:
        return ""
    index = []
    for size in reversed(batch_shape):
        index.append(flat % size)
        flat //= size
    return f" (batch index {tuple(reversed(index))})"


def _cluster_at(w: torch.Tensor, same: torch.Tensor, batch: int, i: int) -> tuple[float, int, str]:
    """Eigenvalue, multiplicity and location of the cluster holding eigenvalue ``i``."""
    n = w.shape[-1]
    w_flat = w.reshape(-1, n)[batch]
    members = same.reshape(-1, n, n)[batch, i]
    value = float(w_flat[members].mean())
    return value, int(members.sum()), batch_location(w.shape[:-1], batch)


def _report_gauge(
    w: torch.Tensor,
    same: torch.Tensor | None,
    basis: torch.Tensor | None,
    phase: torch.Tensor | None,
    rtol: float,
    gauge: Gauge,
    fn: str,
) -> None:
    n = w.shape[-1]
    parts = []
    worst_basis = float(basis.amax()) if basis is not None else 0.0
    if basis is not None and same is not None and worst_basis > rtol:
        flat = int(basis.reshape(-1).argmax())
        batch, i = divmod(flat // n, n)
        value, mult, where = _cluster_at(w, same, batch, i)
        involved = int((basis > rtol).any(dim=-1).sum())  # eigenvalues, over the batch
        parts.append(
            f"the loss depends on the choice of basis inside the cluster of eigenvalue "
            f"{value:.5g} (multiplicity {mult}){where}: its relative within-cluster "
            f"anti-Hermitian cotangent |skew(V^H gV)| is {worst_basis:.3g} > rtol = {rtol:.3g}"
            + (f"; {involved} eigenvalues are affected in total" if involved > mult else "")
            + ". A basis inside a repeated eigenvalue is arbitrary, so this loss is not a "
            "function of the matrix there and has no derivative. Use a basis-invariant quantity "
            "instead: the projector onto the whole eigenspace (V_c V_c^H), sums or symmetric "
            "functions over the whole cluster, or subspace distances"
        )
    if phase is not None:
        phase = phase.reshape(-1, n)
        worst_phase = float(phase.amax())
        if worst_phase > rtol:
            flat = int(phase.reshape(-1).argmax())
            batch, i = divmod(flat, n)
            value = float(w.reshape(-1, n)[batch, i])
            parts.append(
                f"the loss depends on the complex phase of eigenvector {i} (eigenvalue "
                f"{value:.5g}){batch_location(w.shape[:-1], batch)}: relative |Im diag(V^H gV)| is "
                f"{worst_phase:.3g} > rtol = {rtol:.3g}. Eigenvectors are defined only up to a "
                "phase e^(i phi); use phase-invariant quantities (|v|, v v^H) or "
                "fix_gauge=True"
            )
    emit_gauge_dependence(f"{fn} backward: " + "; and ".join(parts) + ".", gauge)


def emit_gauge_dependence(message: str, gauge: Gauge) -> None:
    """Raise :class:`GaugeDependenceError` or warn with :class:`GaugeDependenceWarning`."""
    if gauge == "raise":
        raise GaugeDependenceError(message)
    warnings.warn(
        message + " eigengrad returned the gradient of the gauge-projected cotangent (the "
        "basis/phase-dependent part removed). Pass gauge='raise' to make this an error.",
        GaugeDependenceWarning,
        stacklevel=4,
    )


def _report_subgradient(
    w: torch.Tensor,
    same: torch.Tensor,
    spread: torch.Tensor,
    spread_tol: float,
    fn: str,
) -> None:
    n = w.shape[-1]
    flat_spread = spread.reshape(-1)
    flat = int(flat_spread.argmax())
    batch, i = divmod(flat, n)
    value, mult, where = _cluster_at(w, same, batch, i)
    warnings.warn(
        f"{fn} backward: the loss weights the individual eigenvalues of the cluster at "
        f"{value:.5g} (multiplicity {mult}){where} unequally (relative spread of the eigenvalue "
        f"cotangent {float(flat_spread[flat]):.3g} > {spread_tol:.3g}). Individual eigenvalues "
        "of a repeated eigenvalue are not differentiable; eigengrad returned the minimum-norm "
        "subgradient, the cluster-mean cotangent (lambda_max at multiplicity m gets P/m). "
        "Functions of the whole cluster (its sum, its projector) have exact gradients; a matrix "
        "function built through eigh is exact only through a divided-difference rule.",
        SubgradientWarning,
        stacklevel=3,
    )
