"""Implicit derivatives of k converged eigenpairs (MATH.md section 7), framework-neutral.

Derivation. Converged pairs satisfy ``A X = X W``, ``X^H X = I`` with ``X`` of width ``k``. Split
``V = [X, Q]`` with ``Q`` an orthonormal basis of the complement. The full eigh VJP with a cotangent
``[gX, 0]`` is ``gA = V (diag(gw) + F ∘ skew(V^H [gX, 0])) V^H``. Its ``X``-``X`` block is the eigh
rule on the ``k × k`` block,

- in-space: ``X M X^H`` with ``M = diag(gw) + F_k ∘ skew(X^H gX)`` (section 3 on clusters inside),

and its ``Q``-``X`` blocks collapse to one linear solve per column: with
``y_i = Q (Λ_Q - w_i)^{-1} Q^H gX_i``, the solution of ``(A - w_i I) y_i = (I - X X^H) gX_i`` on the
complement of ``X``,

- complement: ``-(Y X^H + X Y^H) / 2``.

Both are low rank. For Hermitian perturbations ``dA`` the loss is ``dL = Re tr(G^H dA X)`` with the
single ``n × k`` factor ``G = X M - Y`` (the two complement terms are each other's adjoint), so the
gradient reaches any parametrisation of ``A`` through the product ``Z = A X`` alone:
``gZ = G``. Hermitian ``gA = (G X^H + X G^H) / 2`` is formed only for dense input; for sparse input
it is evaluated on the stored entries (:func:`stored_entries_gradient`).

JVP. With ``dZ = dA X`` and ``K = X^H dZ``: ``dw = Re diag K`` (``eigvalsh(K_cc)`` on clusters),
``dX = X (F_k ∘ K) - Y'`` with ``(A - w_i I) y'_i = (I - X X^H) dZ_i`` on the complement.

The rule is valid only when every ``w_i`` is separated from the unselected spectrum: a selection
that splits a cluster has no derivative (:func:`splits_cluster`).

References
----------
Nelson 1976 (eigenvector derivatives); Kasim 2020 (arXiv:2011.04366);
Francuz et al. 2023 (arXiv:2311.11894); Krämer et al. 2024 (arXiv:2405.17277).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ._eigh import _ct, _diag_embed

Array = Any


def complement_project(X: Array, B: Array) -> Array:
    """Return ``(I - X X^H) B`` for orthonormal columns ``X`` without forming ``X X^H``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> X = xp.asarray([[1.0], [0.0]])
    >>> complement_project(X, xp.asarray([[3.0], [4.0]]))
    Array([[0.],
           [4.]], dtype=array_api_strict.float64)
    """
    return B - X @ (_ct(X) @ B)


def inspace_cotangent(
    gw: Array | None, F: Array | None, skew_S: Array | None, like: Array
) -> Array:
    """Return ``M = diag(gw) + F ∘ skew(S)``, the ``k × k`` in-space cotangent (Hermitian).

    ``gw`` must already be projected onto cluster means and ``F`` masked by the cluster policy;
    ``None`` entries are unused outputs. ``like`` is a ``(k, k)`` array giving dtype and shape.
    """
    xp = array_namespace(like)
    M = xp.zeros_like(like)
    if skew_S is not None and F is not None:
        M = M + F * skew_S  # eigenvector term F ∘ skew(S)
    if gw is not None:
        M = M + _diag_embed(gw, like.dtype)  # eigenvalue term diag(gw)
    return M


def vjp_factor(X: Array, M: Array, Y: Array | None) -> Array:
    """Return ``G = X M - Y`` with ``dL = Re tr(G^H dA X)`` for Hermitian ``dA``."""
    G = X @ M  # in-space term X M (X^H dA X)
    if Y is not None:
        G = G - Y  # complement term -(Y X^H + X Y^H)/2, folded onto dA X
    return G


def hermitian_gradient(X: Array, G: Array) -> Array:
    """Return the dense Hermitian gradient ``gA = (G X^H + X G^H) / 2`` (dense input only)."""
    B = G @ _ct(X)
    return (B + _ct(B)) / 2


def stored_entries_gradient(X: Array, G: Array, rows: Array, cols: Array) -> Array:
    """Return ``gA[r, c]`` of :func:`hermitian_gradient` at the entries ``(rows, cols)`` only.

    ``gA[r, c] = (G[r] · conj X[c] + X[r] · conj G[c]) / 2``: cost and memory
    ``O(len(rows) · k)``, never ``n × n``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> X = xp.asarray([[1.0], [0.0]]); G = xp.asarray([[0.0], [2.0]])
    >>> stored_entries_gradient(X, G, xp.asarray([1, 0]), xp.asarray([0, 0]))
    Array([1., 0.], dtype=array_api_strict.float64)
    """
    xp = array_namespace(X)
    Xr = xp.take(X, rows, axis=0)
    Xc = xp.take(X, cols, axis=0)
    Gr = xp.take(G, rows, axis=0)
    Gc = xp.take(G, cols, axis=0)
    return xp.sum(Gr * xp.conj(Xc) + Xr * xp.conj(Gc), axis=-1) / 2


def inspace_tangent(X: Array, K: Array, F: Array) -> Array:
    """Return the in-space part ``X (F ∘ K)`` of the eigenvector tangent."""
    return X @ (F * K)


def splits_cluster(w_last: float, w_guard: float, tol: float) -> bool:
    """Whether the boundary between the last selected and the first guard eigenvalue is a cluster.

    ``w_guard`` is the Ritz value of the first guard vector (an upper bound of ``λ_{k+1}`` for
    the smallest eigenvalues, by Courant-Fischer); a gap ``|w_guard - w_last| <= tol`` means
    that the selection cuts through a cluster and the selected eigenvectors are not defined.

    Examples
    --------
    >>> splits_cluster(1.0, 1.0 + 1e-14, 1e-10), splits_cluster(1.0, 2.0, 1e-10)
    (True, False)
    """
    return abs(w_guard - w_last) <= tol
