r"""Smoothed-aggregation algebraic multigrid preconditioner for LOBPCG (symmetric V-cycle).

For ``which="smallest"`` LOBPCG wants ``T ≈ (A - σ I)^{-1}`` Hermitian positive definite, with
``σ`` just below the wanted eigenvalues. For a sparse real symmetric ``A`` bounded below by ``σ``
(a graph Laplacian, ``σ = 0``) the caller passes a small ``shift > 0`` so that
``M = A + shift I`` is symmetric positive definite, and ``T`` is one symmetric V-cycle of
smoothed-aggregation multigrid for ``M`` (Vaněk, Mandel and Brezina 1996). A polynomial
preconditioner needs ``O(sqrt(κ))`` products to reach a given quality; a V-cycle is a fixed
``O(nnz)`` operator whose quality is nearly independent of ``n``, so LOBPCG's iteration count
stops growing with the grid (Knyazev and Neymeyr 2003).

Setup, per level ``l`` with matrix ``M_l`` and diagonal ``D_l``:

1. Strength of connection: ``i ~ j`` if ``|m_ij| >= min(θ_l sqrt(m_ii m_jj), μ_i, μ_j)``,
   ``θ_l = θ 2^{-l}``, ``μ_i = max_{k != i} |m_ik|`` (so every node keeps its strongest
   connection, and only isolated nodes are left out of the aggregates).
2. Aggregates: a distance-2 maximal independent set of the strength graph (seeded random
   priorities; each round takes two ``amax`` reductions over the edges, as in Bell, Dalton and
   Olson 2012) gives the roots; every node joins the aggregate of a root at distance one, then of a
   neighbour at distance one. Isolated nodes join no aggregate (the smoother inverts them).
3. Tentative prolongator ``T_l`` (one entry per aggregated row, ``B_i / ‖B_J‖`` on aggregate ``J``,
   so that it interpolates the near-nullspace vector ``B`` (constants on the finest level) and
   ``B^c_J = ‖B_J‖`` on the next), smoothed
   once by damped Jacobi: ``P_l = (I - ω D_l^{-1} M_l) T_l``, ``ω = 4 / (3 ρ̂)`` with ``ρ̂`` the
   Gershgorin bound of ``ρ(D_l^{-1} M_l)``.
4. Galerkin coarse matrix ``M_{l+1} = P_l^T M_l P_l`` (sparse products, symmetrised). If the
   plain-aggregation matrix ``T_l^T M_l T_l`` already has more than 32 entries per row (random
   expander graphs), smoothing would make the coarse matrices nearly dense, and the level keeps
   ``P_l = T_l`` (plain aggregation, still a Galerkin, positive definite coarse matrix).

Coarsening stops below ``max_coarse`` unknowns or when it stalls; the coarsest matrix is inverted
through its eigendecomposition (eigenvalues clamped, so the coarse solve is positive definite).

Smoother ``S_l = p(D_l^{-1} M_l) D_l^{-1}``: ``degree`` steps of Chebyshev iteration for
``D^{-1} M`` on ``[ρ̂ / α, ρ̂]`` (``degree = 1`` is damped Jacobi, ``ω = 2 / (ρ̂ + ρ̂ / α)``).
Rows without off-diagonal entries are decoupled and solved exactly (``S_l = D_l^{-1}`` there).
``S_l`` is symmetric, and because ``ρ̂ >= ρ(D^{-1} M)`` the error propagator ``I - S_l M_l`` has
its spectrum in ``(-1, 1)``. With the same smoother before and after the coarse correction,

.. math::

    I - T_l M_l = (I - S_l M_l)\,(I - P_l T_{l+1} P_l^T M_l)\,(I - S_l M_l),

which is ``M_l``-self-adjoint with spectrum in ``[0, 1)`` when ``T_{l+1}`` is symmetric positive
definite and at most ``M_{l+1}^{-1}``; by induction from the exact coarsest inverse, every
``T_l`` (and the preconditioner ``T = T_0``) is symmetric positive definite.

References
----------
P. Vaněk, J. Mandel, M. Brezina, "Algebraic multigrid by smoothed aggregation for second and fourth
order elliptic problems", Computing 56 (1996). N. Bell, S. Dalton, L. Olson, "Exposing fine-grained
parallelism in algebraic multigrid methods", SIAM J. Sci. Comput. 34 (2012). A. Knyazev,
K. Neymeyr, "Efficient solution of symmetric eigenvalue problems using multigrid
preconditioners in the locally optimal block conjugate gradient method", ETNA 15 (2003).
M. Adams, M. Brezina, J. Hu, R. Tuminaro, "Parallel multigrid smoothing: polynomial versus
Gauss-Seidel", J. Comput. Phys. 188 (2003) (Chebyshev smoothers).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._chebyshev import chebyshev_iteration
from ._operator import _mm
from ._validation import check_real_matrix
from .exceptions import InputError

Matmat = Callable[[torch.Tensor], torch.Tensor]

_FN = "multigrid_preconditioner"
# above this many stored entries per row of the plain-aggregation coarse matrix, a level keeps the
# unsmoothed prolongator (smoothing would make P^T M P nearly dense on expander graphs)
_DENSE_COARSE = 32


THETA = 0.08  # strength-of-connection threshold on the finest level


@dataclass
class _Csr:
    """Sparse ``n × m`` matrix held as CSR arrays, with the row index of every stored entry."""

    crow: torch.Tensor
    col: torch.Tensor
    val: torch.Tensor
    shape: tuple[int, int]

    @property
    def row(self) -> torch.Tensor:
        counts = self.crow[1:] - self.crow[:-1]
        return torch.repeat_interleave(torch.arange(self.shape[0], device=self.crow.device), counts)

    def tensor(self) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.crow, self.col, self.val, self.shape, check_invariants=False
            )


def _from_csr(t: torch.Tensor) -> _Csr:
    return _Csr(t.crow_indices(), t.col_indices(), t.values(), (t.shape[0], t.shape[1]))


def _transpose(t: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return t.t().to_sparse_csr()


def _addmm(C: torch.Tensor, M: torch.Tensor, V: torch.Tensor, alpha: float) -> torch.Tensor:
    """``C + alpha M V`` in one pass (``M`` sparse CSR)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.addmm(C, M, V, alpha=alpha)


