"""Divided differences of scalar functions on a spectrum (MATH.md sections 4 and 5), neutral layer.

Derivation. For Hermitian ``A = V diag(w) V^H`` and a scalar ``f``, the Daleckii-Krein theorem
gives the Fréchet derivative ``L_f(A, E) = V (D ∘ (V^H E V)) V^H`` with the first divided
differences ``D_ij = f[w_i, w_j] = (f(w_i) - f(w_j)) / (w_i - w_j)`` (``f'(w_i)`` when equal).
``D`` is real symmetric, so ``L_f(A, ·)`` is self-adjoint and the VJP of a cotangent ``G`` is
``L_f(A, (G + G^H) / 2)``. Differentiating once more in the eigenbasis (Bhatia 1997, V.3), with
``T_ijk = f[w_i, w_j, w_k]`` the second divided differences,

    ``(V^H d²f(A)[X, Y] V)_ab = Σ_c T_abc (X̂_ac Ŷ_cb + Ŷ_ac X̂_cb)``,  ``X̂ = V^H X V``.

Neither formula ever divides by a gap between equal eigenvalues: the divided differences are
evaluated stably instead.

Stability. The textbook quotient loses ``eps (|f_i| + |f_j|) / |w_i - w_j|`` to cancellation.
Closed forms avoid the cancellation for the named functions (``expm1``, ``atanh``,
``1 / (√a + √b)``). For an arbitrary ``f`` the quotient is replaced, pair by pair, by Simpson's
rule on ``f[a, b] = mean of f' over [a, b]``, ``(f'_a + 4 f'_mid + f'_b) / 6`` (exact up to
``f^(5) h⁴ / 2880``), where a conservative estimate of its truncation error, the midpoint-rule
error ``|f'_a + f'_b - 2 f'_mid| / 6``, is below the estimated cancellation error of the quotient.
The switch-over is scale-aware by construction: both estimates come from the function values at
the actual eigenvalues, so it needs no tolerance and works at every scaling of ``A``.

Everything here is written against the array-API namespace of its inputs and imports neither torch
nor jax.

References
----------
Daleckii and Krein 1965; Higham 2008, "Functions of Matrices", Thm 3.11; Bhatia 1997, "Matrix
Analysis", V.3 (second derivative); Mathias 1996 (block-triangular oracle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

Array = Any
Elementwise = Callable[[Array], Array]


def _pair(w: Array) -> tuple[Array, Array]:
    """``(w_i, w_j)`` broadcast to ``(..., n, n)``."""
    xp = array_namespace(w)
    return xp.expand_dims(w, axis=-1), xp.expand_dims(w, axis=-2)


def _safe(den: Array, use: Array) -> Array:
    """``den`` where ``use``, else 1: keeps ``x / 0`` out of every branch (and out of its graph)."""
    xp = array_namespace(den)
    return xp.where(use, den, xp.ones_like(den))


def quotient_divided_differences(w: Array, fw: Array, dfw: Array) -> Array:
    """Plain first divided differences: the quotient off the diagonal, ``f'`` where equal.

    Exact for functions whose values carry no cancellation (piecewise linear, indicators).
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    fi, fj = _pair(fw)
    di, dj = _pair(dfw)
    h = wi - wj
    equal = h == 0
    return xp.where(equal, (di + dj) / 2, (fi - fj) / _safe(h, ~equal))


def generic_divided_differences(
    w: Array, fw: Array, dfw: Array, df: Elementwise, eps: float
) -> Array:
    """First divided differences of an arbitrary ``f`` with a scale-aware switch-over.

    Parameters
    ----------
    w : array
        Real eigenvalues, shape ``(..., n)``.
    fw, dfw : array
        ``f(w)`` and ``f'(w)``.
    df : callable
        Elementwise ``f'``; evaluated at the pairwise midpoints.
    eps : float
        Machine epsilon of the working dtype.

    Returns
    -------
    array
        ``D`` of shape ``(..., n, n)``: the quotient where it is accurate, Simpson's rule
        ``(f'_i + 4 f'((w_i + w_j) / 2) + f'_j) / 6`` where that is more accurate (always for
        equal eigenvalues, where it is ``f'(w_i)``).

    Notes
    -----
    Error of the quotient: ``eps (|f_i| + |f_j|) / |h|``. Error of Simpson's rule:
    ``|f^(5)| h⁴ / 2880``, bounded (for gaps small against the scale on which ``f`` varies) by the
    midpoint-rule error ``|f'''| h² / 24 ≈ |f'_i + f'_j - 2 f'_mid| / 6``. The smaller estimate
    wins, so the result is accurate to at least ``eps^(2/3)`` relative for every smooth ``f`` and
    every gap ``h``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> w = xp.asarray([1.0, 1.0 + 1e-13, 2.0])
    >>> D = generic_divided_differences(w, xp.exp(w), xp.exp(w), xp.exp, 2.0**-52)
    >>> float(abs(D[0, 1] - xp.exp(xp.asarray(1.0 + 5e-14))) / D[0, 1]) < 1e-14
    True
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    fi, fj = _pair(fw)
    di, dj = _pair(dfw)
    h = wi - wj
    equal = h == 0
    quotient = (fi - fj) / _safe(h, ~equal)
    midpoint = df(wi / 2 + wj / 2)
    simpson = (di + 4 * midpoint + dj) / 6
    cancellation = eps * (xp.abs(fi) + xp.abs(fj)) / _safe(xp.abs(h), ~equal)
    truncation = xp.abs(di + dj - 2 * midpoint) / 6 + eps * xp.abs(midpoint)
    use_simpson = equal | (truncation < cancellation)
    return xp.where(use_simpson, simpson, quotient)


def exp_divided_differences(w: Array) -> Array:
    """``exp[a, b] = e^max(a,b) (1 - e^-|a-b|) / |a-b| = -e^M expm1(-|h|) / |h|``.

    No cancellation and no overflow beyond ``e^max(a, b)`` itself.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> D = exp_divided_differences(xp.asarray([0.0, 1e-20]))
    >>> [float(D[0, 0]), float(D[0, 1])]
    [1.0, 1.0]
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    top = xp.maximum(wi, wj)
    h = xp.abs(wi - wj)
    equal = h == 0
    ratio = xp.where(equal, xp.ones_like(h), -xp.expm1(-h) / _safe(h, ~equal))
    return xp.exp(top) * ratio


