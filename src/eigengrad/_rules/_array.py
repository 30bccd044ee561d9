"""Array helpers shared by the neutral rules (array API; no torch, no jax)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from array_api_compat import array_namespace

Array = Any


def conj(x: Array) -> Array:
    """Complex conjugate; a lazy ``x.conj()`` view where the array type offers one.

    (``array_api_compat`` maps ``conj`` to torch's ``conj_physical``, which has no batching rule
    under ``torch.func.vmap``.) Real arrays are returned unchanged.
    """
    xp = array_namespace(x)
    if not xp.isdtype(x.dtype, "complex floating"):
        return x
    method = getattr(x, "conj", None)
    return method() if callable(method) else xp.conj(x)


def ct(x: Array) -> Array:
    """Conjugate transpose of the last two axes."""
    return conj(x).mT


@lru_cache(maxsize=128)
def eye(xp: Any, n: int, dtype: Any, device: Any) -> Array:
    """Return a cached identity (read-only use): no re-creation in every derivative call."""
    return xp.eye(n, dtype=dtype, device=device)


def diag_embed(d: Array, dtype: Any = None) -> Array:
    """Diagonal matrices ``(..., n, n)`` from ``(..., n)`` (cast to ``dtype`` if given)."""
    xp = array_namespace(d)
    dtype = d.dtype if dtype is None else dtype
    return eye(xp, d.shape[-1], dtype, d.device) * xp.astype(d[..., None, :], dtype, copy=False)
