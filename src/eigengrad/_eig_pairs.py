r"""Biorthogonal eigenvector pairs of nonsymmetric matrices, differentiated by reduced resolvents.

The spectral projector ``P_i = v_i u_i^H`` and the condition number ``κ_i = ‖u_i‖ ‖v_i‖`` (with
``u_i^H v_i = 1``) of a simple eigenvalue are smooth functions of ``A``, also when *other*
eigenvalues are defective. Differentiating them through :func:`eigengrad.eig` is not: eig's
rule sums ``1 / (λ_i - λ_j)`` over every ``j`` with left vectors from ``V^{-1}``, and those are
rounding noise when ``V`` is (nearly) singular. This module differentiates the pair itself.

Derivation (Kato II.2). Let ``λ_i`` lie in the cluster ``C`` (``{i}`` for a simple eigenvalue)
with total projector ``Q = Σ_{j∈C} v_j u_j^H``, and let the reduced resolvent ``S_i`` invert
``A - λ_i I`` on the complementary invariant subspace ``range(I - Q)`` and vanish on
``range(Q)``. Differentiating ``A v_i = λ_i v_i`` and ``u_i^H A = λ_i u_i^H`` in the gauge
``u_i^H dv_i = 0 = du_i^H v_i`` (which keeps ``u_i^H v_i = 1``):

- JVP: ``dv_i = -S_i dA v_i``, ``du_i = -S_i^H dA^H u_i``, hence
  ``dP_i = -(S_i dA P_i + P_i dA S_i)`` for a simple eigenvalue.
- VJP: ``gA = -Σ_i [(S_i^H gv_i) v_i^H + u_i (S_i gu_i)^H]``; ``Re gA`` for a real ``A``.

``S_i`` is applied in one of two ways:

- Kato sum, ``S_i = Σ_{j∉C} v_j u_j^H / (λ_j - λ_i)``: O(n^3) for every ``i`` together,
  accurate when ``V`` is well conditioned (the default path).
- Shifted solve, ``S_i = (I - Q)(A - λ_i I + s V_C W_C^H)^{-1}(I - Q)`` with ``s != 0`` and
  any ``W_C`` with ``W_C^H V_C = I``: if ``(A - λ_i) z + s V_C W_C^H z = y`` with
  ``U_C^H y = 0``, then ``U_C^H`` gives ``W_C^H z = 0``, so ``(A - λ_i) z = y``. One LU per
  eigenvalue, O(n^4) in all, accurate however ill-conditioned the *other* eigenvectors are.
  Used when some eigenvalue of the matrix is (nearly) defective. ``W = V (same ∘ V^H V)^{-1}``
  makes the shift an orthogonal projector (``v v^H / |v|^2`` for a simple eigenvalue); the
  oblique ``Q = v u^H`` has norm ``κ_i`` and would square ``κ_i`` into ``cond(M_i)``.

On that path the forward also refines the pairs with the same shifted matrix: for
``M = A - λ I + s ṽ w̃^H`` the exact eigenvectors satisfy ``M v = s ṽ (w̃^H v)`` and
``u^H M = s (u^H ṽ) w̃^H``, so ``v ∝ M^{-1} ṽ`` and ``u ∝ M^{-H} w̃`` whatever the error of the
computed ``ṽ`` (inverse iteration, exact in one step for an exact ``λ``). The same holds for
the invariant subspace of a semisimple cluster (``M = A - λ I + s Ṽ_C W̃_C^H``), whose left
vectors are then re-biorthogonalised; defective clusters keep LAPACK's vectors.

Gauge. Inside a cluster every biorthogonal basis is as good as any other. The loss is invariant
when ``T_ij = gv_i^H v_j - u_i^H gu_j`` vanishes for ``i != j`` in one cluster (as for the sum
of the cluster's projectors, its total projector ``Q``); the within-cluster terms are dropped
(the projected gauge, exact for invariant losses) and a warning names the cluster otherwise.
The normalisation gauge (``v -> c v``, ``u -> u / conj(c)``, i.e. ``T_ii``) is not checked:
the consumers, ``P_i`` and ``κ_i``, are invariant under it by construction.

References
----------
Kato, "Perturbation Theory for Linear Operators", 1995, II.2 (reduced resolvent, derivative of
the projector); Stewart & Sun, "Matrix Perturbation Theory", 1990, V.2; Golub & Van Loan, 7.6.1
(inverse iteration).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import _eig_policy as policy
from ._eig import _Eig, _norm, _Options, frobenius_scale
from ._inspect import cache_forward_signature, inspect
from ._nested_forward import guard_nested_forward
from ._policy import batch_location, emit_gauge_dependence
from ._rules import _eig as rules
from .exceptions import DefectiveEigenvalueError


def _scale(A: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``s = max(‖A‖_F / sqrt(n), max|w|)``, two lower bounds of ``‖A‖_2`` (1 for ``A = 0``)."""
    s = frobenius_scale(A)
    if A.shape[-1] > 0:
        s = torch.maximum(s, w.abs().amax(-1, keepdim=True))
    return torch.where(s > 0, s, torch.ones_like(s))


