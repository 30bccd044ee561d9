"""Optional eigenvector gauge fixing (MATH.md section 8), framework-neutral.

Each column is multiplied by the unit scalar that makes its largest-magnitude entry real and
positive (first index on ties). Away from ties of magnitudes the map is smooth and invariant under
``v -> v e^{iφ}``, so its derivative is well defined and a loss of the fixed vectors never depends
on the phase that the eigensolver happened to return. It does not fix a basis inside a cluster.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ._array import conj

Array = Any


def fix_gauge(V: Array) -> Array:
    """Return ``V`` with the largest-magnitude entry of each column real and positive.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> fix_gauge(xp.asarray([[0.6, -0.8], [-0.8, -0.6]]))
    Array([[-0.6,  0.8],
           [ 0.8,  0.6]], dtype=array_api_strict.float64)
    """
    xp = array_namespace(V)
    if V.shape[-2] == 0:
        return V
    pivot_index = xp.argmax(xp.abs(V), axis=-2, keepdims=True)
    pivot = xp.take_along_axis(V, pivot_index, axis=-2)
    if xp.isdtype(V.dtype, "complex floating"):
        return V * (conj(pivot) / xp.astype(xp.abs(pivot), V.dtype))
    return V * xp.sign(pivot)
