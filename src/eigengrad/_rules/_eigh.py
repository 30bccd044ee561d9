"""Derivative rules of the Hermitian eigendecomposition (MATH.md sections 2 and 3), neutral layer.

Derivation. Differentiate ``A V = V Λ`` and ``V^H V = I``: with ``K = V^H dA V`` and
``Ω = V^H dV`` (anti-Hermitian), ``K = Ω Λ - Λ Ω + dΛ``. The diagonal gives ``dw = Re diag K``;
off the diagonal ``Ω_ij = K_ij / (w_j - w_i)``. So, with ``F_ij = 1 / (w_j - w_i)`` (``F_ii = 0``),

- JVP: ``dw = Re diag(K)``, ``dV = V (F ∘ K)``;
- VJP: ``gA = V (diag(gw) + F ∘ skew(S)) V^H`` with ``S = V^H gV``, ``skew(S) = (S - S^H) / 2``.

Only the anti-Hermitian part of ``S`` enters because ``Ω`` is anti-Hermitian; ``Im diag S`` is the
dependence of the loss on eigenvector phases and is dropped (``F_ii = 0``).

Degeneracy (MATH.md section 3). ``F`` is evaluated only on pairs that are *kept*: pairs in
different clusters whose anti-Hermitian cotangent is above rounding level. Within a cluster the
block of ``skew(S)`` is the derivative of the loss along basis rotations of the eigenspace: zero
for a basis-invariant loss (dropping the 0/0 entries is then exact), non-zero for a
basis-dependent loss (no derivative exists; dropping gives the gauge-projected cotangent and the
caller warns). The eigenvalue cotangent is replaced by its cluster mean, the minimum-norm
subgradient of the convex spectral functions (``λ_max`` at multiplicity ``m`` gets ``P / m``).
In forward mode the one-sided directional derivative of the eigenvalues of a cluster is the sorted
spectrum of the compressed perturbation ``K_cc`` (Kato; Lewis 1996).

References
----------
Giles 2008, "Collected matrix derivative results"; Seeger et al. 2017 (arXiv:1710.08717);
Kato, "Perturbation Theory for Linear Operators", II.5; Lewis 1996, "Convex analysis on the
Hermitian matrices".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ._array import conj as _conj
from ._array import ct as _ct
from ._array import diag_embed as _diag_embed
from ._array import eye as _eye

Array = Any


def skew_hermitian(S: Array) -> Array:
    """Return the anti-Hermitian part ``(S - S^H) / 2``."""
    return (S - _ct(S)) / 2


def inverse_gaps(w: Array, keep: Array | None = None) -> Array:
    """Return ``F_ij = 1 / (w_j - w_i)`` on kept pairs and ``0`` elsewhere (never ``1 / 0``).

    Parameters
    ----------
    w : array
        Real eigenvalues, shape ``(..., n)``.
    keep : array, optional
        Boolean ``(..., n, n)`` mask of the pairs to evaluate; the diagonal must be ``False``.
        ``None`` keeps every off-diagonal pair (all eigenvalues must be distinct).
    """
    xp = array_namespace(w)
    gaps = w[..., None, :] - w[..., :, None]
    if keep is None:
        # 1/inf = 0 on the diagonal; its derivative -1/inf^2 = 0 as well.
        eye = _eye(xp, w.shape[-1], xp.bool, w.device)
        return 1 / xp.where(eye, xp.inf, gaps)
    # The masked denominator keeps 1/0 out of the graph, so double backward sees no NaN either.
    return xp.where(keep, 1 / xp.where(keep, gaps, xp.ones_like(gaps)), xp.zeros_like(gaps))


def eigh_vjp(V: Array, gw: Array | None, F: Array | None, skew_S: Array | None) -> Array:
    """VJP of eigh: ``gA = V (diag(gw) + F ∘ skew(S)) V^H``.

    Parameters
    ----------
    V : array
        Eigenvectors, ``(..., n, n)``.
    gw : array or None
        Eigenvalue cotangent, already projected onto cluster means (``None``: unused).
    F : array or None
        Masked inverse gaps from :func:`inverse_gaps` (``None`` when ``skew_S`` is ``None``).
    skew_S : array or None
        ``skew(V^H gV)`` (``None``: eigenvectors unused).

    Returns
    -------
    array
        The Hermitian cotangent ``gA``.
    """
    xp = array_namespace(V)
    if skew_S is None:
        if gw is None:
            return xp.zeros_like(V)
        # eigenvalue term alone: V diag(gw) V^H without forming diag(gw)
        return (V * xp.astype(gw[..., None, :], V.dtype, copy=False)) @ _ct(V)
    inner = F * skew_S  # eigenvector term F ∘ skew(S)
    if gw is not None:
        inner = inner + _diag_embed(gw, V.dtype)  # eigenvalue term diag(gw)
    return V @ inner @ _ct(V)


def eigh_jvp(V: Array, dA: Array, F: Array) -> tuple[Array, Array, Array]:
    """JVP of eigh away from clusters: ``dw = Re diag K``, ``dV = V (F ∘ K)``, ``K = V^H dA V``.

    Returns ``(dw, dV, K)``; ``K`` is returned so that the caller can replace ``dw`` on clusters
    by :func:`cluster_eigvalsh`. Within-cluster entries of ``F`` are zero (projected gauge), which
    is exact for every basis-invariant function of the eigenvectors.
    """
    xp = array_namespace(V)
    K = _ct(V) @ dA @ V
    dw = xp.real(xp.linalg.diagonal(K))
    return dw, V @ (F * K), K


def eigh_jvp_jvp(
    w: Array, V: Array, dA: Array, F: Array, w_dot: Array, V_dot: Array, dA_dot: Array
) -> tuple[Array, Array]:
    """Second-order forward rule: the JVP of :func:`eigh_jvp` itself, off clusters.

    Differentiating ``K = V^H dA V``, ``dw = Re diag K``, ``dV = V (F ∘ K)`` along
    ``(w_dot, V_dot, dA_dot)``: ``K' = V'^H dA V + V^H dA' V + V^H dA V'``,
    ``F'_ij = -F_ij^2 (w'_j - w'_i)``, so ``dw' = Re diag K'`` and
    ``dV' = V' (F ∘ K) + V (F' ∘ K + F ∘ K')``.
    """
    xp = array_namespace(V)
    K = _ct(V) @ dA @ V
    K_dot = _ct(V_dot) @ dA @ V + _ct(V) @ dA_dot @ V + _ct(V) @ dA @ V_dot
    F_dot = -(F * F) * (w_dot[..., None, :] - w_dot[..., :, None])
    dw_dot = xp.real(xp.linalg.diagonal(K_dot))
    dV_dot = V_dot @ (F * K) + V @ (xp.astype(F_dot, K.dtype) * K + F * K_dot)
    return dw_dot, dV_dot


def eigh_jvp_vjp(
    w: Array, V: Array, dA: Array, F: Array, g_dw: Array | None, g_dV: Array | None
) -> tuple[Array, Array, Array]:
    """Reverse rule of :func:`eigh_jvp` off clusters: cotangents of ``(w, V, dA)``.

    With ``G = V^H g_dV`` and ``gK = F ∘ G + diag(g_dw)`` (the adjoint of ``K -> (dw, dV)``
    for ``Re<., .>``): ``g_dA = V gK V^H``,
    ``gV = g_dV (F ∘ K)^H + dA^H V gK + dA V gK^H``, and through ``F``, with
    ``N = Re(conj(G) ∘ K) ∘ F^2``: ``gw_k = sum_j N_kj - sum_i N_ik``.
    """
    xp = array_namespace(V)
    K = _ct(V) @ dA @ V
    gK = xp.zeros_like(K)
    gV = xp.zeros_like(V)
    gw = xp.zeros_like(w)
    if g_dV is not None:
        G = _ct(V) @ g_dV
        gK = gK + F * G
        gV = gV + g_dV @ _ct(F * K)
        N = xp.real(_conj(G) * K) * F * F
        gw = gw + xp.sum(N, axis=-1) - xp.sum(N, axis=-2)
    if g_dw is not None:
        gK = gK + _diag_embed(g_dw, K.dtype)
    g_dA = V @ gK @ _ct(V)
    gV = gV + _ct(dA) @ V @ gK + dA @ V @ _ct(gK)
    return gw, gV, g_dA


def cluster_eigvalsh(K: Array, labels: Array, multiple: Array) -> Array:
    """Sorted eigenvalues of each within-cluster block ``K_cc``, laid out like ``w``.

    For eigenvalues in clusters of size ``m > 1`` the one-sided directional derivative of the
    ascending eigenvalues along ``dA`` is ``eigvalsh(K_cc)`` (ascending). Singletons get
    ``Re K_ii``. All blocks are solved in one ``eigvalsh`` call: the blocks of multiple clusters are
    shifted apart by multiples of ``3 max_i sum_j |K_ij|`` (singleton rows are zeroed and sort
    first), so the ascending spectrum lists the clusters in order; the shift costs ``O(eps)``
    relative to ``‖K‖`` times the number of multiple clusters.
    """
    xp = array_namespace(K)
    real_dtype = xp.real(K[..., :1, :1]).dtype
    both = (
        (labels[..., :, None] == labels[..., None, :])
        & multiple[..., :, None]
        & multiple[..., None, :]
    )
    Kc = xp.where(both, K, xp.zeros_like(K))
    radius = xp.max(xp.sum(xp.abs(Kc), axis=-1), axis=-1, keepdims=True)  # ≥ max_c ‖K_cc‖
    mult = xp.astype(multiple, xp.int64)
    previous = xp.concat([xp.full_like(labels[..., :1], -1), labels[..., :-1]], axis=-1)
    first = xp.astype(multiple & (labels != previous), xp.int64)
    rank = xp.cumulative_sum(first, axis=-1) * mult  # 1, 2, ... on multiples, 0 on singletons
    offset = xp.astype(rank, real_dtype) * 3 * radius
    spectrum = xp.linalg.eigvalsh(Kc + _diag_embed(offset, K.dtype))  # singletons (0) first
    n_single = xp.sum(1 - mult, axis=-1, keepdims=True)
    position = n_single + xp.cumulative_sum(mult, axis=-1) - 1
    position = xp.where(multiple, position, xp.zeros_like(position))
    cluster_values = xp.take_along_axis(spectrum, position, axis=-1) - offset
    return xp.where(multiple, cluster_values, xp.real(xp.linalg.diagonal(K)))


@dataclass(frozen=True)
class CotangentGauge:
    """Measured gauge dependence of an eigh cotangent, and the resulting masks.

    Attributes
    ----------
    keep : array
        Boolean ``(..., n, n)``: pairs whose ``1/gap`` term is evaluated.
    basis : array
        ``(..., n, n)``: relative within-cluster anti-Hermitian cotangent
        ``|skew(S)_ij| / (‖gV_i‖ + ‖gV_j‖)`` (zero outside clusters and on the diagonal).
    phase : array or None
        ``(..., n)``: relative phase dependence ``|Im S_ii| / ‖gV_i‖`` (complex input only).
    """

    keep: Array
    basis: Array
    phase: Array | None


def relative_skew(skew_S: Array, gV_norms: Array) -> Array:
    """Relative anti-Hermitian cotangent ``|skew(S)_ij| / (‖gV_i‖ + ‖gV_j‖)``, ``(..., n, n)``.

    ``skew(S)_ij`` is computed from ``S_ij = v_i^H gV_j`` with absolute error about
    ``eps sqrt(n) ‖gV_j‖``, so a ratio below ``rtol`` is rounding noise.
    """
    xp = array_namespace(skew_S)
    scale = gV_norms[..., :, None] + gV_norms[..., None, :]
    return xp.abs(skew_S) / xp.where(scale > 0, scale, xp.ones_like(scale))


def above_noise(skew_S: Array, gV_norms: Array, rtol: float) -> Array:
    """Boolean ``|skew(S)_ij| > rtol (‖gV_i‖ + ‖gV_j‖)``: the pairs whose ``1/gap`` term is kept.

    Equivalent to ``relative_skew(...) > rtol`` in fewer operations (no division).
    """
    xp = array_namespace(skew_S)
    return xp.abs(skew_S) > rtol * (gV_norms[..., :, None] + gV_norms[..., None, :])


def phase_dependence(S_diag: Array, gV_norms: Array) -> Array:
    """Relative phase dependence ``|Im S_ii| / ‖gV_i‖`` of a complex cotangent, ``(..., n)``."""
    xp = array_namespace(S_diag)
    safe = xp.where(gV_norms > 0, gV_norms, xp.ones_like(gV_norms))
    return xp.abs(xp.imag(S_diag)) / safe


def measure_cotangent_gauge(
    skew_S: Array, S_diag: Array, gV_norms: Array, same: Array, rtol: float
) -> CotangentGauge:
    """Decide which ``1/gap`` terms to evaluate, and measure gauge dependence.

    A pair ``(i, j)`` is kept when ``i`` and ``j`` lie in different clusters *and* its relative
    anti-Hermitian cotangent exceeds ``rtol``. The second condition removes rounding noise of
    basis-invariant losses at resolvable but tiny gaps (where noise / gap would be large), while
    a non-invariant loss (a matrix function built through eigh, say) keeps its exact ``1/gap``
    term at every resolvable gap: the decision looks at the cotangent, not only at the gap.
    """
    xp = array_namespace(skew_S)
    ratio = relative_skew(skew_S, gV_norms)
    keep = (ratio > rtol) & ~same
    # the diagonal of skew(S) is i Im S_ii, the phase dependence, measured separately below
    off_diagonal = ~_eye(xp, ratio.shape[-1], xp.bool, ratio.device)
    basis = xp.where(same & off_diagonal, ratio, xp.zeros_like(ratio))
    phase = None
    if xp.isdtype(S_diag.dtype, "complex floating"):
        phase = phase_dependence(S_diag, gV_norms)
    return CotangentGauge(keep=keep, basis=basis, phase=phase)


def cluster_spread(gw: Array, same: Array) -> Array:
    """Spread ``max_c gw - min_c gw`` of the eigenvalue cotangent over each cluster, ``(..., n)``.

    Relative to ``max|gw|`` of the same matrix. Zero on singletons and on cluster-constant
    cotangents (basis-invariant spectral losses such as cluster sums).
    """
    xp = array_namespace(gw)
    g = gw[..., None, :]
    big = xp.max(xp.where(same, g, xp.full_like(g, -xp.inf)), axis=-1)
    small = xp.min(xp.where(same, g, xp.full_like(g, xp.inf)), axis=-1)
    scale = xp.max(xp.abs(gw), axis=-1, keepdims=True)
    return (big - small) / xp.where(scale > 0, scale, xp.ones_like(scale))
