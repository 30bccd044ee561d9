"""Derivative rules of the nonsymmetric eigendecomposition (MATH.md section 6), neutral layer.

Derivation. Let ``A V = V Λ`` with unit-norm columns of ``V`` and ``U^H = V^{-1}``. Differentiate:
``dA V + A dV = dV Λ + V dΛ``. Multiply by ``V^{-1}`` and write ``K = V^{-1} dA V`` and
``X = V^{-1} dV``: ``K = X Λ - Λ X + dΛ``. The diagonal gives ``dw = diag K`` (so
``dλ_i = u_i^H dA v_i`` with ``u_i^H v_i = 1``); off the diagonal ``X_ij = K_ij / (w_j - w_i)``.
The diagonal of ``X`` is fixed by the normalisation: ``Re(v_i^H dv_i) = 0`` keeps ``‖v_i‖ = 1``,
and ``Im(v_i^H dv_i)`` is the arbitrary phase rotation (chosen as in LAPACK/PyTorch). With
``F_ij = 1 / (w_j - w_i)`` (``F_ii = 0``):

- JVP: ``dw = diag K``; ``dV = V (F ∘ K) - V Re diag(V^H V (F ∘ K))``  (unit-norm term).
- VJP: ``gA = V^{-H} (diag(gw) + conj(F) ∘ T) V^H``, ``T = S - V^H V Re diag(S)``,
  ``S = V^H gV`` (the second term of ``T`` is the adjoint of the unit-norm term); a real ``A``
  takes ``Re gA``.

Gauge. Each column may be replaced by ``v_i e^{iφ}``; inside a semisimple repeated eigenvalue any
unit-norm basis ``V_c R`` of the eigenspace is as good. The loss is invariant under all of these
exactly when the within-cluster block of ``T`` vanishes (its diagonal is ``i Im diag S``: the
phase dependence). Within-cluster entries of ``F`` are never evaluated (0/0): dropping them is
exact for invariant losses, and is the gauge-projected cotangent otherwise (the caller warns).

Defective eigenvalues. ``dλ_i = u_i^H dA v_i / (u_i^H v_i)`` is bounded by the condition number
``κ_i = ‖u_i‖ ‖v_i‖ / |u_i^H v_i|`` (``= ‖row_i V^{-1}‖`` here). A Jordan block has ``κ = ∞`` and
perturbations move it like ``ε^{1/m}``. Two eigenvalues ``i, j`` merge into a Jordan block only
when their eigenvectors become parallel (both ``κ`` large); moving at speed ``<= κ`` they meet
after a perturbation of about ``|w_i - w_j| / (2 min(κ_i, κ_j))``: an estimate of the distance
to a defective matrix. Functions of the sum of such a group (its trace) stay smooth.

References
----------
Giles 2008, "Collected matrix derivative results"; Boeddeker et al. 2017 (arXiv:1701.00392);
PyTorch ``linalg_eig_backward``/``linalg_eig_jvp``; Wilkinson, "The Algebraic Eigenvalue
Problem" (eigenvalue condition numbers); Kato, "Perturbation Theory for Linear Operators", II.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from ._array import conj as _conj
from ._array import ct as _ct
from ._array import diag_embed as _diag_embed

Array = Any


def _diag(x: Array) -> Array:
    xp = array_namespace(x)
    return xp.linalg.diagonal(x)


def inverse_gaps(w: Array, keep: Array | None) -> Array:
    """Return ``F_ij = 1 / (w_j - w_i)`` on kept pairs, ``0`` elsewhere (never ``1 / 0``).

    Parameters
    ----------
    w : array
        Complex eigenvalues, shape ``(..., n)``.
    keep : array or None
        Boolean ``(..., n, n)`` mask of the pairs to evaluate; its diagonal must be ``False``.
        ``None``: every off-diagonal pair (the eigenvalues must then be distinct).

    Returns
    -------
    array
        Complex ``(..., n, n)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> w = xp.asarray([1j, 2.0 + 0j])
    >>> keep = xp.asarray([[False, True], [True, False]])
    >>> bool(xp.abs(inverse_gaps(w, keep)[0, 1] - 1 / (2 - 1j)) < 1e-15)
    True
    >>> bool(xp.all(inverse_gaps(w, None) == inverse_gaps(w, keep)))
    True
    """
    xp = array_namespace(w)
    gaps = xp.expand_dims(w, axis=-2) - xp.expand_dims(w, axis=-1)
    # 1/z = conj(z) / |z|^2 with a real reciprocal (complex division is several times slower).
    d2 = xp.real(gaps) ** 2 + xp.imag(gaps) ** 2
    if keep is None:
        eye = xp.eye(w.shape[-1], dtype=d2.dtype)
        r = (1 - eye) / (d2 + eye)  # the diagonal gets 0 / 1
    else:
        # The masked denominator keeps 1/0 out of the graph, so double backward sees no NaN.
        r = xp.where(keep, 1 / xp.where(keep, d2, xp.ones_like(d2)), xp.zeros_like(d2))
    return _conj(gaps) * xp.astype(r, gaps.dtype)


def eig_jvp(V: Array, K: Array, F: Array) -> tuple[Array, Array]:
    """JVP of eig: ``dw = diag K``, ``dV = V (F ∘ K) - V Re diag(V^H V (F ∘ K))``.

    Parameters
    ----------
    V : array
        Unit-norm eigenvectors, ``(..., n, n)``.
    K : array
        ``V^{-1} dA V``, ``(..., n, n)``.
    F : array
        Masked inverse gaps from :func:`inverse_gaps`.

    Returns
    -------
    (dw, dV) : tuple of arrays
        Within-cluster entries of ``F`` are zero, so ``dV`` omits basis changes inside a
        repeated eigenvalue (exact for every gauge-invariant function of ``V``).
    """
    xp = array_namespace(V)
    dw = _diag(K)  # eigenvalue term diag(K)
    dX = V @ (F * K)  # eigenvector term V (F ∘ K)
    # unit-norm term: remove Re(v_i^H dx_i) v_i so that Re(v_i^H dv_i) = 0
    radial = xp.real(xp.sum(_conj(V) * dX, axis=-2))
    return dw, dX - V * xp.expand_dims(xp.astype(radial, V.dtype), axis=-2)


def gauge_cotangent(V: Array, S: Array) -> Array:
    """Return ``T = S - V^H V Re diag(S)`` for ``S = V^H gV``.

    ``T`` is the cotangent that multiplies ``conj(F)`` in the VJP. Its within-cluster block
    (diagonal included: ``T_ii = i Im S_ii``) is the derivative of the loss along the gauge
    directions (phases; bases inside repeated eigenvalues) and vanishes for invariant losses.
    """
    xp = array_namespace(V)
    re_diag = xp.astype(xp.real(_diag(S)), S.dtype)
    return S - (_ct(V) @ V) * xp.expand_dims(re_diag, axis=-2)


def eig_vjp_inner(gw: Array | None, F: Array | None, T: Array | None) -> Array:
    """Return the inner matrix ``M = diag(gw) + conj(F) ∘ T`` of the VJP ``gA = V^{-H} M V^H``.

    ``None`` for an unused output. At least one of ``gw`` and ``T`` must be given.
    """
    inner = None
    if T is not None:
        inner = _conj(F) * T  # eigenvector term conj(F) ∘ T
    if gw is not None:
        eig_term = _diag_embed(gw)  # eigenvalue term diag(gw)
        inner = eig_term if inner is None else inner + eig_term
    if inner is None:
        raise ValueError("eig_vjp_inner: expected gw or T, received neither")
    return inner


def eig_vjp(V: Array, gw: Array | None, F: Array | None, T: Array | None) -> Array:
    """VJP of eig for complex ``A``: ``gA = V^{-H} (diag(gw) + conj(F) ∘ T) V^H``.

    The torch entry point evaluates the same formula with an LU factorisation that it shares with
    the condition-number estimate; this form is the reference of the neutral layer.
    """
    xp = array_namespace(V)
    Vh = _ct(V)
    return xp.linalg.solve(Vh, eig_vjp_inner(gw, F, T) @ Vh)


def complex_clusters(w: Array, tol: Array) -> Array:
    """Boolean ``(..., n, n)``: ``i`` and ``j`` belong to one cluster of complex eigenvalues.

    Clusters are the connected components of the graph ``|w_i - w_j| <= tol`` (transitive
    closure by repeated squaring, ``ceil(log2 n)`` boolean products).

    Parameters
    ----------
    w : array
        Complex eigenvalues, ``(..., n)``, in any order.
    tol : array
        Absolute tolerance broadcastable to ``(..., 1, 1)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> w = xp.asarray([1.0 + 0j, 3.0 + 0j, 1.0 + 1e-17j, 1.0 + 2e-17j])
    >>> same = complex_clusters(w, xp.asarray([[1e-16]]))
    >>> xp.sum(xp.astype(same, xp.int64), axis=-1)
    Array([3, 1, 3, 3], dtype=array_api_strict.int64)
    """
    xp = array_namespace(w)
    return connected(xp.abs(xp.expand_dims(w, axis=-1) - xp.expand_dims(w, axis=-2)) <= tol)


def condition_numbers(V: Array, Vinv: Array) -> Array:
    """Eigenvalue condition numbers ``κ_i = ‖u_i‖ ‖v_i‖ / |u_i^H v_i|`` with ``U^H = V^{-1}``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> V = xp.asarray([[1.0, 0.6], [0.0, 0.8]])
    >>> condition_numbers(V, xp.linalg.inv(V))
    Array([1.25, 1.25], dtype=array_api_strict.float64)
    """
    xp = array_namespace(V)
    v_norm = xp.linalg.vector_norm(V, axis=-2)
    u_norm = xp.linalg.vector_norm(Vinv, axis=-1)
    return u_norm * v_norm / xp.abs(xp.sum(Vinv.mT * V, axis=-2))


def connected(adjacency: Array) -> Array:
    """Transitive closure of a symmetric boolean ``(..., n, n)`` relation (connected components).

    Repeated squaring: ``ceil(log2 n)`` boolean matrix products.
    """
    xp = array_namespace(adjacency)
    n = adjacency.shape[-1]
    reach = xp.astype(adjacency | xp.eye(n, dtype=xp.bool), xp.float32)
    steps = 0
    while (1 << steps) < n:
        reach = xp.astype((reach @ reach) > 0, xp.float32)
        steps += 1
    return reach > 0


def defect_pairs(w: Array, kappa: Array, same: Array, scale: Array) -> Array:
    """Estimated relative distance of each pair ``(i, j)`` from merging into a defective eigenvalue.

    ``|w_i - w_j| / (2 min(κ_i, κ_j) scale)`` for ``i, j`` in different clusters, ``inf``
    otherwise. Two eigenvalues merge into a Jordan block only if their eigenvectors become
    parallel, which makes *both* condition numbers large; first-order theory moves each at speed
    at most ``κ`` per unit perturbation. ``scale`` (``(..., 1)``) is a norm of ``A``.
    """
    xp = array_namespace(w)
    dist = xp.abs(xp.expand_dims(w, axis=-1) - xp.expand_dims(w, axis=-2))
    speed = 2 * xp.minimum(xp.expand_dims(kappa, axis=-1), xp.expand_dims(kappa, axis=-2))
    safe = xp.expand_dims(xp.where(scale > 0, scale, xp.ones_like(scale)), axis=-1)
    return xp.where(same, xp.full_like(dist, xp.inf), dist / (speed * safe))


@dataclass(frozen=True)
class EigGauge:
    """Measured gauge dependence of an eig cotangent, and the resulting masks.

    Attributes
    ----------
    keep : array
        Boolean ``(..., n, n)``: pairs whose ``1/gap`` term is evaluated.
    basis : array or None
        ``(..., n, n)``: relative within-cluster cotangent ``|T_ij| / g_j`` for ``i != j``
        (``None``: not measured, no cluster); ``g_j`` the scale passed as ``gV_norms``.
    phase : array
        ``(..., n)``: relative phase dependence ``|Im S_jj| / g_j``.
    """

    keep: Array
    basis: Array
    phase: Array


def measure_eig_gauge(T: Array, gV_norms: Array, same: Array, rtol: float) -> EigGauge:
    """Decide which ``1/gap`` terms to evaluate, and measure the gauge dependence.

    A pair is kept when it lies in different clusters and its relative cotangent
    ``|T_ij| / ‖gV_j‖`` exceeds ``rtol`` (below that it is rounding noise of an invariant loss,
    which must not be amplified by a tiny gap); as for eigh the decision looks at the cotangent,
    not only at the gap. ``gV_norms`` are the column norms of ``gV``, possibly multiplied by a
    conditioning factor (the torch entry point uses ``max(1, κ_j)``).
    """
    xp = array_namespace(T)
    n = T.shape[-1]
    scale = xp.expand_dims(gV_norms, axis=-2)
    ratio = xp.abs(T) / xp.where(scale > 0, scale, xp.ones_like(scale))
    off = ~xp.eye(n, dtype=xp.bool)
    keep = (ratio > rtol) & ~same & off
    basis = xp.where(same & off, ratio, xp.zeros_like(ratio))
    safe = xp.where(gV_norms > 0, gV_norms, xp.ones_like(gV_norms))
    phase = xp.abs(xp.imag(_diag(T))) / safe
    return EigGauge(keep=keep, basis=basis, phase=phase)


def cluster_mean_spread(g: Array, same: Array) -> tuple[Array, Array]:
    """Cluster means of a (complex) cotangent and its relative spread ``max|g - mean| / max|g|``.

    Returns ``(mean, spread)`` with shapes ``(..., n)``.
    """
    xp = array_namespace(g)
    member = xp.astype(same, g.dtype)
    mean = (member @ xp.expand_dims(g, axis=-1))[..., 0] / xp.sum(member, axis=-1)
    scale = xp.max(xp.abs(g), axis=-1, keepdims=True) if g.shape[-1] else xp.abs(g)
    dev = xp.abs(g - mean)
    return mean, dev / xp.where(scale > 0, scale, xp.ones_like(scale))
