"""Builders of matrices with prescribed spectra and independent derivative references.

Shared by the test suite, the demo and the benchmarks. The references never call an
eigensolver on the matrix under test: they use the exact eigenvalues and eigenvectors that the
matrix was built from, so they are independent of every code path they check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


def random_unitary(
    n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, batch: Sequence[int] = ()
) -> torch.Tensor:
    """Haar-distributed orthogonal (real dtype) or unitary (complex dtype) matrices."""
    gen = torch.Generator().manual_seed(seed)
    real = torch.empty((), dtype=dtype).real.dtype
    Z = torch.randn(*batch, n, n, generator=gen, dtype=real)
    if dtype.is_complex:
        Z = torch.complex(Z, torch.randn(*batch, n, n, generator=gen, dtype=real))
    Q, R = torch.linalg.qr(Z)
    d = R.diagonal(dim1=-2, dim2=-1)
    phase = d / d.abs().clamp_min(torch.finfo(real).tiny)
    return Q * phase.unsqueeze(-2)


def hermitian_from_spectrum(w: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Return ``Q diag(w) Q^H`` made exactly Hermitian."""
    A = (Q * w.to(Q.dtype).unsqueeze(-2)) @ Q.mH
    return (A + A.mH) / 2


def matrix_with_spectrum(
    w: Sequence[float] | torch.Tensor,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    batch: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(A, w, Q)`` with ``A = Q diag(w) Q^H`` for a random unitary ``Q``.

    Examples
    --------
    >>> A, w, Q = matrix_with_spectrum([1.0, 1.0, 2.0], seed=3)
    >>> bool(torch.allclose(torch.linalg.eigvalsh(A), w))
    True
    """
    real = torch.empty((), dtype=dtype).real.dtype
    w_t = torch.as_tensor(w, dtype=real)
    Q = random_unitary(w_t.shape[-1], seed=seed, dtype=dtype, batch=batch)
    return hermitian_from_spectrum(w_t, Q), w_t, Q


def spectrum_with_gap(
    n: int, gap: float, *, multiplicity: int = 2, at: int = 0, scale: float = 1.0
) -> torch.Tensor:
    """Return an ascending spectrum in ``[-scale, scale]`` with one cluster.

    The cluster of ``multiplicity`` eigenvalues starts at position ``at``; its members are
    spaced by ``gap * scale``; the other
    eigenvalues are separated by at least ``scale / n``.
    """
    base = torch.linspace(-1.0, 1.0, n - multiplicity + 1, dtype=torch.float64)
    centre = base[at]
    cluster = centre + gap * torch.arange(multiplicity, dtype=torch.float64)
    w = torch.cat([base[:at], cluster, base[at + 1 :]])
    return scale * w


def divided_difference_gradient(
    w: torch.Tensor, Q: torch.Tensor, G: torch.Tensor, D: torch.Tensor
) -> torch.Tensor:
    """Daleckii-Krein VJP ``Q (D ∘ (Q^H G_h Q)) Q^H`` with ``G_h`` the Hermitian part of ``G``."""
    Gh = (G + G.mH) / 2
    return Q @ (D.to(Q.dtype) * (Q.mH @ Gh @ Q)) @ Q.mH


def projector_divided_differences(w: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """``D_ij = (s_i - s_j) / (w_i - w_j)`` for the indicator ``s`` of a selection, 0 if equal."""
    s = selected.to(w.dtype)
    num = s.unsqueeze(-1) - s.unsqueeze(-2)
    den = w.unsqueeze(-1) - w.unsqueeze(-2)
    cross = num != 0
    return torch.where(cross, num / torch.where(cross, den, torch.ones_like(den)), 0.0)


def projector_loss_gradient(
    w: torch.Tensor, Q: torch.Tensor, selected: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    """Exact gradient of ``Re tr(P B)``, ``P`` the projector onto the selected eigenvectors.

    Only gaps between selected and unselected eigenvalues enter (MATH.md section 5).
    """
    return divided_difference_gradient(w, Q, B.mH, projector_divided_differences(w, selected))


def function_divided_differences(
    w: torch.Tensor, f: torch.Tensor, df: torch.Tensor
) -> torch.Tensor:
    """Return first divided differences ``(f_i - f_j)/(w_i - w_j)`` (``df_i`` if equal).

    The plain quotient loses about ``eps / gap`` to cancellation: use it as a reference only at
    gaps well above rounding level (the tests use it at gaps >= 1e-9), or pass closed forms.
    """
    num = f.unsqueeze(-1) - f.unsqueeze(-2)
    den = w.unsqueeze(-1) - w.unsqueeze(-2)
    equal = den == 0
    diag = (df.unsqueeze(-1) + df.unsqueeze(-2)) / 2
    return torch.where(equal, diag, num / torch.where(equal, torch.ones_like(den), den))


def symmetric_direction(
    n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, batch: Sequence[int] = ()
) -> torch.Tensor:
    """Return a random Hermitian direction ``E + E^H`` of unit Frobenius norm."""
    gen = torch.Generator().manual_seed(seed)
    real = torch.empty((), dtype=dtype).real.dtype
    E = torch.randn(*batch, n, n, generator=gen, dtype=real)
    if dtype.is_complex:
        E = torch.complex(E, torch.randn(*batch, n, n, generator=gen, dtype=real))
    E = E + E.mH
    return E / torch.linalg.matrix_norm(E).clamp_min(1e-300).unsqueeze(-1).unsqueeze(-1)


def relative_error(x: torch.Tensor, reference: torch.Tensor) -> float:
    """``max|x - ref| / max|ref|`` (``inf`` if ``x`` has non-finite entries)."""
    if not bool(torch.isfinite(x).all()):
        return float("inf")
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    err = float((x - reference).abs().max()) if reference.numel() else 0.0
    return err / scale if scale > 0 else err


def block_triangular_frechet(A: torch.Tensor, E: torch.Tensor, matrix_fn: object) -> torch.Tensor:
    """Fréchet derivative ``L_f(A, E)`` from ``f([[A, E], [0, A]]) = [[f(A), L], [0, f(A)]]``.

    ``matrix_fn`` evaluates ``f`` on a general (non-normal) square NumPy array, e.g.
    ``scipy.linalg.expm``, ``logm``, ``sqrtm`` or ``sinm``; it never sees an eigendecomposition
    of ``A``, so it is an independent oracle (Mathias 1996). Single matrices only.

    Examples
    --------
    >>> import numpy as np
    >>> A = torch.eye(2, dtype=torch.float64)
    >>> block_triangular_frechet(A, 2 * A, lambda M: M @ M)  # d(A²)[E] = AE + EA
    tensor([[4., 0.],
            [0., 4.]], dtype=torch.float64)
    """
    import numpy as np

    n = A.shape[-1]
    a, e = A.detach().cpu().numpy(), E.detach().cpu().numpy()
    M = np.zeros((2 * n, 2 * n), dtype=np.result_type(a, e))
    M[:n, :n] = a
    M[n:, n:] = a
    M[:n, n:] = e
    R = matrix_fn(M)  # type: ignore[operator]
    R = R[0] if isinstance(R, tuple) else R
    return torch.as_tensor(np.asarray(R)[:n, n:], dtype=A.dtype)


def selection_gradient_reference(
    w: torch.Tensor, Q: torch.Tensor, selected: torch.Tensor, G: torch.Tensor
) -> torch.Tensor:
    """Gradient of ``Re tr(G^H P)`` for the projector ``P`` onto the selected eigenvectors."""
    return divided_difference_gradient(w, Q, G, projector_divided_differences(w, selected))


def nonnormal_with_spectrum(
    w: Sequence[complex] | torch.Tensor,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.complex128,
    spread: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(A, S)`` with ``A = S diag(w) S^{-1}`` for a random, well-conditioned ``S``.

    ``S = I + spread * G`` (``G`` Gaussian, ``/ sqrt(n)``), so ``A`` is nonnormal with eigenvalue
    condition numbers of order ``1 + spread``. Repeated entries of ``w`` give semisimple repeated
    eigenvalues. With a real ``dtype`` ``w`` must be closed under conjugation; the conjugate pair
    ``a ± bi`` is placed as the real 2x2 block ``[[a, b], [-b, a]]`` (so ``A`` is real) and the
    eigenvectors of the pair are ``S[:, k] ∓ i S[:, k+1]``.

    Examples
    --------
    >>> A, S = nonnormal_with_spectrum([1.0, 1.0, 3.0], dtype=torch.float64, seed=1)
    >>> torch.linalg.eigvals(A).real.sort().values.round(decimals=8).tolist()
    [1.0, 1.0, 3.0]
    """
    gen = torch.Generator().manual_seed(seed)
    wc = torch.as_tensor(w, dtype=torch.complex128)
    n = wc.shape[-1]
    G = torch.randn(n, n, generator=gen, dtype=torch.float64)
    if dtype.is_complex:
        G = torch.complex(G, torch.randn(n, n, generator=gen, dtype=torch.float64))
    S = torch.eye(n, dtype=G.dtype) + spread * G / max(n, 1) ** 0.5
    if dtype.is_complex:
        D = torch.diag(wc)
    else:
        D = torch.zeros(n, n, dtype=torch.float64)
        k = 0
        while k < n:
            z = complex(wc[k])
            if z.imag == 0:
                D[k, k] = z.real
                k += 1
            else:
                D[k : k + 2, k : k + 2] = torch.tensor(
                    [[z.real, abs(z.imag)], [-abs(z.imag), z.real]], dtype=torch.float64
                )
                k += 2
    A = S @ D.to(S.dtype) @ torch.linalg.inv(S)
    return A.to(dtype), S.to(dtype)


def directional_fd(
    f: Callable[[torch.Tensor], torch.Tensor], A: torch.Tensor, E: torch.Tensor, h: float = 1e-6
) -> float:
    """Fourth-order central difference of the real scalar ``f`` at ``A`` along ``E``.

    Compare with ``Re tr(gA^H E)`` for the gradient ``gA`` (PyTorch's convention).
    """
    with torch.no_grad():
        return float(
            (-f(A + 2 * h * E) + 8 * f(A + h * E) - 8 * f(A - h * E) + f(A - 2 * h * E)) / (12 * h)
        )


def hypercube_edges(d: int) -> torch.Tensor:
    """Edge index ``(2, d 2^d)`` of the ``d``-dimensional hypercube graph, both directions.

    Its Laplacian has eigenvalues ``2 j`` with multiplicity ``binomial(d, j)``: exact clusters.

    Examples
    --------
    >>> hypercube_edges(2).shape
    torch.Size([2, 8])
    """
    nodes = torch.arange(2**d)
    src = nodes.repeat(d)
    dst = torch.cat([nodes ^ (1 << b) for b in range(d)]) if d else nodes[:0]
    return torch.stack([src, dst])


def cycle_edges(n: int) -> torch.Tensor:
    """Edge index ``(2, 2n)`` of the cycle graph ``C_n``, both directions.

    Its Laplacian has eigenvalues ``2 - 2 cos(2 pi j / n)``: ``0`` once, then pairs.
    """
    i = torch.arange(n)
    j = (i + 1) % n
    return torch.stack([torch.cat([i, j]), torch.cat([j, i])])


def grid_edges(*shape: int) -> torch.Tensor:
    """Edge index of the grid graph of ``shape`` (``nx × ny``: 4-neighbour), both directions.

    Any number of dimensions (``grid_edges(nx, ny, nz)``: the 7-point 3-D grid); nodes are
    numbered in row-major order.
    """
    idx = torch.arange(math.prod(shape)).reshape(shape)
    a = torch.cat([idx.narrow(d, 0, m - 1).reshape(-1) for d, m in enumerate(shape)])
    b = torch.cat([idx.narrow(d, 1, m - 1).reshape(-1) for d, m in enumerate(shape)])
    return torch.stack([torch.cat([a, b]), torch.cat([b, a])])


def random_graph_edges(n: int, degree: int, *, seed: int = 0, ring: bool = False) -> torch.Tensor:
    """Edge index of a random multigraph with about ``n · degree / 2`` edges, both directions.

    Endpoints are uniform (seeded); self-loops are dropped. ``ring=True`` adds the cycle
    ``i -> i + 1 mod n`` so that the graph is connected. Returns ``(2, 2E)``, ``E`` undirected
    edges, the first ``E`` columns one direction and the last ``E`` the other.
    """
    gen = torch.Generator().manual_seed(seed)
    e = n * degree // 2
    a = torch.randint(0, n, (e,), generator=gen)
    b = torch.randint(0, n, (e,), generator=gen)
    if ring:
        i = torch.arange(n)
        a, b = torch.cat([a, i]), torch.cat([b, (i + 1) % n])
    keep = a != b
    a, b = a[keep], b[keep]
    return torch.stack([torch.cat([a, b]), torch.cat([b, a])])
