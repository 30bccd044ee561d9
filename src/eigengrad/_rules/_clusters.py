"""Clusters of numerically equal eigenvalues (MATH.md section 3), framework-neutral.

A *cluster* is a maximal run of ascending eigenvalues whose neighbouring gaps are at most
``tol = atol + rtol * max|w|``. ``max|w|`` is the spectral norm of the Hermitian matrix, so the
default tolerance is invariant under scaling ``A -> s A``. Inside a cluster only the eigenspace is
defined; the derivative rules in :mod:`._eigh` act on the labels computed here.

Everything here is written against the array-API namespace of its inputs and imports neither torch
nor jax.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace

Array = Any

# Rounding spreads of an exactly repeated eigenvalue (multiplicity 2-5, random orthogonal
# similarity transforms, n = 16 ... 1024, float32 and float64, LAPACK syevd) stay below
# 1.7 sqrt(n) eps ||A||; the factor 16 leaves a ~10x margin. Missing a rounding split is the
# worse error (the policy would not apply), a too-wide tolerance only merges pairs whose
# eigenvectors the dtype barely resolves.
_RTOL_FACTOR = 16.0


def default_rtol(n: int, eps: float) -> float:
    """Return the default relative cluster tolerance ``16 * sqrt(n) * eps``.

    Parameters
    ----------
    n : int
        Matrix order.
    eps : float
        Machine epsilon of the working dtype.

    Returns
    -------
    float
        The tolerance, relative to ``max|w|``.

    Examples
    --------
    >>> default_rtol(4, 2.0**-52) == 32 * 2.0**-52
    True
    """
    return _RTOL_FACTOR * math.sqrt(max(n, 1)) * eps


def cluster_tolerance(w: Array, rtol: float, atol: float) -> Array:
    """Return the absolute gap tolerance ``atol + rtol * max|w|``, shape ``(..., 1)``."""
    xp = array_namespace(w)
    if w.shape[-1] == 0:
        return xp.zeros((*w.shape[:-1], 1), dtype=w.dtype)
    return atol + rtol * xp.max(xp.abs(w), axis=-1, keepdims=True)


def cluster_labels(w: Array, tol: Array) -> Array:
    """Label the clusters of ascending eigenvalues ``w`` (shape ``(..., n)``).

    Parameters
    ----------
    w : array
        Ascending real eigenvalues, shape ``(..., n)``.
    tol : array
        Absolute gap tolerance, broadcastable to ``(..., 1)``.

    Returns
    -------
    array
        Integer labels ``0, 1, ...`` of shape ``(..., n)``; equal labels mark one cluster. A gap
        ``w[i+1] - w[i] <= tol`` joins ``i`` and ``i+1``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> w = xp.asarray([1.0, 1.0, 2.0, 3.0, 3.0 + 1e-17])
    >>> cluster_labels(w, xp.asarray([1e-15]))
    Array([0, 0, 1, 2, 2], dtype=array_api_strict.int64)
    """
    xp = array_namespace(w)
    if w.shape[-1] == 0:
        return xp.zeros(w.shape, dtype=xp.int64)
    starts = (w[..., 1:] - w[..., :-1]) > tol
    return xp.cumulative_sum(xp.astype(starts, xp.int64), axis=-1, include_initial=True)


def same_cluster(labels: Array) -> Array:
    """Return the boolean matrix ``labels[i] == labels[j]``, shape ``(..., n, n)``."""
    return labels[..., :, None] == labels[..., None, :]


def cluster_mean_matrix(same: Array, dtype: Any) -> Array:
    """Return ``M`` with ``M @ g`` the mean of ``g`` over each cluster.

    ``M_ij = [i ~ j] / m_i`` with ``m_i`` the multiplicity of the cluster of ``i``. It is the
    orthogonal projector onto vectors that are constant on clusters, so ``M @ gw`` is the
    minimum-norm element of the set of cotangents that agree with ``gw`` on cluster sums.
    """
    xp = array_namespace(same)
    member = xp.astype(same, dtype)
    return member / xp.sum(member, axis=-1, keepdims=True)


def is_multiple(same: Array) -> Array:
    """Return a boolean ``(..., n)`` mask of eigenvalues that belong to a cluster of size > 1."""
    xp = array_namespace(same)
    return xp.sum(xp.astype(same, xp.int64), axis=-1) > 1