def classify(
    w: torch.Tensor, kappa: torch.Tensor, scale: torch.Tensor, opts: _Options
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Return ``(same, flagged, distance, multiple)``: clusters, (nearly) defective eigenvalues.

    ``distance`` is the estimated relative distance of each eigenvalue to a defective matrix;
    ``multiple`` says whether any cluster has two or more members. The criteria are those of
    :func:`eigengrad.eig`. Runs on plain tensors and synchronises once.
    """
    n = w.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=w.device)
    flagged = torch.zeros_like(kappa, dtype=torch.bool)
    distance = torch.full_like(kappa, math.inf)
    if n == 0:
        return eye.expand(*w.shape, n), flagged, distance, False
    w_max = w.abs().amax(-1, keepdim=True)
    tol = opts.atol + opts.rtol * w_max
    nearest = policy.distances(w).masked_fill(eye, math.inf).amin(-1)
    multiple, maybe_defective = torch.stack(
        [
            (nearest <= tol).any(),
            (nearest < opts.defective_rtol * 2 * kappa.amax(-1, keepdim=True) * scale).any()
            | ~(kappa <= opts.kappa_max).all(),
        ]
    ).tolist()
    same = rules.complex_clusters(w, tol.unsqueeze(-1)) if multiple else eye.expand(*w.shape, n)
    if maybe_defective:
        flagged, distance = _defects(w, kappa, same, scale, opts)
    return same, flagged, distance, bool(multiple)


def _defects(w, kappa, same, scale, opts: _Options) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(flagged, distance)``: eig's (nearly) defective test between the clusters."""
    pairs = rules.defect_pairs(w, kappa, same, scale)
    flagged = ~(kappa <= opts.kappa_max) | (pairs < opts.defective_rtol).any(-1)
    return flagged, pairs.amin(-1)


def _project(X: torch.Tensor, V: torch.Tensor, U: torch.Tensor, same: torch.Tensor, adjoint: bool):
    """Columns ``(I - Q_i) x_i`` (or ``(I - Q_i)^H x_i``), ``Q_i`` the projector of i's cluster."""
    mask = same.to(X.dtype)
    if adjoint:
        return X - U @ (mask * (V.mH @ X))
    return X - V @ (mask * (U.mH @ X))


def _deflation_left(V: torch.Tensor, U: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """``W = V G^{-1}`` with ``G = same ∘ V^H V``: ``W_C^H V_C = I`` on every cluster ``C``.

    The shift ``s V_C W_C^H`` is then an orthogonal projector (``s v v^H / |v|^2`` for a simple
    eigenvalue), so ``cond(M_i)`` does not grow with ``κ_i`` (the oblique ``s v u^H`` has norm
    ``s κ_i`` and made ``cond(M_i) >= κ_i^2``). A cluster with a singular Gram matrix keeps ``U``.
    """
    G = same.to(V.dtype) * (V.mH @ V)
    Wh = torch.linalg.solve_ex(G, V.mH)[0]
    return torch.where(torch.isfinite(Wh).all(-1).unsqueeze(-2), Wh.mH, U)


def _shifted(
    A: torch.Tensor,
    lam: torch.Tensor,
    V: torch.Tensor,
    W: torch.Tensor,
    same: torch.Tensor,
    scale: torch.Tensor,
    clusters: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LU factors of ``M_i = A - λ_i I + s V_C W_C^H`` for every eigenvalue, ``(..., n, n, n)``."""
    n = A.shape[-1]
    M = A.to(V.dtype).unsqueeze(-3).expand(*lam.shape, n, n).clone()
    M.diagonal(dim1=-2, dim2=-1).sub_(lam.unsqueeze(-1))
    if clusters:  # Q_i = V diag(same_i) W^H
        Q = (V.unsqueeze(-3) * same.to(V.dtype).unsqueeze(-2)) @ W.mH.unsqueeze(-3)
    else:  # Q_i = v_i w_i^H
        Q = V.mT.unsqueeze(-1) * W.conj().mT.unsqueeze(-2)
    M += scale[..., None, None] * Q
    LU, pivots, _ = torch.linalg.lu_factor_ex(M)
    return LU, pivots


def _solve_columns(LU: torch.Tensor, pivots: torch.Tensor, X: torch.Tensor, adjoint: bool):
    """Column ``i`` of the result is ``M_i^{-1} x_i`` (or ``M_i^{-H} x_i``)."""
    rhs = X.mT.unsqueeze(-1)
    return torch.linalg.lu_solve(LU, pivots, rhs, adjoint=adjoint).squeeze(-1).mT


def _apply_reduced_resolvent(
    factors: tuple[torch.Tensor, torch.Tensor],
    X: torch.Tensor,
    V: torch.Tensor,
    U: torch.Tensor,
    same: torch.Tensor,
    adjoint: bool,
) -> torch.Tensor:
    """Columns ``S_i x_i`` (or ``S_i^H x_i``) with ``S_i = (I - Q_i) M_i^{-1} (I - Q_i)``."""
    Y = _solve_columns(*factors, _project(X, V, U, same, adjoint), adjoint)
    Y = torch.where(torch.isfinite(Y), Y, torch.zeros_like(Y))  # M_i of a Jordan block (warned)
    return _project(Y, V, U, same, adjoint)


def _kato(lam: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """``F_ji = 1 / (λ_j - λ_i)`` outside clusters, 0 inside: ``S_i = V diag(F_:i) U^H``."""
    return rules.inverse_gaps(lam, ~same).mT


def _refine(A, w, V, U, same, scale, refine, clusters):
    """One step of inverse iteration for the pairs selected by ``refine`` (see module notes).

    A cluster's refined vectors span its exact invariant subspaces; the left ones are then
    re-biorthogonalised within each cluster (``U^H V = I``).
    """
    W = _deflation_left(V, U, same)
    factors = _shifted(A, w, V, W, same, scale, clusters)
    v = _solve_columns(*factors, V, adjoint=False)
    u = _solve_columns(*factors, W, adjoint=True)  # u^H M = s (u^H v) w^H
    v = v / _norm(v, -2).unsqueeze(-2)
    keep = refine.unsqueeze(-2)
    v, u = torch.where(keep, v, V), torch.where(keep, u, U)
    gram = same.to(u.dtype) * (u.mH @ v)  # block diagonal (up to a permutation)
    u = torch.linalg.solve_ex(gram, u.mH)[0].mH
    ok = (torch.isfinite(v) & torch.isfinite(u)).all(-2, keepdim=True) & keep
    return torch.where(ok, v, V), torch.where(ok, u, U)


def _pair_policy(
    w: torch.Tensor,
    kappa: torch.Tensor,
    scale: torch.Tensor,
    V: torch.Tensor,
    U: torch.Tensor,
    gV: torch.Tensor | None,
    gU: torch.Tensor | None,
    *,
    opts: _Options,
    mode: str,
    resolvent: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Classify, report defective eigenvalues and basis dependence; return ``(same, flag)``.

    ``flag`` has shape ``(..., 1)`` when some cluster has several members, ``(..., 0)``
    otherwise: the decision travels in a shape, which ``vmap`` lets the caller branch on.
    In backward, eigenvalues a tiny gap apart on which the loss is invariant join one cluster
    (:func:`_merge_invariant`).
    """
    same, flagged, distance, multiple = classify(w, kappa, scale, opts)
    if w.shape[-1] == 0:
        return same, w.new_zeros(*w.shape[:-1], 0, dtype=torch.bool)
    rel = None
    if gV is None or gU is None:  # forward mode: every pair's tangent is an output
        bad = flagged
    else:
        norms = (_norm(gV, -2), _norm(gU, -2))
        rel = _relative_cotangent(kappa, V, U, gV, gU, norms)
        merged = _merge_invariant(w, same, rel, opts, resolvent)
        if merged is not None:
            same, multiple = merged, True
            flagged, distance = _defects(w, kappa, same, scale, opts)
        bad = flagged & ((norms[0] > 0) | (norms[1] > 0))
    if bool(bad.any()):
        policy._report_defective(w, kappa, distance, bad, same, opts.defective, opts.fn, mode)
    if multiple and rel is not None:
        _check_basis(w, same, flagged, rel, opts)
    return same, w.new_zeros(*w.shape[:-1], int(multiple), dtype=torch.bool)


def _relative_cotangent(kappa, V, U, gV, gU, norms) -> torch.Tensor:
    """``|T_ij| / ((‖gv_i‖ ‖v_j‖ + ‖u_i‖ ‖gu_j‖) max(1, κ_i, κ_j))``, ``T = gV^H V - U^H gU``.

    ``T_ij`` (``i != j``) is the loss's derivative along the rotation that mixes ``v_j`` into
    ``v_i`` (and ``u_i`` into ``u_j``); the rounding noise of an invariant loss grows with the
    conditioning of the pairs.
    """
    T = gV.mH @ V - U.mH @ gU
    g_v, g_u = norms
    size = g_v.unsqueeze(-1) * _norm(V, -2).unsqueeze(-2)
    size = size + _norm(U, -2).unsqueeze(-1) * g_u.unsqueeze(-2)
    noise = torch.maximum(kappa.unsqueeze(-1), kappa.unsqueeze(-2)).clamp_min(1.0)
    return T.abs() / (size * noise).clamp_min(torch.finfo(size.dtype).tiny)  # 0 / tiny = 0


def _merge_invariant(w, same, rel, opts: _Options, resolvent: bool) -> torch.Tensor | None:
    """Join tiny-gap groups on which the loss is invariant; return ``same`` (``None``: unchanged).

    A ``1/(λ_i - λ_j)`` term whose cotangent ``T_ij`` is rounding noise (``rel <= rtol``) must
    not amplify that noise: as in :func:`eigengrad.eig`, eigenvalues closer than a tiny gap
    whose mixing the loss ignores (in both directions, for every pair of the joined group) are
    treated as one cluster, whose projector and reduced resolvent are well conditioned. The gap
    is ``sqrt(rtol) max|w|`` for the Kato sum, whose noise grows as ``1/gap``, and
    ``rtol^(1/3) max|w|`` for the shifted solves, where the two ``1/gap`` components that cancel
    in an invariant loss each carry the solve's error ``eps cond(M_i) ~ eps ‖A‖ / gap``
    (measured before this rule: the sum of two projectors 1e-5 / 1e-6 apart next to a Jordan
    block was 5e-6 / 1e-3 off; both now agree with finite differences to their error, 1e-8).
    """
    n = w.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=w.device)
    w_max = w.abs().amax(-1, keepdim=True).unsqueeze(-1)
    gap = opts.rtol ** (1 / 3 if resolvent else 1 / 2) * w_max
    quiet = (rel <= opts.rtol) & (rel.mT <= opts.rtol)
    join = (policy.distances(w) < gap) & quiet & ~same & ~eye
    if not bool(join.any()):
        return None
    group = rules.connected(same | join)
    # a group is joined only if the loss ignores the mixing of every pair inside it
    broken = (group & ~(same | quiet | eye)).any(-1)
    broken = (group & broken.unsqueeze(-2)).any(-1)
    keep = broken.unsqueeze(-1) | broken.unsqueeze(-2)
    merged = torch.where(keep, same, group)
    return merged if bool((merged != same).any()) else None


def _check_basis(w, same, flagged, rel, opts: _Options) -> None:
    """Warn (or raise) when ``T_ij = gv_i^H v_j - u_i^H gu_j`` is not zero inside a cluster."""
    n = w.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=w.device)
    defective_cluster = (same & flagged.unsqueeze(-2)).any(-1)
    inside = same & ~eye & ~defective_cluster.unsqueeze(-1)
    rel = torch.where(inside, rel, torch.zeros_like(rel))
    worst = float(rel.amax())
    if worst <= opts.rtol:
        return
    flat = int(rel.reshape(-1).argmax())
    batch, i = divmod(flat // n, n)
    members = same.reshape(-1, n, n)[batch, i]
    value = complex(w.reshape(-1, n)[batch][members].mean())
    emit_gauge_dependence(
        f"{opts.fn} backward: the loss depends on the individual eigenvectors of the repeated "
        f"eigenvalue {policy._fmt(value)} (multiplicity {int(members.sum())})"
        f"{batch_location(w.shape[:-1], batch)}: the relative within-cluster cotangent "
        f"|gv_i^H v_j - u_i^H gu_j| / ((||gv_i|| ||v_j|| + ||u_i|| ||gu_j||) max(1, kappa)) is "
        f"{worst:.3g} > rtol = {opts.rtol:.3g}. Inside a repeated eigenvalue only the whole "
        "invariant subspace is defined: the sum of the cluster's projectors is differentiable, "
        "the projectors (and condition numbers) of its members are not. Use the sum over the "
        "whole cluster or functions of it",
        opts.gauge,
    )


class _EigPairs(torch.autograd.Function):
    """``(V, U, resolvent)``: biorthogonal pairs ``U^H V = I`` refined from eig's ``V``.

    ``resolvent`` (a non-differentiable bool) says whether the shifted-solve path was taken.
    """

    @staticmethod
    def forward(A: torch.Tensor, w: torch.Tensor, V: torch.Tensor, opts: _Options) -> Any:
        Vinv, info = torch.linalg.inv_ex(V)
        if V.numel() > 0 and bool((info != 0).any()):
            raise DefectiveEigenvalueError(
                f"{opts.fn}: the eigenvectors LAPACK computed are linearly dependent (V is "
                "singular in floating point), so A has a defective eigenvalue (a Jordan block) "
                "whose projectors and condition numbers are infinite. Use quantities that stay "
                "finite: the eigenvalues (eg.eigvals), the sum of a defective group's "
                "eigenvalues, or regularise A away from the defect."
            )
        U = Vinv.mH.resolve_conj().contiguous()  # a fresh tensor, not a view (forward AD)
        scale = _scale(A, w)
        kappa = rules.condition_numbers(V, Vinv)
        same, flagged, _, multiple = classify(w, kappa, scale, opts)
        resolvent = bool(flagged.any())
        if resolvent:
            refine = ~(same & flagged.unsqueeze(-2)).any(-1)  # not in a defective cluster
            V, U = _refine(A, w, V, U, same, scale, refine, multiple)
        else:
            V = V.clone()
        return V, U, torch.tensor(resolvent)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        A, w, _, opts = inputs
        V, U, resolvent = output
        ctx.mark_non_differentiable(resolvent)
        ctx.opts = opts
        ctx.resolvent = bool(resolvent)
        ctx.real_input = not A.is_complex()
        ctx.save_for_backward(A, w, V, U)
        ctx.save_for_forward(A, w, V, U)
        ctx.set_materialize_grads(False)

    @staticmethod
    def vmap(info: Any, in_dims: Any, A, w, V, opts: _Options) -> Any:
        moved = [
            t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
            for t, d in zip((A, w, V), in_dims[:3], strict=True)
        ]
        return _EigPairs.apply(*moved, opts), (0, 0, None)

    @staticmethod
    def _setup(ctx: Any, gV, gU, mode: str):
        A, w, V, U = ctx.saved_tensors
        opts: _Options = ctx.opts
        kappa = (_norm(V, -2) * _norm(U, -2)).detach()
        scale = _scale(A, w)
        same, flag = inspect(
            _pair_policy,
            w,
            kappa,
            scale,
            V,
            U,
            gV,
            gU,
            opts=opts,
            mode=mode,
            resolvent=ctx.resolvent,
        )
        # λ_i = u_i^H A v_i, tracked through the outputs for double backward, with LAPACK's value
        # (consistent with V: in float32 next to a Jordan block u^H A v is off by eps κ, which
        # broke the cancellation in the Kato sum)
        lam = (U.conj() * (A.to(V.dtype) @ V)).sum(-2)
        lam = lam - (lam - w).detach()
        factors = None
        if ctx.resolvent:
            W = _deflation_left(V, U, same)
            factors = _shifted(A, lam, V, W, same, scale, flag.shape[-1] > 0)
        return V, U, same, lam, factors

    @staticmethod
    def backward(ctx: Any, gV: torch.Tensor | None, gU: torch.Tensor | None, _: Any) -> Any:
        if gV is None and gU is None:
            return None, None, None, None
        V_out = ctx.saved_tensors[2]
        gV = torch.zeros_like(V_out) if gV is None else gV
        gU = torch.zeros_like(V_out) if gU is None else gU
        V, U, same, lam, factors = _EigPairs._setup(ctx, gV, gU, "backward")
        if factors is None:
            F = _kato(lam, same)
            X = U @ (F.conj() * (V.mH @ gV))
            Y = V @ (F * (U.mH @ gU))
        else:
            X = _apply_reduced_resolvent(factors, gV, V, U, same, adjoint=True)
            Y = _apply_reduced_resolvent(factors, gU, V, U, same, adjoint=False)
        gA = -(X @ V.mH + U @ Y.mH)
        return (gA.real if ctx.real_input else gA), None, None, None

    @staticmethod
    def jvp(ctx: Any, dA: torch.Tensor, *_: Any) -> Any:
        V, U, same, lam, factors = _EigPairs._setup(ctx, None, None, "jvp")
        dA = dA.to(V.dtype)
        if factors is None:
            F = _kato(lam, same)
            K = U.mH @ dA @ V
            dV, dU = -(V @ (F * K)), -(U @ (F.conj() * K.mH))
        else:
            dV = -_apply_reduced_resolvent(factors, dA @ V, V, U, same, adjoint=False)
            dU = -_apply_reduced_resolvent(factors, dA.mH @ U, V, U, same, adjoint=True)
        dV, dU = guard_nested_forward((V, U), (dV, dU), _NESTED_FORWARD)
        return dV, dU, None


_NESTED_FORWARD = (
    "eigengrad: forward mode over forward mode (e.g. jacfwd(jacfwd(f))) of eigenvalue "
    "condition numbers or spectral projectors is not implemented; it raises rather than return "
    "zero. Use reverse mode for one of the two levels (torch.func.hessian, jacrev(jacfwd(f)))."
)


cache_forward_signature(_EigPairs)


def eig_pairs(A: torch.Tensor, opts: _Options) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w, V, U)`` with ``A V = V diag(w)``, ``U^H A = diag(w) U^H``, ``U^H V = I``, unit ``V``.

    ``w`` is differentiated by :func:`eigengrad.eig`'s rule, ``V`` and ``U`` by this module's.
    """
    w, V = _Eig.apply(A, opts)
    V, U, _ = _EigPairs.apply(A, w.detach(), V.detach(), opts)
    return w, V, U
