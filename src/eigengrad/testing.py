"""Builders of matrices with prescribed spectra and independent derivative references.

Shared by the test suite, the demo and the benchmarks. The references never call an
eigensolver on the matrix under test: they use the exact eigenvalues and eigenvectors that the
matrix was built from, so they are independent of every code path they check.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    """An ascending spectrum in ``[-scale, scale]`` with a cluster of ``multiplicity`` eigenvalues.

    The cluster starts at position ``at``; its members are spaced by ``gap * scale``; the other
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
    """First divided differences of ``f`` on ``w``: ``(f_i - f_j)/(w_i - w_j)``, ``df_i`` if equal."""
    num = f.unsqueeze(-1) - f.unsqueeze(-2)
    den = w.unsqueeze(-1) - w.unsqueeze(-2)
    equal = den == 0
    diag = (df.unsqueeze(-1) + df.unsqueeze(-2)) / 2
    return torch.where(equal, diag, num / torch.where(equal, torch.ones_like(den), den))


def symmetric_direction(
    n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, batch: Sequence[int] = ()
) -> torch.Tensor:
    """A random Hermitian direction ``E + E^H`` (normalised to unit Frobenius norm)."""
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


def grid_edges(nx: int, ny: int) -> torch.Tensor:
    """Edge index of the ``nx × ny`` grid graph (4-neighbour), both directions."""
    idx = torch.arange(nx * ny).reshape(nx, ny)
    a = torch.cat([idx[:-1, :].reshape(-1), idx[:, :-1].reshape(-1)])
    b = torch.cat([idx[1:, :].reshape(-1), idx[:, 1:].reshape(-1)])
    return torch.stack([torch.cat([a, b]), torch.cat([b, a])])