def log_divided_differences(w: Array) -> Array:
    """``log[a, b] = 2 atanh(r) / (r (a + b))`` with ``r = (a - b) / (a + b)``, for ``a, b > 0``.

    ``log a - log b = 2 atanh(r)``; ``atanh(r) / r -> 1`` is evaluated without cancellation.
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    s = wi + wj
    r = (wi - wj) / s
    zero = r == 0
    ratio = xp.where(zero, xp.ones_like(r), xp.atanh(r) / _safe(r, ~zero))
    return 2 * ratio / s


def sqrt_divided_differences(w: Array) -> Array:
    """``sqrt[a, b] = 1 / (√a + √b)`` for ``a, b >= 0`` (``inf`` at ``a = b = 0``)."""
    xp = array_namespace(w)
    si, sj = _pair(xp.sqrt(w))
    return 1 / (si + sj)


def invsqrt_divided_differences(w: Array) -> Array:
    """``(a^-½ - b^-½) / (a - b) = -1 / (√a √b (√a + √b))`` for ``a, b > 0``."""
    xp = array_namespace(w)
    si, sj = _pair(xp.sqrt(w))
    return -1 / (si * sj * (si + sj))


def power_divided_differences(w: Array, p: float) -> Array:
    """``(a^p - b^p) / (a - b)`` for real ``p`` (``a, b >= 0``; any signs for integer ``p``).

    For ``|a|, |b| > 0`` of one sign: ``|b|^(p-1) expm1(p r) / expm1(r)`` with
    ``r = log(|a| / |b|) = 2 atanh((|a| - |b|) / (|a| + |b|))`` (no cancellation), times
    ``(-1)^(p-1)`` for two negative values (integer ``p``); the quotient otherwise (opposite
    signs or a zero: no cancellation); ``p a^(p-1)`` where equal. ``p = ±1/2`` use
    :func:`sqrt_divided_differences` and :func:`invsqrt_divided_differences`.
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    ai, aj = xp.abs(wi), xp.abs(wj)
    same_sign = ((wi > 0) & (wj > 0)) | ((wi < 0) & (wj < 0))
    rel = xp.where(same_sign, (ai - aj) / _safe(ai + aj, same_sign), xp.zeros_like(ai))
    r = 2 * xp.atanh(rel)
    zero_r = r == 0
    base = xp.where(same_sign, aj, xp.ones_like(aj))
    ratio = xp.where(zero_r, p * xp.ones_like(r), xp.expm1(p * r) / _safe(xp.expm1(r), ~zero_r))
    closed = base ** (p - 1) * ratio
    if float(p).is_integer() and int(p) % 2 == 0:
        closed = xp.where(wi < 0, -closed, closed)  # (-1)^(p-1) for two negative values
    equal = wi == wj
    derivative = p * wi ** (p - 1) if p != 1 else xp.ones_like(wi)
    quotient = (wi**p - wj**p) / _safe(wi - wj, ~equal)
    return xp.where(same_sign, closed, xp.where(equal, derivative, quotient))


def clamp_divided_differences(w: Array, low: float, high: float) -> Array:
    """Divided differences of ``clamp(x, low, high)``: exact quotients, ``f'`` where equal.

    ``f' = 1`` on ``[low, high]`` (kinks included, as :func:`torch.clamp`), ``0`` outside.
    """
    xp = array_namespace(w)
    fw = xp.clip(w, min=low, max=high)
    inside = xp.astype((w >= low) & (w <= high), w.dtype)
    return quotient_divided_differences(w, fw, inside)


