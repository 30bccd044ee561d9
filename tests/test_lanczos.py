import math

import numpy as np
import pytest
import scipy.sparse.linalg as spl
import torch

import eigengrad
import eigengrad._lanczos as lanczos_module
from eigengrad._lanczos import _largest_cluster, lanczos
from eigengrad._lobpcg import random_block
from eigengrad.exceptions import InputError
from eigengrad.testing import (
    cycle_edges,
    grid_edges,
    hypercube_edges,
    matrix_with_spectrum,
    random_graph_edges,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def _check(out, A_dense, k, tol):
    """Residuals recomputed here, eigenvalues against eigh, orthonormal eigenvectors."""
    m = out.eigenvectors.shape[1]
    X, w = out.eigenvectors, out.eigenvalues
    ref = torch.linalg.eigvalsh(A_dense)
    scale = out.norm_estimate
    assert scale <= float(ref.abs().max()) * (1 + 1e-6)
    res = torch.linalg.vector_norm(A_dense @ X - X * w.to(X.dtype), dim=0)
    assert torch.allclose(res, out.residual_norms, rtol=1e-3, atol=10 * tol * scale)
    assert bool((res[:k] <= tol * scale).all())
    # eigenvalue error <= residual^2 / gap; bounded crudely by the residual
    assert torch.allclose(w[:k], ref[:k], rtol=0, atol=10 * tol * scale)
    assert bool((w[1:] >= w[:-1]).all())
    eye = torch.eye(m, dtype=X.dtype)
    real = torch.empty((), dtype=X.dtype).real.dtype
    assert float((X.mH @ X - eye).abs().max()) < 1e3 * torch.finfo(real).eps * math.sqrt(m)


@pytest.mark.parametrize(
    ("dtype", "tol"),
    [(torch.float64, 3.7e-11), (torch.complex128, 3.7e-11), (torch.float32, 2.4e-5)],
)
@pytest.mark.parametrize(
    ("basis", "degree", "lazy"),
    [(None, 1, False), (24, 1, False), (24, 8, False), (None, None, False), (None, 1, True)],
)
def test_random_dense_hermitian(dtype, tol, basis, degree, lazy):
    n, k, m = 200, 5, 8
    gen = torch.Generator().manual_seed(1)
    real = torch.empty((), dtype=dtype).real.dtype
    G = torch.randn(n, n, generator=gen, dtype=real)
    if dtype.is_complex:
        G = torch.complex(G, torch.randn(n, n, generator=gen, dtype=real))
    A = ((G + G.mH) / 2).to(dtype)
    X0 = random_block(n, m, dtype, CPU, seed=0)
    kw = {} if degree is None else {"degree": degree}
    if lazy:  # a narrow block with lazy second passes (the sketch is complex for complex A)
        kw.update(block=2, lazy=True)
    out = lanczos(lambda V: A @ V, X0, k, tol=tol, max_iter=2000, basis=basis, **kw)
    assert out.eigenvalues.dtype == real and out.eigenvectors.dtype == dtype
    assert out.eigenvectors.shape == (n, m)
    _check(out, A, k, tol)


@pytest.mark.parametrize(
    ("degree", "block", "lazy"), [(1, None, False), (15, None, False), (1, 2, False), (1, 2, True)]
)
@pytest.mark.parametrize("graph", ["path", "grid", "random"])
def test_graph_laplacians_match_scipy(graph, degree, block, lazy):
    if graph == "path":
        n = 500
        i = torch.arange(n - 1)
        edges = torch.stack([torch.cat([i, i + 1]), torch.cat([i + 1, i])])
    elif graph == "grid":
        edges, n = grid_edges(25, 30), 750
    else:
        edges, n = random_graph_edges(1000, 6, seed=3, ring=True), 1000
    L = eigengrad.graph_laplacian(edges, None, n).coalesce()
    k, m, tol = 6, 9, 3.7e-11
    out = lanczos(lambda V: L @ V, random_block(n, m, torch.float64, CPU, 0), k, tol=tol,
                  max_iter=5000, basis=36, degree=degree, block=block, lazy=lazy)  # fmt: skip
    _check(out, L.to_dense(), k, tol)
    if degree > 1 and graph != "random":  # the filter took over after the first cycle: far
        assert out.iterations < 200  # fewer block steps (>= 244)
    idx = L.indices().numpy()
    import scipy.sparse as sp

    S = sp.csr_matrix((L.values().numpy(), (idx[0], idx[1])), shape=(n, n))
    w_ref = np.sort(spl.eigsh(S, k=k, which="SA", tol=1e-12, v0=np.ones(n) + np.arange(n))[0])
    np.testing.assert_allclose(out.eigenvalues[:k].numpy(), w_ref, rtol=0, atol=1e-9)


def _eigenspace_error(X, V_exact):
    """``‖(I - X X^H) V‖``: how far the exact eigenspace ``V`` is from ``span(X)``."""
    return float(torch.linalg.matrix_norm(V_exact - X @ (X.mH @ V_exact), ord=2))


# block=2: the block starts narrow and must widen when it sees two copies of one eigenvalue
# lazy: the second Gram-Schmidt pass skipped at every other step when the sketch allows it
BLOCKS = [(1, None, False), (9, None, False), (1, 2, False), (9, 2, False), (1, 2, True)]


@pytest.mark.parametrize(("degree", "block", "lazy"), BLOCKS)
def test_cycle_graph_pairs(degree, block, lazy):
    n, k, m = 60, 7, 9  # eigenvalue 0 once, then three pairs: a selection ending at a gap
    L = eigengrad.graph_laplacian(cycle_edges(n), None, n).coalesce()
    out = lanczos(lambda V: L @ V, random_block(n, m, torch.float64, CPU, 2), k, tol=1e-12,
                  max_iter=2000, basis=30, degree=degree, block=block, lazy=lazy)  # fmt: skip
    j = torch.arange(n, dtype=torch.float64)
    exact = torch.sort(2 - 2 * torch.cos(2 * math.pi * j / n)).values
    torch.testing.assert_close(out.eigenvalues[:k], exact[:k], rtol=0, atol=1e-10)
    # both copies of each pair: the computed block spans the exact eigenspace of the k smallest
    _, V = torch.linalg.eigh(L.to_dense())
    assert _eigenspace_error(out.eigenvectors[:, :k], V[:, :k]) < 1e-8


@pytest.mark.parametrize(("degree", "block", "lazy"), BLOCKS)
def test_hypercube_eleven_fold_eigenvalue(degree, block, lazy):
    d, k, m = 11, 12, 14
    n = 2**d
    L = eigengrad.graph_laplacian(hypercube_edges(d), None, n).coalesce()
    out = lanczos(lambda V: L @ V, random_block(n, m, torch.float64, CPU, 0), k, tol=3.7e-11,
                  max_iter=2000, degree=degree, block=block, lazy=lazy)  # fmt: skip
    w = out.eigenvalues[:k]
    exact = torch.tensor([0.0] + [2.0] * 11, dtype=torch.float64)
    torch.testing.assert_close(w, exact, rtol=0, atol=1e-9)
    assert bool((out.residual_norms[:k] <= 3.7e-11 * out.norm_estimate).all())
    # exact eigenspace of {0, 2}: constants and the 11 coordinate functions ±1
    nodes = torch.arange(n)
    bits = torch.stack([((nodes >> b) & 1).to(torch.float64) for b in range(d)], 1)
    E = torch.cat([torch.ones(n, 1, dtype=torch.float64), 1 - 2 * bits], 1)
    Q, _ = torch.linalg.qr(E)
    X = out.eigenvectors[:, :k]
    assert _eigenspace_error(X, Q) < 1e-8
    assert _eigenspace_error(Q, X) < 1e-8


def test_widened_block_waits_without_confirming_again():
    # after widening, convergence is not accepted for as many steps again; the explicit
    # confirmation (m columns) is not repeated at every check meanwhile, only when the Ritz
    # values show another full cluster (measured: 2 confirmations here, 11 before)
    d, k, m = 11, 12, 14
    n = 2**d
    L = eigengrad.graph_laplacian(hypercube_edges(d), None, n).coalesce()
    cols = []

    def counted(V):
        cols.append(V.shape[1])
        return L @ V

    out = lanczos(counted, random_block(n, m, torch.float64, CPU, 0), k, tol=3.7e-11,
                  max_iter=2000, degree=1, block=2)  # fmt: skip
    exact = torch.tensor([0.0] + [2.0] * 11, dtype=torch.float64)
    torch.testing.assert_close(out.eigenvalues[:k], exact, rtol=0, atol=1e-9)
    assert max(cols) == m and cols.count(m) <= 3


@pytest.mark.parametrize("degree", [1, 5])
def test_deterministic_same_bits(degree):
    L = eigengrad.graph_laplacian(grid_edges(20, 20), None, 400).coalesce()
    X0 = random_block(400, 6, torch.float64, CPU, seed=5)
    a = lanczos(lambda V: L @ V, X0, 4, tol=1e-10, max_iter=1000, basis=24, degree=degree)
    b = lanczos(lambda V: L @ V, X0.clone(), 4, tol=1e-10, max_iter=1000, basis=24, degree=degree)
    assert torch.equal(a.eigenvalues, b.eigenvalues)
    assert torch.equal(a.eigenvectors, b.eigenvectors)
    assert a.iterations == b.iterations


@pytest.mark.parametrize("degree", [1, 9])
def test_breakdown_start_block_in_invariant_subspace(degree):
    # diag with few distinct values; the start block lies in the 5-dimensional eigenspace of
    # {1, 2}, an invariant subspace: the first block step breaks down (rank 1 of 4 survives) and
    # the block is completed with random vectors.
    vals = torch.tensor([1.0, 2.0, 3.0, 5.0], dtype=torch.float64).repeat_interleave(
        torch.tensor([2, 3, 6, 40])
    )
    n = vals.numel()
    A = torch.diag(vals)
    X0 = torch.zeros(n, 4, dtype=torch.float64)
    X0[:5] = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = lanczos(lambda V: A @ V, X0, 4, tol=1e-12, max_iter=200, basis=16, degree=degree)
    expected = torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(out.eigenvalues, expected, rtol=0, atol=1e-12)
    assert bool((out.residual_norms <= 1e-12 * 5).all())
    assert bool(torch.isfinite(out.eigenvectors).all())
    # the same with an 8-column block: the Krylov space of the start block is the invariant
    # subspace itself (dimension 5 < 8); the answer must reach past it to eigenvalue 3
    X0 = torch.zeros(n, 8, dtype=torch.float64)
    X0[:5] = torch.randn(5, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = lanczos(lambda V: A @ V, X0, 7, tol=1e-12, max_iter=200, basis=24, degree=degree)
    torch.testing.assert_close(out.eigenvalues, vals[:8], rtol=0, atol=1e-12)


def test_lazy_passes_at_a_breakdown():
    # six distinct eigenvalues: a block of 2 spans its Krylov space in a few steps, and the
    # step that breaks down must take the full path (rank drop, random completion), not the
    # lazy one, whose QR would keep a direction made of rounding errors
    vals = torch.tensor([1.0, 2.0, 3.0, 5.0, 7.0, 11.0], dtype=torch.float64)
    vals = vals.repeat_interleave(torch.tensor([1, 3, 2, 6, 10, 40]))
    A = torch.diag(vals)
    for seed in range(4):
        X0 = random_block(vals.numel(), 6, torch.float64, CPU, seed)
        out = lanczos(lambda V: A @ V, X0, 5, tol=1e-12, max_iter=300, degree=1, block=2,
                      lazy=True)  # fmt: skip
        torch.testing.assert_close(out.eigenvalues, vals[:6], rtol=0, atol=1e-13)
        assert float(out.residual_norms.max()) < 1e-13


def test_invariant_subspace_found_early_and_small_n():
    # n < basis: the whole space is spanned after a few block steps and the result is exact
    A, w, _ = matrix_with_spectrum(torch.linspace(-1, 1, 30).tolist(), seed=4)
    out = lanczos(lambda V: A @ V, random_block(30, 7, torch.float64, CPU, 1), 5, tol=1e-14,
                  max_iter=100)  # fmt: skip
    torch.testing.assert_close(out.eigenvalues, w[:7], rtol=0, atol=1e-13)
    assert out.iterations <= math.ceil(30 / 7)
    # m = n: one block is the whole space
    out = lanczos(lambda V: A @ V, random_block(30, 30, torch.float64, CPU, 1), 3, tol=1e-14,
                  max_iter=100)  # fmt: skip
    torch.testing.assert_close(out.eigenvalues, w, rtol=0, atol=1e-13)


def test_rank_deficient_start_and_k_zero():
    A, w, _ = matrix_with_spectrum(torch.linspace(0, 1, 80).tolist(), seed=2)
    X0 = random_block(80, 6, torch.float64, CPU, 3)
    X0[:, 3] = X0[:, 0] + X0[:, 1]
    X0[:, 5] = 0
    out = lanczos(lambda V: A @ V, X0, 4, tol=1e-12, max_iter=500, basis=24)
    torch.testing.assert_close(out.eigenvalues, w[:6], rtol=0, atol=1e-11)
    eye = torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(out.eigenvectors.mT @ out.eigenvectors, eye, rtol=0, atol=1e-13)
    out0 = lanczos(lambda V: A @ V, X0, 0, tol=1e-12, max_iter=500)
    assert out0.iterations == 1 and out0.eigenvectors.shape == (80, 6)


def test_max_iter_reports_unconverged():
    L = eigengrad.graph_laplacian(grid_edges(40, 40), None, 1600).coalesce()
    out = lanczos(lambda V: L @ V, random_block(1600, 6, torch.float64, CPU, 0), 4, tol=1e-12,
                  max_iter=3, basis=12)  # fmt: skip
    assert out.iterations == 3
    assert bool((out.residual_norms[:4] > 1e-12 * out.norm_estimate).any())
    X = out.eigenvectors
    res = torch.linalg.vector_norm(L @ X - X * out.eigenvalues, dim=0)
    torch.testing.assert_close(res, out.residual_norms)


def test_bad_shapes_raise():
    A = torch.eye(5, dtype=torch.float64)
    with pytest.raises(InputError, match="k <= m <= n"):
        lanczos(lambda V: A @ V, torch.ones(5, 6, dtype=torch.float64), 2, tol=1e-8, max_iter=5)
    with pytest.raises(InputError, match="k <= m <= n"):
        lanczos(lambda V: A @ V, torch.ones(5, 2, dtype=torch.float64), 3, tol=1e-8, max_iter=5)


def test_largest_cluster():
    w = torch.tensor([0.0, 1.0, 1.0 + 1e-9, 1.0 + 2e-9, 2.0, 3.0, 3.0], dtype=torch.float64)
    assert _largest_cluster(w, 1e-8) == 3
    assert _largest_cluster(w, 1e-10) == 2
    assert _largest_cluster(w, 2.0) == 7
    assert _largest_cluster(w[:1], 1.0) == 1
    assert _largest_cluster(w[:0], 1.0) == 0


def test_narrow_block_on_a_simple_spectrum_stays_narrow():
    # a random graph (simple eigenvalues): block 2 without widening needs far fewer products
    # than a block of m = 9 with the same settings
    n, k, m = 1000, 6, 9
    L = eigengrad.graph_laplacian(random_graph_edges(n, 6, seed=3, ring=True), None, n)
    L = L.coalesce()
    cols = []

    def counted(V):
        cols.append(V.shape[1])
        return L @ V

    X0 = random_block(n, m, torch.float64, CPU, 0)
    out = lanczos(counted, X0, k, tol=3.7e-11, max_iter=5000, degree=1, block=2)
    _check(out, L.to_dense(), k, 3.7e-11)
    narrow = sum(cols)
    assert max(cols[:-1]) == 2  # the last product is the confirmation on the m Ritz vectors
    cols.clear()
    lanczos(counted, X0, k, tol=3.7e-11, max_iter=5000, degree=1)
    assert 2 * narrow < sum(cols)


def _counting_lazy_block(monkeypatch):
    """Record whether each lazy attempt skipped the second pass (True) or fell back (False)."""
    calls = []
    original = lanczos_module._lazy_block

    def counted(*args):
        out = original(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(lanczos_module, "_lazy_block", counted)
    return calls


def _alternating_chain(n, weak):
    """Laplacian of a path whose edge weights alternate 1, weak, 1, ... (two spectral bands)."""
    i = torch.arange(n - 1)
    edges = torch.stack([torch.cat([i, i + 1]), torch.cat([i + 1, i])])
    w = torch.where(i % 2 == 0, 1.0, weak).to(torch.float64).repeat(2)
    return eigengrad.graph_laplacian(edges, w, n).coalesce()


def test_lazy_passes_skip_half_on_a_random_graph(monkeypatch):
    n, k, m, tol = 1000, 6, 9, 3.7e-11
    L = eigengrad.graph_laplacian(random_graph_edges(n, 6, seed=3, ring=True), None, n)
    L = L.coalesce()
    X0 = random_block(n, m, torch.float64, CPU, 0)
    full = lanczos(lambda V: L @ V, X0, k, tol=tol, max_iter=5000, degree=1, block=2)
    calls = _counting_lazy_block(monkeypatch)
    out = lanczos(lambda V: L @ V, X0, k, tol=tol, max_iter=5000, degree=1, block=2, lazy=True)
    _check(out, L.to_dense(), k, tol)
    assert sum(calls) >= 0.45 * out.iterations  # every other step, minus restarts
    assert len(calls) <= 0.55 * out.iterations  # never right after a skipped pass
    assert out.iterations <= full.iterations + 4
    torch.testing.assert_close(out.eigenvalues[:k], full.eigenvalues[:k], rtol=0, atol=1e-12)
    # the QR before the final Rayleigh-Ritz step: orthonormal to rounding, not to tol / 16
    X = out.eigenvectors
    assert float((X.mT @ X - torch.eye(m, dtype=X.dtype)).abs().max()) < 1e-14
    # float32 at its default tol: a skipped pass would leave more than tol / 16, so none is tried
    attempts = len(calls)
    L32 = L.to(torch.float32)
    lanczos(lambda V: L32 @ V, X0.float(), k, tol=2.4e-5, max_iter=5000, degree=1, block=2,
            lazy=True)  # fmt: skip
    assert len(calls) == attempts


def test_lazy_passes_are_guarded_on_an_alternating_chain(monkeypatch):
    # On a chain with alternating weights the ratios of consecutive Lanczos blocks alternate,
    # and the rounding a skipped pass leaves grows geometrically from one skip to the next:
    # the sketch must catch it. Without the guard the iteration returns wrong eigenvalues.
    n, k, m, tol = 200, 6, 9, 3.7e-11
    L = _alternating_chain(n, 0.1)
    X0 = random_block(n, m, torch.float64, CPU, 1)
    calls = _counting_lazy_block(monkeypatch)
    out = lanczos(lambda V: L @ V, X0, k, tol=tol, max_iter=3000, degree=1, block=2, lazy=True)
    _check(out, L.to_dense(), k, tol)
    assert 0 < calls.count(False) and 0 < calls.count(True)  # skipped some, refused some
    X = out.eigenvectors  # the basis is orthonormal to tol / 16; X, after its QR, to rounding
    assert float((X.mT @ X - torch.eye(m, dtype=X.dtype)).abs().max()) < 1e-14
    monkeypatch.setattr(lanczos_module._Sketch, "norm", lambda self, Q, V: 0.0)
    blind = lanczos(lambda V: L @ V, X0, k, tol=tol, max_iter=1000, degree=1, block=2, lazy=True)
    with pytest.raises(AssertionError):
        _check(blind, L.to_dense(), k, tol)


def test_sketch_estimates_components_along_the_old_rows():
    n, rows = 500, 30
    V = torch.linalg.qr(random_block(n, rows, torch.float64, CPU, 4))[0].mT
    sketch = lanczos_module._Sketch(4, 40, V, seed=5)
    gen = torch.Generator().manual_seed(6)
    ratios = []
    for trial in range(40):
        size = 10.0 ** -(2 + trial % 12)  # components 1e-2 ... 1e-13
        r = 10 + trial % 21  # rows folded in so far: grows, and the sketch folds the new ones
        e = torch.randn(2, r, generator=gen, dtype=torch.float64)
        e *= size / torch.linalg.vector_norm(e, dim=1, keepdim=True)
        q = torch.randn(2, n, generator=gen, dtype=torch.float64)
        q -= (q @ V.mT) @ V
        q = q / torch.linalg.vector_norm(q, dim=1, keepdim=True) + e @ V[:r]
        true = float(torch.linalg.vector_norm(q @ V[:r].mT, dim=1).max())
        if r < sketch.rows:
            sketch.reset()
        ratios.append(sketch.norm(q, V[:r]) / true)
        assert sketch.rows == r
        torch.testing.assert_close(sketch.Z, sketch.G[:, :r] @ V[:r], rtol=0, atol=1e-13)
    assert 0.1 < min(ratios) and max(ratios) < 5