@dataclass
class _Level:
    M: torch.Tensor  # CSR
    DinvM: torch.Tensor  # CSR, rows of M scaled by 1 / m_ii
    inv_diag: torch.Tensor  # (n, 1)
    rho: float  # Gershgorin bound of ρ(D^{-1} M)
    isolated: torch.Tensor | None  # (n, 1) mask of rows without off-diagonal entries, if any
    P: torch.Tensor | None = None  # CSR (n, n_coarse)
    R: torch.Tensor | None = None  # CSR (n_coarse, n) = P^T


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` for a 1-D index (``index_select`` is several times faster on the CPU)."""
    return x.index_select(0, index)


def _where(mask: torch.Tensor) -> torch.Tensor:
    return mask.nonzero().squeeze(1)


def _check_positive(diag: torch.Tensor) -> None:
    if bool((diag <= 0).any()):
        bad = int((diag <= 0).nonzero()[0])
        raise InputError(
            f"{_FN}: expected A + shift I symmetric positive definite, but its diagonal entry "
            f"{bad} is {float(diag[bad]):.3g} <= 0. Pass a larger shift (it must exceed minus "
            f"the smallest eigenvalue of A)."
        )


def _diag_and_rho(M: _Csr, row: torch.Tensor) -> tuple[torch.Tensor, float]:
    n = M.shape[0]
    on = _where(row == M.col)
    diag = torch.zeros(n, dtype=M.val.dtype, device=M.val.device)
    diag.index_add_(0, _take(row, on), _take(M.val, on))
    _check_positive(diag)
    absrow = torch.zeros_like(diag).index_add_(0, row, M.val.abs())
    return diag, float((absrow / diag).max())


def _strong_edges(
    row: torch.Tensor, col: torch.Tensor, val: torch.Tensor, diag: torch.Tensor, theta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the strong connections ``(i, j)`` among the entries ``(row, col, val)`` (step 1).

    Every stored entry is tested on its own: coarse Galerkin matrices and user input are
    symmetric only up to rounding, and the aggregates must not depend on which triangle an
    entry is read from.
    """
    mag = val.abs().masked_fill_(row == col, 0)
    # the strongest connection of every node counts, so only isolated nodes stay unaggregated
    rowmax = torch.zeros_like(diag).scatter_reduce_(0, row, mag, "amax")
    sqrt_d = diag.sqrt()  # θ sqrt(m_ii) sqrt(m_jj): no overflow of m_ii m_jj
    bound = torch.minimum(_take(rowmax, row), _take(rowmax, col))
    torch.minimum(bound, _take(sqrt_d, row).mul_(theta).mul_(_take(sqrt_d, col)), out=bound)
    e = _where((mag >= bound) & (mag > 0))
    return _take(row, e), _take(col, e)


def _roots(
    n: int,
    si: torch.Tensor,
    sj: torch.Tensor,
    gen: torch.Generator,
) -> torch.Tensor:
    """Mask of the roots: a distance-2 maximal independent set of the strong graph (step 2).

    Nodes without a strong connection are neither roots nor undecided.
    """
    dev = si.device
    has_nb = torch.zeros(n, dtype=torch.bool, device=dev)
    has_nb[si] = True
    prio = (torch.randperm(n, generator=gen) + 1).to(dev)  # distinct keys 1..n
    root_key = n + 1
    # state: 0 undecided, 1 root, 2 within distance 2 of a root (or no strong neighbour)
    state = torch.where(has_nb, 0, 2).to(torch.int8)
    # m1 needs the edges (j, k) with k not excluded; m2 the edges (i, j) with i undecided
    a1, b1, a2, b2 = si, sj, si, sj
    while True:
        undecided = state == 0
        if not bool(undecided.any()):
            break
        key = torch.where(undecided, prio, torch.where(state == 1, root_key, 0))
        m1 = key.scatter_reduce(0, a1, _take(key, b1), "amax")
        m2 = key.scatter_reduce(0, a2, _take(m1, b2), "amax")
        state.masked_fill_(undecided & (m2 == root_key), 2)
        state.masked_fill_(undecided & (m2 == key), 1)
        e1 = _where(_take(state, b1) != 2)
        a1, b1 = _take(a1, e1), _take(b1, e1)
        e2 = _where(_take(state, a2) == 0)
        a2, b2 = _take(a2, e2), _take(b2, e2)
    return state == 1


def _aggregate(
    M: _Csr, row: torch.Tensor, diag: torch.Tensor, theta: float, gen: torch.Generator
) -> torch.Tensor:
    """Aggregate index of every node (``-1``: not aggregated), from a distance-2 MIS."""
    n = M.shape[0]
    si, sj = _strong_edges(row, M.col, M.val, diag, theta)
    roots = _roots(n, si, sj, gen)
    agg = torch.full((n,), -1, dtype=torch.long, device=si.device)
    agg[roots] = torch.arange(int(roots.sum()), device=si.device)
    for _ in range(2):  # join a root at distance 1, then an aggregated neighbour
        # (the reduction includes the node's own index: -1 stays for nodes without neighbours)
        nb = agg.scatter_reduce(0, si, _take(agg, sj), "amax")
        agg = torch.where(agg < 0, nb, agg)
    return agg


def _galerkin(
    M: _Csr, row: torch.Tensor, diag: torch.Tensor, rho: float, agg: torch.Tensor, B: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smoothed prolongator ``P = (I - ω D^{-1} M) T``, ``P^T``, ``P^T M P`` (CSR), coarse ``B``.

    ``T`` interpolates the near-nullspace vector ``B`` exactly: on aggregate ``J``,
    ``T_{iJ} = B_i / ‖B_J‖`` and the coarse near-nullspace vector is ``B^c_J = ‖B_J‖`` (the
    one-vector case of the QR factorisation in Vaněk, Mandel and Brezina).
    """
    n = M.shape[0]
    nc = int(agg.max()) + 1
    dtype, dev = M.val.dtype, M.val.device
    member = agg >= 0
    members = _where(member)
    agg_m = _take(agg, members)
    B_m = _take(B, members)
    norm = torch.zeros(nc, dtype=dtype, device=dev).index_add_(0, agg_m, B_m * B_m).sqrt()
    crow_t = torch.cat([torch.zeros(1, dtype=torch.long, device=dev), member.cumsum(0)])
    Tt = _Csr(crow_t, agg_m, B_m / _take(norm, agg_m), (n, nc)).tensor()
    Rt = _transpose(Tt)
    At = _mm(Rt, _mm(M.tensor(), Tt))
    if At.values().numel() > _DENSE_COARSE * nc:
        # the aggregate graph is dense (an expander): smoothing P would square that density in
        # P^T M P, so this level keeps the unsmoothed (plain aggregation) prolongator
        return Tt, Rt, _symmetrize(At), norm
    # K = I - ω D^{-1} M on the pattern of M (which holds the diagonal)
    omega = 4 / (3 * rho)
    kval = (row == M.col).to(dtype) - omega * M.val / _take(diag, row)
    K = _Csr(M.crow, M.col, kval, M.shape).tensor()
    P = _mm(K, Tt)
    R = _transpose(P)
    Ac = _mm(R, _mm(M.tensor(), P))
    return P, R, _symmetrize(Ac), norm


def _symmetrize(Ac: torch.Tensor) -> torch.Tensor:
    """``(Ac + Ac^T) / 2`` for a CSR matrix with a symmetric pattern (removes rounding)."""
    AcT = _transpose(Ac)
    if torch.equal(AcT.crow_indices(), Ac.crow_indices()) and torch.equal(
        AcT.col_indices(), Ac.col_indices()
    ):
        c = _from_csr(Ac)
        Ac = _Csr(c.crow, c.col, (c.val + AcT.values()) / 2, c.shape).tensor()
    return Ac


def _chebyshev_smoother(level: _Level, degree: int, alpha: float) -> Matmat:
    """``r -> p(D^{-1} M) D^{-1} r``: ``degree`` Chebyshev steps for ``M x = r`` from ``x = 0``.

    Chebyshev iteration (Saad, Algorithm 12.1) for ``D^{-1} M x = D^{-1} r`` on the interval
    ``[ρ̂ / α, ρ̂]``; its residual polynomial has modulus ``< 1`` on ``(0, ρ̂]``.
    """
    b = level.rho
    B, dinv, isolated = level.DinvM, level.inv_diag, level.isolated

    def residual(res: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return _addmm(res, B, d, -1.0)  # res - D^{-1} M d in one pass

    def S(r: torch.Tensor) -> torch.Tensor:
        z = r * dinv  # preconditioned residual
        x = chebyshev_iteration(residual, z, b / alpha, b, degree)
        if isolated is not None:  # decoupled rows: solved exactly
            x = torch.where(isolated, z, x)
        return x

    return S


def _shifted(A: torch.Tensor, shift: float) -> _Csr:
    """Return ``A + shift I`` as CSR arrays (``A`` sparse COO/CSR or dense, real symmetric)."""
    A = A.detach()
    if A.layout == torch.sparse_csr:
        n = A.shape[0]
        M = _Csr(A.crow_indices().long(), A.col_indices().long(), A.values(), (n, n))
        row = M.row
        on = row == M.col
        key = row * n + M.col
        if bool((key.diff() > 0).all()) and torch.equal(row[on], torch.arange(n, device=A.device)):
            # sorted entries without duplicates, every diagonal one stored: shift the values
            return _Csr(M.crow, M.col, M.val + shift * on.to(A.dtype), M.shape)
        A = A.to_sparse_coo()
    elif A.layout == torch.strided:
        A = A.to_sparse()
    n = A.shape[0]
    dev, dtype = A.device, A.dtype
    A = A.coalesce()
    idx, val = A.indices(), A.values()
    on = idx[0] == idx[1]
    if int(on.sum()) == n:  # every diagonal entry stored: shift in place
        val = val + shift * on.to(dtype)
    else:
        eye = torch.arange(n, device=dev)
        idx = torch.cat([idx, torch.stack([eye, eye])], 1)
        val = torch.cat([val, torch.full((n,), float(shift), dtype=dtype, device=dev)])
    Mt = torch.sparse_coo_tensor(
        idx, val, (n, n), is_coalesced=bool(on.sum() == n), check_invariants=False
    ).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        M = _from_csr(Mt.to_sparse_csr())
    return M


def _strong_graph(
    A: torch.Tensor, shift: float, theta: float
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """``n`` and the strong connections of ``A + shift I`` (the shifted matrix is not formed)."""
    A = A.detach()
    n = A.shape[0]
    if A.layout == torch.sparse_csr:
        counts = A.crow_indices().diff().long()
        row = torch.repeat_interleave(torch.arange(n, device=A.device), counts)
        col, val = A.col_indices().long(), A.values()
    else:
        A = (A.to_sparse() if A.layout == torch.strided else A).coalesce()
        (row, col), val = A.indices(), A.values()
    diag = torch.zeros(n, dtype=val.dtype, device=val.device)
    diag.index_add_(0, row, val.masked_fill(row != col, 0)).add_(shift)
    _check_positive(diag)
    return (n, *_strong_edges(row, col, val, diag, theta))


def coarsening_ratio(
    A: torch.Tensor, shift: float, *, theta: float = THETA, seed: int = 0
) -> float:
    """Unknowns per aggregate on the first level of :func:`multigrid_preconditioner`.

    Distance-2 aggregation shrinks 2-D and 3-D meshes about 7-11 fold (cycle graphs 4 fold)
    and expander-like graphs, whose distance-2 neighbourhoods are large, 24-29 fold (random
    graphs of average degree 10, hypercubes): there a Krylov solver beats the V-cycle, and a
    sparse factorization fills in. Costs the strength test and the roots' independent set (a
    few passes over the entries of ``A``); no aggregate is formed.
    """
    n, si, sj = _strong_graph(A, shift, theta)
    roots = _roots(n, si, sj, torch.Generator().manual_seed(seed))
    return n / max(int(roots.sum()), 1)


def multigrid_preconditioner(
    A: torch.Tensor,
    shift: float,
    *,
    theta: float = THETA,
    max_coarse: int = 300,
    degree: int = 3,
    alpha: float = 10.0,
    near_nullspace: torch.Tensor | None = None,
    seed: int = 0,
) -> Matmat:
    r"""Return ``R -> T R``, one symmetric smoothed-aggregation V-cycle for ``M = A + shift I``.

    Parameters
    ----------
    A : Tensor
        Sparse COO or CSR (or dense) real symmetric ``(n, n)``, float32 or float64, with
        ``A + shift I`` positive definite (e.g. a graph Laplacian and ``shift > 0``).
    shift : float
        Diagonal shift; LOBPCG's target ``σ = -shift``. Keep it small against the wanted
        eigenvalues: LOBPCG's convergence factor grows with ``(λ_k + shift) / (λ_{m+1} + shift)``.
        On a 316 × 316 grid Laplacian (``λ_2 ≈ 1e-4``, ``degree=2``), ``shift = 1e-3 · 8`` needs 41
        LOBPCG iterations, ``1e-4 · 8`` 28 and ``1e-5 · 8`` 25; the V-cycle stays accurate for tiny
        shifts because the prolongators interpolate the constants exactly.
    theta : float
        Strength-of-connection threshold on the finest level (halved on each coarser level).
    max_coarse : int
        Coarsening stops at this many unknowns; the coarsest matrix is inverted densely.
    degree : int
        Chebyshev smoothing steps before and after the coarse correction (``1``: damped Jacobi).
    alpha : float
        The smoother targets the upper part ``[ρ̂ / α, ρ̂]`` of the spectrum of ``D^{-1} M``.
    near_nullspace : Tensor, optional
        ``(n,)`` vector ``B`` with ``A B ≈ 0`` (or in the span of the smallest eigenvectors) that
        the prolongators interpolate exactly; default ones (combinatorial graph Laplacians). For
        ``I - D^{-1/2} W D^{-1/2}`` pass ``sqrt(degree)``.
    seed : int
        Seed of the aggregation priorities (the result is deterministic for a given seed).

    Returns
    -------
    callable
        ``R -> T R`` for ``R`` of shape ``(n, p)`` (or ``(n,)``) on the device of ``A``; ``T`` is
        symmetric positive definite and approximates ``M^{-1}``.

    Raises
    ------
    InputError
        For a complex ``A`` (not supported), a non-square or non-2-D ``A``, or a shift that leaves
        a non-positive diagonal entry in ``M``.
    InputDTypeError
        For an integer, bool or half-precision ``A``.

    Notes
    -----
    With ``S_l`` the (symmetric) smoother and ``P_l`` the prolongator of level ``l``, the error
    propagator of the V-cycle is
    ``I - T_l M_l = (I - S_l M_l)(I - P_l T_{l+1} P_l^T M_l)(I - S_l M_l)``; the smoother satisfies
    ``ρ(I - S_l M_l) < 1`` by construction, so ``T_l`` is symmetric positive definite at every
    level (coarsest: the exact inverse). Setup is ``O(nnz)`` per level and never forms an
    ``n × n`` dense matrix except on the coarsest level (``<= max_coarse`` unknowns, or when
    coarsening stalls).

    Examples
    --------
    >>> import torch, eigengrad as eg
    >>> from eigengrad.testing import grid_edges
    >>> L = eg.graph_laplacian(grid_edges(30, 30), None, 900)
    >>> T = multigrid_preconditioner(L, 1e-3 * 8)
    >>> Y = T(torch.ones(900, 2, dtype=torch.float64))
    >>> Y.shape
    torch.Size([900, 2])
    """
    check_real_matrix(
        A,
        _FN,
        "the aggregation and smoothers assume a real symmetric matrix. Use the Chebyshev "
        "preconditioner for complex input.",
    )
    if degree < 1 or max_coarse < 1:
        raise InputError(
            f"{_FN}: expected degree >= 1 and max_coarse >= 1, received {degree}, {max_coarse}."
        )
    M = _shifted(A, shift)
    n, dev, dtype = M.shape[0], M.val.device, M.val.dtype
    gen = torch.Generator().manual_seed(seed)

    levels: list[_Level] = []
    if near_nullspace is None:  # near-nullspace of a Laplacian: constants
        B = torch.ones(n, dtype=dtype, device=dev)
    else:
        B = near_nullspace.detach().to(dtype=dtype, device=dev).reshape(-1)
        if B.numel() != n or not bool(torch.isfinite(B).all()):
            raise InputError(
                f"{_FN}: expected a finite near_nullspace vector of {n} entries, received shape "
                f"{tuple(near_nullspace.shape)}."
            )
        B = torch.where(B == 0, torch.finfo(dtype).tiny ** 0.5, B)  # no empty aggregate norms
    while True:
        row = M.row
        diag, rho = _diag_and_rho(M, row)
        dinvm = _Csr(M.crow, M.col, M.val / _take(diag, row), M.shape).tensor()
        coupled = torch.zeros(M.shape[0], dtype=torch.bool, device=dev)
        coupled[_take(row, _where((row != M.col) & (M.val != 0)))] = True
        isolated = None if bool(coupled.all()) else ~coupled[:, None]
        level = _Level(M.tensor(), dinvm, (1 / diag)[:, None], rho, isolated)
        levels.append(level)
        nl = M.shape[0]
        if nl <= max_coarse:
            break
        agg = _aggregate(M, row, diag, theta * 0.5 ** (len(levels) - 1), gen)
        nc = int(agg.max()) + 1
        if nc == 0 or nc > 0.85 * nl:
            break  # coarsening stalled
        level.P, level.R, Ac, B = _galerkin(M, row, diag, rho, agg, B)
        M = _from_csr(Ac)

    # coarsest level: positive definite inverse from the eigendecomposition
    coarse_inv: torch.Tensor | None = None
    if M.shape[0] <= max(max_coarse, 4000):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            w, Q = torch.linalg.eigh(M.tensor().to_dense())
        w = w.clamp_min(float(w.max()) * torch.finfo(dtype).eps * M.shape[0])
        coarse_inv = (Q / w) @ Q.mT
        coarse_inv = (coarse_inv + coarse_inv.mT) / 2
    smoothers = [_chebyshev_smoother(lv, degree, alpha) for lv in levels]

    def cycle(lev: int, b: torch.Tensor) -> torch.Tensor:
        lv = levels[lev]
        if lv.P is None or lv.R is None:
            if coarse_inv is not None:
                return coarse_inv @ b
            return smoothers[lev](b)  # stalled coarsening: smoother only
        S = smoothers[lev]
        x = S(b)
        xc = cycle(lev + 1, _mm(lv.R, _addmm(b, lv.M, x, -1.0)))
        x = _addmm(x, lv.P, xc, 1.0)
        return x.add_(S(_addmm(b, lv.M, x, -1.0)))

    def T(R: torch.Tensor) -> torch.Tensor:
        if R.ndim == 1:
            return cycle(0, R[:, None])[:, 0]
        return cycle(0, R)

    T.levels = [lv.M.shape[0] for lv in levels]  # type: ignore[attr-defined]
    return T