def indicator_divided_differences(w: Array, s: Array) -> Array:
    """Divided differences of an indicator ``s`` (MATH.md section 5).

    ``D_ij = (s_i - s_j) / (w_i - w_j)`` when exactly one of ``i, j`` is selected, else ``0``:
    only gaps between selected and unselected eigenvalues appear.
    """
    xp = array_namespace(w)
    wi, wj = _pair(w)
    si, sj = _pair(s)
    cross = si != sj
    return xp.where(cross, (si - sj) / _safe(wi - wj, cross), xp.zeros_like(wi))


def second_divided_differences(
    w: Array, D: Array, d2f: Elementwise, d2fw: Array, accuracy: float
) -> Array:
    """Second divided differences ``T_ijk = f[w_i, w_j, w_k]`` from the first ones.

    Parameters
    ----------
    w : array
        Real eigenvalues ``(..., n)``.
    D : array
        First divided differences ``(..., n, n)`` (accurate ones: closed form or generic).
    d2f : callable
        Elementwise ``f''``, evaluated at the centroids of near-equal triples.
    d2fw : array
        ``f''(w)``.
    accuracy : float
        Relative accuracy of ``D`` (machine epsilon for closed forms).

    Returns
    -------
    array
        ``T`` of shape ``(..., n, n, n)``, symmetric in its last three axes up to rounding.

    Notes
    -----
    For each triple the pair ``(p, q)`` with the largest gap is the denominator:
    ``f[p, r, q] = (f[p, r] - f[r, q]) / (w_p - w_q)``, with error about
    ``accuracy (|D_pr| + |D_rq|) / gap``.
    The centroid rule ``f''((w_i + w_j + w_k) / 3) / 2`` (``f[x, y, z]`` is half the mean of
    ``f''`` over the simplex) is used instead where its estimated error,
    ``|mean(f''_i, f''_j, f''_k) - f''_c| / 2``, is smaller; always when the three are equal.
    Memory is ``O(n³)``.
    """
    xp = array_namespace(w)
    wi = w[..., :, None, None]
    wj = w[..., None, :, None]
    wk = w[..., None, None, :]
    D_ij = D[..., :, :, None]
    D_jk = D[..., None, :, :]
    D_ik = D[..., :, None, :]
    # candidate denominators: (i, k) with middle j, (i, j) with middle k, (j, k) with middle i
    g_ik = wi - wk
    g_ij = wi - wj
    g_jk = wj - wk
    a_ik, a_ij, a_jk = xp.abs(g_ik), xp.abs(g_ij), xp.abs(g_jk)
    use_ik = (a_ik >= a_ij) & (a_ik >= a_jk)
    use_ij = ~use_ik & (a_ij >= a_jk)
    gap = xp.where(use_ik, g_ik, xp.where(use_ij, g_ij, g_jk))
    num = xp.where(use_ik, D_ij - D_jk, xp.where(use_ij, D_ik - D_jk, D_ij - D_ik))
    size = xp.where(
        use_ik,
        xp.abs(D_ij) + xp.abs(D_jk),
        xp.where(use_ij, xp.abs(D_ik) + xp.abs(D_jk), xp.abs(D_ij) + xp.abs(D_ik)),
    )
    # (ij - jk)/(i - k); (ik - kj)/(i - j); (ji - ik)/(j - k)
    equal = gap == 0
    quotient = num / _safe(gap, ~equal)
    centroid = d2f(wi / 3 + wj / 3 + wk / 3) / 2
    vertex_mean = (
        d2fw[..., :, None, None] + d2fw[..., None, :, None] + d2fw[..., None, None, :]
    ) / 6
    truncation = xp.abs(vertex_mean - centroid) + accuracy * xp.abs(centroid)
    cancellation = 4 * accuracy * size / _safe(xp.abs(gap), ~equal)
    use_centroid = equal | (truncation < cancellation)
    return xp.where(use_centroid, centroid, quotient)


def second_frechet_eigenbasis(T: Array, X: Array, Y: Array) -> Array:
    """``out_ab = Σ_c T_abc (X_ac Y_cb + Y_ac X_cb)``: ``d²f(A)[X, Y]`` in the eigenbasis.

    ``X, Y`` are ``V^H X V`` and ``V^H Y V`` (Hermitian); the result is Hermitian.
    """
    xp = array_namespace(X)
    Tc = xp.astype(T, X.dtype)
    Xa = X[..., :, None, :]  # X_ac
    Ya = Y[..., :, None, :]  # Y_ac
    Xb = xp.matrix_transpose(X)[..., None, :, :]  # X_cb laid out as [b, c]
    Yb = xp.matrix_transpose(Y)[..., None, :, :]
    return xp.sum(Tc * (Xa * Yb + Ya * Xb), axis=-1)
