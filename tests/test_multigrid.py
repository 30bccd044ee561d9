"""Tests of the smoothed-aggregation multigrid preconditioner (symmetry, definiteness, quality)."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
import torch

import eigengrad as eg
from eigengrad._lobpcg import lobpcg, random_block
from eigengrad._multigrid import (
    _strong_edges,
    coarsening_ratio,
    multigrid_preconditioner,
)
from eigengrad.exceptions import InputError
from eigengrad.testing import cycle_edges, grid_edges, hypercube_edges, random_graph_edges

pytestmark = pytest.mark.usefixtures("one_thread")


def grid_laplacian(m: int) -> torch.Tensor:
    return eg.graph_laplacian(grid_edges(m, m), None, m * m)


def random_graph_laplacian(n: int, degree: int, seed: int, weighted: bool) -> torch.Tensor:
    edges = random_graph_edges(n, degree, seed=seed)
    e = edges.shape[1] // 2
    gen = torch.Generator().manual_seed(seed + 100)
    w = (
        torch.exp(3 * torch.rand(e, generator=gen, dtype=torch.float64))
        if weighted
        else torch.ones(e, dtype=torch.float64)
    )
    return eg.graph_laplacian(edges, torch.cat([w, w]), n)


def shifted(L: torch.Tensor, shift: float) -> torch.Tensor:
    n = L.shape[0]
    return L.to_dense() + shift * torch.eye(n, dtype=L.dtype)


def dense_T(T, n: int) -> torch.Tensor:
    return T(torch.eye(n, dtype=torch.float64))


MATRICES = {
    "grid": lambda: grid_laplacian(20),
    "random": lambda: random_graph_laplacian(400, 6, 1, weighted=False),
    "weighted": lambda: random_graph_laplacian(400, 6, 2, weighted=True),
}


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_symmetric_positive_definite(name):
    L = MATRICES[name]()
    n = L.shape[0]
    T = multigrid_preconditioner(L, 1e-3, max_coarse=20)
    assert len(T.levels) >= 2  # a real multilevel cycle, not only the dense solve
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    v = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    utv, vtu = float(u.T @ T(v)), float(v.T @ T(u))
    assert abs(utv - vtu) <= 1e-12 * (abs(utv) + abs(vtu))
    Td = dense_T(T, n)
    assert torch.allclose(Td, Td.T, rtol=0, atol=1e-12 * float(Td.abs().max()))
    w = torch.linalg.eigvalsh((Td + Td.T) / 2)
    assert float(w.min()) > 0
    # it approximates M^{-1}: the spectrum of T M lies in (0, 1] (error propagator in [0, 1))
    M = shifted(L, 1e-3)
    Ms = torch.linalg.cholesky(M)
    TM = Ms.T @ Td @ Ms
    mu = torch.linalg.eigvalsh((TM + TM.T) / 2)
    assert float(mu.min()) > 0.05
    assert float(mu.max()) <= 1 + 1e-8


def test_vector_input_and_csr_and_dense_input():
    L = grid_laplacian(12)
    T = multigrid_preconditioner(L, 1e-2, max_coarse=10)
    T_csr = multigrid_preconditioner(L.to_sparse_csr(), 1e-2, max_coarse=10)
    T_dense = multigrid_preconditioner(L.to_dense(), 1e-2, max_coarse=10)
    r = torch.linspace(-1, 1, 144, dtype=torch.float64)
    y = T(r)
    assert y.shape == (144,)
    assert torch.equal(y, T_csr(r))
    assert torch.equal(y, T_dense(r))
    assert torch.equal(y, T(r[:, None])[:, 0])


def test_float32():
    L = grid_laplacian(30).to(torch.float32)
    T = multigrid_preconditioner(L, 1e-2, max_coarse=50)
    y = T(torch.ones(900, 3, dtype=torch.float32))
    assert y.dtype == torch.float32
    assert bool(torch.isfinite(y).all())


def test_errors():
    L = grid_laplacian(5)
    with pytest.raises(InputError, match="complex"):
        multigrid_preconditioner(L.to(torch.complex128), 1e-3)
    with pytest.raises(InputError, match="positive definite"):
        multigrid_preconditioner(L, -10.0)
    with pytest.raises(InputError, match="square"):
        multigrid_preconditioner(torch.zeros(3, 4, dtype=torch.float64).to_sparse(), 1e-3)


def pcg(apply, T, b: torch.Tensor, tol: float, max_iter: int) -> int:
    x = torch.zeros_like(b)
    r = b.clone()
    z = T(r)
    p = z.clone()
    rz = float((r * z).sum())
    nb = float(b.norm())
    for it in range(1, max_iter + 1):
        Ap = apply(p)
        a = rz / float((p * Ap).sum())
        x += a * p
        r -= a * Ap
        if float(r.norm()) <= tol * nb:
            return it
        z = T(r)
        rz_next = float((r * z).sum())
        p = z + (rz_next / rz) * p
        rz = rz_next
    return max_iter


def test_pcg_iterations_nearly_independent_of_n():
    shift = 8e-3
    counts = []
    for m in (32, 100, 316):
        L = grid_laplacian(m)
        Lc = L.to_sparse_csr()
        T = multigrid_preconditioner(L, shift)

        def apply(v, Lc=Lc):
            return Lc @ v + shift * v

        b = torch.randn(m * m, 1, generator=torch.Generator().manual_seed(m), dtype=torch.float64)
        counts.append(pcg(apply, T, b, 1e-8, 200))
        if m == 100:
            plain = pcg(apply, lambda r: r, b, 1e-8, 2000)
            assert plain > 5 * counts[-1]
    assert max(counts) < 30
    assert counts[-1] <= counts[0] + 8


def test_lobpcg_matches_scipy_and_is_deterministic():
    m, k = 100, 8
    n = m * m
    L = grid_laplacian(m)
    Lc = L.to_sparse_csr()

    def apply(V):
        return Lc @ V

    def run():
        T = multigrid_preconditioner(L, 8e-5)
        X0 = random_block(n, 12, torch.float64, torch.device("cpu"), 0)
        return lobpcg(apply, X0, k, tol=3.7e-11, max_iter=200, precond=T)

    res = run()
    assert res.iterations < 60
    assert bool((res.residual_norms[:k] <= 3.7e-11 * res.norm_estimate * 1.01).all())
    i = L.coalesce().indices().numpy()
    S = sp.csc_matrix((L.coalesce().values().numpy(), (i[0], i[1])), shape=(n, n))
    w_ref = np.sort(sla.eigsh(S, k=k, sigma=-1e-3, which="LM", tol=1e-12)[0])
    np.testing.assert_allclose(res.eigenvalues[:k].numpy(), w_ref, rtol=0, atol=1e-9)
    res2 = run()
    assert torch.equal(res.eigenvalues, res2.eigenvalues)
    assert torch.equal(res.eigenvectors, res2.eigenvectors)


def test_setup_is_sparse_only():
    # a 500 x 500 grid: an n x n dense matrix would need 500 GB
    m = 500
    L = grid_laplacian(m)
    T = multigrid_preconditioner(L, 1e-3)
    sizes = T.levels
    assert sizes[0] == m * m
    assert all(b < a / 3 for a, b in itertools.pairwise(sizes))
    assert sizes[-1] <= 300
    y = T(torch.ones(m * m, 2, dtype=torch.float64))
    assert bool(torch.isfinite(y).all())


def test_isolated_nodes_and_disconnected_graph():
    # two grids and three isolated nodes (zero rows of the Laplacian)
    e = grid_edges(10, 10)
    edges = torch.cat([e, e + 100], 1)
    L = eg.graph_laplacian(edges, None, 203)
    T = multigrid_preconditioner(L, 1e-2, max_coarse=10)
    Td = dense_T(T, 203)
    w = torch.linalg.eigvalsh((Td + Td.T) / 2)
    assert float(w.min()) > 0
    # the isolated nodes are solved exactly by the smoother: T e_i = e_i / shift
    assert torch.allclose(Td[200:, 200:], torch.eye(3, dtype=torch.float64) / 1e-2)


def test_near_nullspace_for_normalized_laplacian():
    # I - D^{-1/2} W D^{-1/2} annihilates sqrt(degree), not the constants
    m = 20
    edges = grid_edges(m, m)
    L = eg.graph_laplacian(edges, None, m * m, normalization="sym")
    deg = torch.bincount(edges[0], minlength=m * m).to(torch.float64)
    M = shifted(L, 1e-4)
    Ms = torch.linalg.cholesky(M)

    def smallest(T):
        TM = Ms.T @ dense_T(T, m * m) @ Ms
        return float(torch.linalg.eigvalsh((TM + TM.T) / 2).min())

    good = smallest(multigrid_preconditioner(L, 1e-4, max_coarse=10, near_nullspace=deg.sqrt()))
    plain = smallest(multigrid_preconditioner(L, 1e-4, max_coarse=10))
    assert good > 0.3
    assert good > plain
    with pytest.raises(InputError, match="near_nullspace"):
        multigrid_preconditioner(L, 1e-4, near_nullspace=torch.ones(3))


def test_expander_graph_keeps_coarse_matrices_sparse():
    # random graphs of average degree 10: dense aggregate graphs switch to plain aggregation
    n = 20000
    L = random_graph_laplacian(n, 10, 3, weighted=False)
    shift = 1e-3
    T = multigrid_preconditioner(L, shift)
    assert len(T.levels) >= 3
    Lc = L.to_sparse_csr()

    def apply(v):
        return Lc @ v + shift * v

    b = torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert 3 * pcg(apply, T, b, 1e-8, 200) < pcg(apply, lambda r: r, b, 1e-8, 2000)
    u, v = torch.randn(2, n, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    utv, vtu = float(u.T @ T(v)), float(v.T @ T(u))
    assert abs(utv - vtu) <= 1e-12 * (abs(utv) + abs(vtu))


def test_aggregation_ignores_the_scale_and_reads_every_entry():
    # weighted grid: the strength test must not overflow (m_ii m_jj at 1e160 did) ...
    e = grid_edges(30, 30)
    key = torch.minimum(e[0], e[1]) * 900 + torch.maximum(e[0], e[1])
    g = torch.Generator().manual_seed(0)
    w = torch.rand(900 * 900, generator=g, dtype=torch.float64) ** 4 + 1e-3
    L = eg.graph_laplacian(e, w[key], 900).coalesce()
    ratio = coarsening_ratio(L, 1e-3)
    assert coarsening_ratio(L * 1e160, 1e157) == ratio
    assert coarsening_ratio((L * 1e21).float(), 1e18) == coarsening_ratio(L.float(), 1e-3)
    # ... and must test every stored entry on its own: values symmetric only up to rounding
    # (coarse Galerkin matrices, user input) against the rule evaluated densely
    i, j, v = L.indices()[0], L.indices()[1], L.values().clone()
    v[i < j] *= 1 - 2.0**-52
    D = torch.zeros(900, 900, dtype=torch.float64)
    D[i, j] = v
    d = D.diagonal().clone()
    off = (D - torch.diag(d)).abs()
    rowmax = off.amax(1)
    bound = torch.minimum(
        0.5 * d.sqrt()[:, None] * d.sqrt()[None, :],
        torch.minimum(rowmax[:, None], rowmax[None, :]),
    )
    expected = {(a, b) for a, b in zip(i.tolist(), j.tolist(), strict=True) if a != b}
    expected = {(a, b) for a, b in expected if off[a, b] >= bound[a, b]}
    si, sj = _strong_edges(i, j, v, d, 0.5)
    assert set(zip(si.tolist(), sj.tolist(), strict=True)) == expected
    assert len(expected) < 0.9 * int((i != j).sum())  # the rule is not trivial here


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_coarsening_ratio_separates_meshes_from_expanders():
    # meshes coarsen 4-11 fold, expanders > 20 (their aggregates are large distance-2 balls)
    grid = eg.graph_laplacian(grid_edges(40, 40), None, 1600)
    cycle = eg.graph_laplacian(cycle_edges(500), None, 500)
    cube = eg.graph_laplacian(hypercube_edges(10), None, 1024)
    rand = eg.graph_laplacian(random_graph_edges(3000, 10, ring=True), None, 3000)
    assert 2.0 < coarsening_ratio(cycle, 1e-3) < 6.0
    assert 4.0 < coarsening_ratio(grid, 1e-3) < 12.0
    assert coarsening_ratio(cube, 1e-3) > 20.0
    assert coarsening_ratio(rand, 1e-3) > 20.0
    # deterministic given the seed, and the same for COO, CSR and dense input
    assert coarsening_ratio(rand, 1e-3, seed=3) == coarsening_ratio(rand, 1e-3, seed=3)
    ratio = coarsening_ratio(grid, 1e-3)
    assert coarsening_ratio(grid.to_sparse_csr(), 1e-3) == ratio
    assert coarsening_ratio(grid.to_dense(), 1e-3) == ratio
    with pytest.raises(InputError, match="diagonal entry"):
        coarsening_ratio(-grid, 1e-3)
