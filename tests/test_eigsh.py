"""eg.eigsh: forward accuracy, implicit gradients (dense, sparse, operator), warnings, errors."""

from __future__ import annotations

import resource
import warnings

import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
import torch
import torch.autograd.forward_ad as fwAD
from hypothesis import given, settings
from hypothesis import strategies as st

import eigengrad as eg
from eigengrad.exceptions import (
    ConvergenceWarning,
    GaugeDependenceError,
    GaugeDependenceWarning,
    InputError,
    NonFiniteInputError,
    NotHermitianError,
    NotSquareError,
    SplitClusterWarning,
    SubgradientWarning,
)
from eigengrad.testing import (
    cycle_edges,
    grid_edges,
    hermitian_from_spectrum,
    hypercube_edges,
    random_graph_edges,
    random_unitary,
    relative_error,
)

F64 = torch.float64


# iterative solvers: single-threaded, so results do not depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def _to_scipy(L: torch.Tensor) -> sps.csr_matrix:
    L = L.coalesce()
    i = L.indices().numpy()
    return sps.csr_matrix((L.values().detach().numpy(), (i[0], i[1])), shape=L.shape)


def _operator(edges: torch.Tensor, theta: torch.Tensor, n: int) -> eg.LinearOperator:
    """Matrix-free Laplacian ``L(theta) V = D V - W V`` written with index_add (autograd).

    Hermitian for every ``theta`` only when each undirected edge carries one shared weight.
    """
    src, dst = edges

    def matmat(V: torch.Tensor) -> torch.Tensor:
        deg = torch.zeros(n, dtype=theta.dtype).index_add(0, src, theta)
        return deg[:, None] * V - torch.zeros_like(V).index_add(0, src, theta[:, None] * V[dst])

    return eg.LinearOperator((n, n), matmat, dtype=theta.dtype)


# ---------------------------------------------------------------- forward


# sparse-input solvers: (method, preconditioner) -> (info.method, info.preconditioner)
SPARSE_SOLVERS = {
    ("auto", "auto"): ("lobpcg", "cholesky"),  # sparse random graphs: ("lanczos", None)
    ("lobpcg", "auto"): ("lobpcg", "cholesky"),
    ("shift-invert", "auto"): ("lobpcg", "cholesky"),
    ("lobpcg", "multigrid"): ("lobpcg", "multigrid"),
    ("lanczos", "auto"): ("lanczos", None),
}


@pytest.mark.parametrize("solver", list(SPARSE_SOLVERS))
@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_grid_laplacian_matches_scipy(which, solver):
    n = 900
    L = eg.graph_laplacian(grid_edges(30, 30), None, n)
    if solver[1] == "multigrid" and which == "largest":
        pytest.skip("the multigrid preconditioner serves which='smallest' only")
    w, X, info = eg.eigsh(L, 8, which=which, method=solver[0], preconditioner=solver[1])
    ref = np.sort(spla.eigsh(_to_scipy(L), k=8, which="SA" if which == "smallest" else "LA")[0])
    assert (info.method, info.preconditioner) == SPARSE_SOLVERS[solver]
    assert bool(info.converged.all())
    assert np.abs(w.numpy() - ref).max() <= 1e-9 * info.norm_estimate
    R = torch.sparse.mm(L, X) - X * w
    res = torch.linalg.vector_norm(R, dim=0)
    assert bool((res <= eg._eigsh.default_tol(F64) * info.norm_estimate).all())
    assert torch.allclose(res, info.residual_norms, rtol=1e-6, atol=1e-14)
    assert torch.allclose(X.T @ X, torch.eye(8, dtype=F64), atol=1e-12)
    assert bool((w[1:] >= w[:-1]).all())


@pytest.mark.parametrize("method", ["lobpcg", "lanczos"])
def test_complex_hermitian_matches_dense(method):
    n = 500
    gen = torch.Generator().manual_seed(0)
    d = torch.linspace(1, 50, n, dtype=F64)
    off = torch.complex(torch.randn(n - 1, generator=gen), torch.randn(n - 1, generator=gen))
    A = torch.diag(d).to(torch.complex128)
    A = (
        A
        + torch.diag(off.to(torch.complex128), 1)
        + torch.diag(off.conj().to(torch.complex128), -1)
    )
    w, X, info = eg.eigsh(A.to_sparse_csr(), 5, method=method)
    ref = torch.linalg.eigvalsh(A)[:5]
    assert float((w - ref).abs().max()) <= 1e-9 * info.norm_estimate
    assert X.dtype == torch.complex128


def test_deterministic_given_seed():
    L = eg.graph_laplacian(grid_edges(20, 20), None, 400)
    a = eg.eigsh(L, 4, method="lobpcg", seed=3)
    b = eg.eigsh(L, 4, method="lobpcg", seed=3)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and torch.equal(a.eigenvectors, b.eigenvectors)


def test_preconditioner_and_initial_block():
    n = 2000
    d = torch.linspace(1.0, 1e3, n, dtype=F64)
    A = torch.sparse.spdiags(d.unsqueeze(0), torch.tensor([0]), (n, n))
    plain = eg.eigsh(A, 4, method="lobpcg", preconditioner=None)
    pre = eg.eigsh(A, 4, method="lobpcg", preconditioner=lambda R: R / d[:, None])
    assert pre.info.iterations < plain.info.iterations
    assert torch.allclose(pre.eigenvalues, d[:4], rtol=1e-10)
    X0 = torch.eye(n, 4, dtype=F64)  # exact eigenvectors: converges at once
    assert eg.eigsh(A, 4, method="lobpcg", X0=X0).info.iterations == 0


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_chebyshev_preconditioner(which):
    L = eg.graph_laplacian(grid_edges(40, 40), None, 1600)
    plain = eg.eigsh(L, 6, which=which, method="lobpcg", preconditioner=None)
    cheb = eg.eigsh(L, 6, which=which, method="lobpcg", preconditioner="chebyshev")
    assert cheb.info.iterations * 4 < plain.info.iterations
    assert torch.allclose(cheb.eigenvalues, plain.eigenvalues, atol=1e-9)
    op = eg.aslinearoperator(L)
    with pytest.raises(InputError, match="spectrum_bounds"):
        eg.eigsh(op, 6, method="lobpcg", preconditioner="chebyshev")
    via_op = eg.eigsh(
        op, 6, which=which, method="lobpcg", preconditioner="chebyshev", spectrum_bounds=(0, 8)
    )
    assert torch.allclose(via_op.eigenvalues, plain.eigenvalues, atol=1e-9)
    with pytest.raises(InputError, match="preconditioner"):
        eg.eigsh(L, 6, method="lobpcg", preconditioner="ilu")


def test_auto_solver_choice_and_preconditioners():
    L = eg.graph_laplacian(grid_edges(60, 60), None, 3600)
    runs = {
        "auto": eg.eigsh(L, 6),  # sparse, real, mesh-like: shift-invert (sparse Cholesky)
        "multigrid": eg.eigsh(L, 6, preconditioner="multigrid"),
        "chebyshev": eg.eigsh(L, 6, preconditioner="chebyshev"),
        "operator": eg.eigsh(eg.aslinearoperator(L), 6),
        "dense": eg.eigsh(L.to_dense(), 6),
    }
    chosen = {name: (r.info.method, r.info.preconditioner) for name, r in runs.items()}
    assert chosen == {
        "auto": ("lobpcg", "cholesky"),
        "multigrid": ("lobpcg", "multigrid"),
        "chebyshev": ("lobpcg", "chebyshev"),
        "operator": ("lanczos", None),
        "dense": ("lanczos", None),
    }
    its = {name: r.info.iterations for name, r in runs.items()}
    assert its["auto"] < its["multigrid"] < its["chebyshev"]
    for r in runs.values():
        assert torch.allclose(r.eigenvalues, runs["auto"].eigenvalues, atol=1e-10)
    top = eg.eigsh(L, 6, which="largest")  # shift-invert at the top: (σ I - A)^{-1}
    assert (top.info.method, top.info.preconditioner) == ("lobpcg", "cholesky")
    ref = eg.eigsh(L, 6, which="largest", method="lanczos")
    torch.testing.assert_close(top.eigenvalues, ref.eigenvalues, rtol=0, atol=1e-9)
    # a sparse random graph (locally a tree) goes to Lanczos; a hypercube, whose short cycles
    # close, is left to the factorization or multigrid (Lanczos was 2.7-13x slower there)
    R = eg.graph_laplacian(random_graph_edges(2000, 4, ring=True), None, 2000)
    assert eg.eigsh(R, 6).info.method == "lanczos"
    assert eg.eigsh(R, 6, method="lobpcg").info.method == "lobpcg"
    Q = eg.graph_laplacian(hypercube_edges(10), None, 1024)
    assert eg.eigsh(Q, 11).info.method == "lobpcg"
    for pre in ("multigrid", "cholesky"):
        with pytest.raises(InputError, match="sparse matrix"):
            eg.eigsh(eg.aslinearoperator(L), 6, preconditioner=pre)
        with pytest.raises(InputError, match="real matrix"):
            eg.eigsh(L.to(torch.complex128), 6, preconditioner=pre)
    with pytest.raises(InputError, match="which='smallest'"):
        eg.eigsh(L, 6, which="largest", preconditioner="multigrid")
    with pytest.raises(InputError, match="takes no preconditioner"):
        eg.eigsh(L, 6, method="lanczos", preconditioner="chebyshev")
    si = eg.eigsh(L, 6, method="shift-invert")
    assert (si.info.method, si.info.preconditioner) == ("lobpcg", "cholesky")
    with pytest.raises(InputError, match="preconditioner='cholesky'"):
        eg.eigsh(L, 6, method="shift-invert", preconditioner="multigrid")


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_indefinite_sparse_matrix_auto(which):
    # negative eigenvalues and positive off-diagonal entries: the factorization and the V-cycle
    # are built for A - lo I + δ I (Gershgorin lo < 0), positive definite; the answer must not
    # depend on the solver
    n = 3000
    gen = torch.Generator().manual_seed(4)
    i = torch.arange(n - 1)
    off = 0.3 * torch.randn(n - 1, generator=gen, dtype=F64)
    d = torch.linspace(-5.0, 5.0, n, dtype=F64)
    A = torch.sparse_coo_tensor(
        torch.stack(
            [torch.cat([i, i + 1, torch.arange(n)]), torch.cat([i + 1, i, torch.arange(n)])]
        ),
        torch.cat([off, off, d]),
        (n, n),
        check_invariants=False,
    ).coalesce()
    ref = torch.linalg.eigvalsh(A.to_dense())
    ref = ref[:5] if which == "smallest" else ref[-5:]
    runs = [({}, ("lobpcg", "cholesky")), ({"method": "lanczos"}, ("lanczos", None))]
    if which == "smallest":
        runs.append(({"preconditioner": "multigrid"}, ("lobpcg", "multigrid")))
    for kw, chosen in runs:
        w, _X, info = eg.eigsh(A, 5, which=which, **kw)
        assert (info.method, info.preconditioner) == chosen
        assert float((w - ref).abs().max()) <= 1e-9 * info.norm_estimate


def test_dense_path_and_edge_cases():
    A = torch.diag(torch.arange(1.0, 7.0, dtype=F64))
    w, X, info = eg.eigsh(A, 6)
    assert info.method == "dense" and torch.allclose(w, torch.arange(1.0, 7.0, dtype=F64))
    w, X, info = eg.eigsh(A, 0)
    assert w.shape == (0,) and X.shape == (6, 0)
    w, X, info = eg.eigsh(A, 2, which="largest")
    assert torch.allclose(w, torch.tensor([5.0, 6.0], dtype=F64))


# ---------------------------------------------------------------- gradients, n = 2048


def _losses():
    gen = torch.Generator().manual_seed(7)
    n = 2048
    c = torch.randn(n, 3, generator=gen, dtype=F64)
    d = torch.randn(n, generator=gen, dtype=F64)

    def eigenvalue(w, X):  # constant cotangent on the 11-fold cluster
        return w.sum() + (w**2).sum()

    def projector(w, X):  # tr(X^T diag(d) X) + ||X^T c||^2: linear in P = X X^T
        return (d[:, None] * X**2).sum() + ((X.T @ c) ** 2).sum()

    def invariant_vectors(w, X):  # sign-invariant on the simple pair, P-invariant on the cluster
        Pc = X[:, 1:] @ (X[:, 1:].T @ c[:, 0])
        return (X[:, 0] @ c[:, 1]) ** 2 + (Pc**4).sum() * 100

    return {"eigenvalue": eigenvalue, "projector": projector, "invariant": invariant_vectors}


@pytest.fixture(scope="module")
def hypercube():
    """Hypercube Q_11 (n = 2048) with one weight per undirected edge; dense eigh references."""
    d = 11
    n = 2**d
    both = hypercube_edges(d)
    und = both[:, both[0] < both[1]]
    edges = torch.cat([und, und.flip(0)], 1)
    theta = torch.ones(und.shape[1], dtype=F64)
    k = 12  # eigenvalue 0 and the 11-fold cluster at 2; the next eigenvalue is 4
    L_dense = eg.graph_laplacian(edges, theta.repeat(2), n).to_dense()
    A = L_dense.clone().requires_grad_()
    wr, Vr = eg.eigh(A)
    refs = {}
    u, v = und
    for name, loss in _losses().items():
        (gA,) = torch.autograd.grad(loss(wr[:k], Vr[:, :k]), A, retain_graph=True)
        # L = sum_e theta_e (E_uu + E_vv - E_uv - E_vu): chain rule with the symmetric gA
        refs[name] = (gA, gA[u, u] + gA[v, v] - 2 * gA[u, v])
    return edges, theta, n, k, L_dense, refs


@pytest.mark.parametrize("method", ["lobpcg", "lanczos"])
def test_dense_input_gradient_matches_eigh(hypercube, method):
    _edges, _theta, _n, k, L_dense, refs = hypercube
    A = L_dense.clone().requires_grad_()
    w, X, info = eg.eigsh(A, k, method=method)
    assert info.guard_gap > 1.0
    assert torch.allclose(w[1:], torch.full((k - 1,), 2.0, dtype=F64), atol=1e-9)
    for name, loss in _losses().items():
        (g,) = torch.autograd.grad(loss(w, X), A, retain_graph=True)
        assert relative_error(g, refs[name][0]) < 1e-6, name


@pytest.mark.parametrize("solver", list(SPARSE_SOLVERS))
def test_sparse_input_gradient_keeps_pattern(hypercube, solver):
    edges, theta, n, k, _L_dense, refs = hypercube
    L = eg.graph_laplacian(edges, theta.repeat(2), n).detach().requires_grad_()
    w, X, info = eg.eigsh(L, k, method=solver[0], preconditioner=solver[1])
    chosen = (info.method, info.preconditioner)
    if solver in (("auto", "auto"), ("lobpcg", "auto")):  # Cholesky unless its fill budget
        assert chosen in (("lobpcg", "cholesky"), ("lobpcg", "multigrid"))  # says multigrid
    else:
        assert chosen == SPARSE_SOLVERS[solver]
    for name, loss in _losses().items():
        L.grad = None
        loss(w, X).backward(retain_graph=True)
        g = L.grad.coalesce()
        assert g.layout == torch.sparse_coo
        assert torch.equal(g.indices(), L.detach().coalesce().indices())
        i = g.indices()
        assert relative_error(g.values(), refs[name][0][i[0], i[1]]) < 1e-6, name


def test_forced_lanczos_takes_the_narrow_block_on_random_graphs(monkeypatch):
    # method="lanczos" picks the same Lanczos settings as auto: a narrow block with lazy
    # passes on random-like graphs (2-3.7x fewer products), the wide filtered block elsewhere
    calls = []
    solver = eg._partial_solver.lanczos

    def recorded(*args, **kwargs):
        calls.append(kwargs)
        return solver(*args, **kwargs)

    monkeypatch.setattr("eigengrad._partial_solver.lanczos", recorded)
    R = eg.graph_laplacian(random_graph_edges(2000, 4, ring=True), None, 2000)
    ref = eg.eigsh(R, 6, method="dense").eigenvalues
    for which in ("smallest", "largest"):
        out = eg.eigsh(R, 6, which=which, method="lanczos")
        assert (calls[-1]["block"], calls[-1]["lazy"]) == (2, True)
        expected = ref if which == "smallest" else eg.eigsh(R, 6, which=which, method="dense")[0]
        torch.testing.assert_close(out.eigenvalues, expected, rtol=0, atol=1e-9)
    G = eg.graph_laplacian(grid_edges(30, 30), None, 900)
    eg.eigsh(G, 6, method="lanczos")
    assert "block" not in calls[-1]


def test_narrow_block_lanczos_finds_and_differentiates_a_cluster(hypercube, monkeypatch):
    # the solver auto gives sparse random graphs (a block of 2, widened when 2 copies of an
    # eigenvalue show), forced onto the hypercube Q_11 and its 11-fold eigenvalue 2
    edges, theta, n, k, _L_dense, refs = hypercube
    monkeypatch.setattr("eigengrad._partial_solver.random_graph_like", lambda A: True)
    L = eg.graph_laplacian(edges, theta.repeat(2), n).detach().requires_grad_()
    w, X, info = eg.eigsh(L, k)
    assert (info.method, info.preconditioner) == ("lanczos", None)
    assert torch.allclose(w[1:], torch.full((k - 1,), 2.0, dtype=F64), atol=1e-9)
    for name, loss in _losses().items():
        (g,) = torch.autograd.grad(loss(w, X), L, retain_graph=True)
        i = g.coalesce().indices()
        assert relative_error(g.coalesce().values(), refs[name][0][i[0], i[1]]) < 1e-6, name


@pytest.mark.parametrize("method", ["lobpcg", "lanczos"])
def test_operator_parameters_gradient(hypercube, method):
    edges, theta, n, k, _L_dense, refs = hypercube
    t = theta.clone().requires_grad_()
    w, X, _ = eg.eigsh(_operator(edges, t.repeat(2), n), k, method=method)
    for name, loss in _losses().items():
        (g,) = torch.autograd.grad(loss(w, X), t, retain_graph=True)
        assert relative_error(g, refs[name][1]) < 1e-6, name


def test_sparse_csr_input_and_edge_weights(hypercube):
    edges, theta, n, k, _L_dense, refs = hypercube
    t = theta.clone().requires_grad_()
    w, X, _ = eg.eigsh(eg.graph_laplacian(edges, t.repeat(2), n).to_sparse_csr(), k)
    (g,) = torch.autograd.grad(_losses()["projector"](w, X), t)
    assert relative_error(g, refs["projector"][1]) < 1e-6


def test_dense_method_gradient():
    sub = 2**7  # the dense path on a smaller hypercube: compare with eg.eigh
    e7 = hypercube_edges(7)
    A = eg.graph_laplacian(e7, None, sub).to_dense().requires_grad_()
    w, X, info = eg.eigsh(A, 8)
    assert info.method == "dense"
    (g,) = torch.autograd.grad((X[:, 1:] @ X[:, 1:].T).diagonal().pow(2).sum() + w.sum(), A)
    A2 = A.detach().clone().requires_grad_()
    wr, Vr = eg.eigh(A2)
    (g2,) = torch.autograd.grad(
        (Vr[:, 1:8] @ Vr[:, 1:8].T).diagonal().pow(2).sum() + wr[:8].sum(), A2
    )
    assert relative_error(g, g2) < 1e-10


def test_cycle_graph_pairs_gradient():
    n = 300
    edges = cycle_edges(n)
    k = 7  # 0 and three exact pairs; the next pair starts at k + 1
    gen = torch.Generator().manual_seed(1)
    c = torch.randn(n, generator=gen, dtype=F64)
    t = torch.ones(edges.shape[1], dtype=F64, requires_grad=True)
    w, X, _info = eg.eigsh(eg.graph_laplacian(edges, t, n), k, method="lobpcg")
    (g,) = torch.autograd.grad(((X @ (X.T @ c)) ** 2).sum() + w.sum(), t)
    t2 = t.detach().clone().requires_grad_()
    wr, Vr = eg.eigh(eg.graph_laplacian(edges, t2, n).to_dense())
    Xr = Vr[:, :k]
    (g2,) = torch.autograd.grad(((Xr @ (Xr.T @ c)) ** 2).sum() + wr[:k].sum(), t2)
    assert relative_error(g, g2) < 1e-6


# ---------------------------------------------------------------- forward mode, gradcheck


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_matches_eigh():
    n = 400
    A0 = eg.graph_laplacian(grid_edges(20, 20), None, n).to_dense()
    gen = torch.Generator().manual_seed(2)
    E = torch.randn(n, n, generator=gen, dtype=F64)
    dA = (E + E.T) / 2
    c = torch.randn(n, generator=gen, dtype=F64)

    def f(w, X):
        return w, X @ (X.T @ c)  # eigenvalues and a projector quantity

    with fwAD.dual_level():
        w, X, _ = eg.eigsh(fwAD.make_dual(A0, dA), 6, method="lobpcg")
        out = [fwAD.unpack_dual(o).tangent for o in f(w, X)]
        wr, Vr = eg.eigh(fwAD.make_dual(A0, dA))
        ref = [fwAD.unpack_dual(o).tangent for o in f(wr[:6], Vr[:, :6])]
    assert relative_error(out[0], ref[0]) < 1e-6
    assert relative_error(out[1], ref[1]) < 1e-6


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("method", ["lobpcg", "lanczos", "dense"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradcheck(dtype, method):
    n = 16
    Q = random_unitary(n, seed=1, dtype=dtype)
    A0 = hermitian_from_spectrum(torch.linspace(1.0, 10.0, n, dtype=F64), Q)

    def f(A):
        w, X, _ = eg.eigsh(
            A,
            2,
            method=method,
            guard=2,
            tol=1e-14,
            adjoint_tol=1e-13,
            fix_gauge=True,
            check_hermitian=False,
        )
        return w, X

    A = A0.clone().requires_grad_()
    assert torch.autograd.gradcheck(
        f, (A,), check_forward_ad=True, fast_mode=True, atol=1e-6, rtol=1e-5
    )


@pytest.mark.parametrize("pattern", ["symmetric", "one-sided"])
@pytest.mark.parametrize("method", ["lobpcg", "lanczos"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradcheck_sparse_values(dtype, method, pattern):
    # gradients to the stored values of a Hermitian sparse A built from its upper triangle u:
    # with a symmetric pattern the rule evaluates the upper entries and mirrors them
    # (conjugated); an explicit zero stored on one side only takes the general path
    n = 16
    Q = random_unitary(n, seed=1, dtype=dtype)
    A0 = hermitian_from_spectrum(torch.linspace(1.0, 10.0, n, dtype=F64), Q)
    R = torch.rand(n, n, generator=torch.Generator().manual_seed(5))
    keep = torch.triu((R + R.T > 0.8) | torch.eye(n, dtype=torch.bool))
    keep[3, 7] = False
    up = keep.nonzero().T
    strict = up[0] < up[1]
    idx = torch.cat([up, up[:, strict].flip(0)], 1)
    if pattern == "one-sided":  # (3, 7) stored as an explicit zero, (7, 3) not stored
        idx = torch.cat([idx, torch.tensor([[3], [7]])], 1)

    def f(u):
        diag = torch.where(up[0] == up[1], u.real.to(u.dtype), u)
        v = torch.cat([diag, u[strict].conj()])
        if pattern == "one-sided":
            v = torch.cat([v, v.new_zeros(1)])
        A = torch.sparse_coo_tensor(idx, v, (n, n), check_invariants=True)
        w, X, _ = eg.eigsh(
            A, 2, method=method, guard=2, tol=1e-14, adjoint_tol=1e-13, fix_gauge=True
        )
        return w, X

    u = A0[up[0], up[1]].clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (u,), fast_mode=True, atol=1e-6, rtol=1e-5)


def test_double_backward_raises():
    A = torch.diag(torch.arange(1.0, 30.0, dtype=F64)).requires_grad_()
    _w, X, _ = eg.eigsh(A, 2, method="lobpcg")
    with pytest.raises(NotImplementedError, match="double backward"):
        torch.autograd.grad((X[:, 0] ** 4).sum(), A, create_graph=True)


# ---------------------------------------------------------------- no n x n


def test_large_sparse_forward_backward_without_dense_matrix():
    n = 2 * 10**5  # n x n float64 would take 320 GB
    i = torch.arange(n - 1)
    d = torch.full((n,), 100.0, dtype=F64)
    d[:8] = torch.arange(1.0, 9.0, dtype=F64)  # well-separated smallest eigenvalues
    rows = torch.cat([i, i + 1, torch.arange(n)])
    cols = torch.cat([i + 1, i, torch.arange(n)])
    vals = torch.cat([torch.full((2 * (n - 1),), 0.1, dtype=F64), d])
    A = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n), check_invariants=False)
    A = A.coalesce().requires_grad_()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w, X, info = eg.eigsh(A, 4, method="lobpcg", preconditioner=None)
    ((X[:100] ** 2).sum() + w.sum()).backward()
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert bool(info.converged.all())
    assert A.grad.coalesce().values().shape == (3 * n - 2,)
    assert grew_mb < 1000  # O(n k) is tens of MB


# ---------------------------------------------------------------- warnings


def test_split_cluster_warns():
    n = 64
    L = eg.graph_laplacian(cycle_edges(n), None, n)
    with pytest.warns(SplitClusterWarning, match="splits a cluster"):
        eg.eigsh(L, 2, method="dense")
    with pytest.warns(SplitClusterWarning, match="splits a cluster"):
        eg.eigsh(L.to_dense(), 2, method="lobpcg", guard=4)


def test_forward_nonconvergence_warns():
    L = eg.graph_laplacian(grid_edges(20, 20), None, 400)
    with pytest.warns(ConvergenceWarning, match="relative residual reached"):
        _, _, info = eg.eigsh(L, 4, method="lobpcg", max_iter=3)
    assert not bool(info.converged.all())


def test_adjoint_nonconvergence_warns():
    t = torch.ones(2 * 400, dtype=F64, requires_grad=True)
    L = eg.graph_laplacian(cycle_edges(400), t, 400)
    _w, X, _ = eg.eigsh(L, 3, method="lobpcg", adjoint_max_iter=3)
    with pytest.warns(ConvergenceWarning, match="adjoint solve"):
        X[:, 0].pow(4).sum().backward()


def test_gauge_and_subgradient_warnings():
    d = 7
    n = 2**d
    A = eg.graph_laplacian(hypercube_edges(d), None, n).to_dense().requires_grad_()
    w, X, _ = eg.eigsh(A, 1 + d, method="lobpcg")
    c = torch.linspace(-1.0, 2.0, n, dtype=F64)
    with pytest.warns(GaugeDependenceWarning, match="multiplicity 7"):
        torch.autograd.grad((X[:, 1] @ c) ** 2, A, retain_graph=True)
    with pytest.warns(SubgradientWarning):
        torch.autograd.grad(w[-1], A, retain_graph=True)
    w, X, _ = eg.eigsh(A, 1 + d, method="lobpcg", gauge="raise")
    with pytest.raises(GaugeDependenceError):
        torch.autograd.grad((X[:, 1] @ c) ** 2, A)


# ---------------------------------------------------------------- errors


def test_input_errors():
    A = torch.eye(5, dtype=F64)
    with pytest.raises(NotSquareError):
        eg.eigsh(torch.zeros(3, 4, dtype=F64), 1)
    with pytest.raises(InputError, match="k=6"):
        eg.eigsh(A, 6)
    with pytest.raises(InputError, match="which"):
        eg.eigsh(A, 1, which="middle")
    with pytest.raises(InputError, match="'shift-invert', received 'magic'"):
        eg.eigsh(A, 1, method="magic")
    with pytest.raises(InputError, match="Batches"):
        eg.eigsh(torch.zeros(2, 3, 3, dtype=F64), 1)
    B = torch.triu(torch.ones(5, 5, dtype=F64))
    with pytest.raises(NotHermitianError, match="symmetrize"):
        eg.eigsh(B.to_sparse(), 1)
    with pytest.raises(NotHermitianError):
        eg.eigsh(B, 1)
    # a symmetric pattern with asymmetric values (the permuted-values check), real and complex
    S = torch.ones(5, 5, dtype=F64)
    S[0, 1] = 1.5
    with pytest.raises(NotHermitianError, match=r"0\.333"):
        eg.eigsh(S.to_sparse(), 1)
    H = torch.ones(5, 5, dtype=torch.complex128) + 0.5j * torch.triu(torch.ones(5, 5), 1)
    with pytest.raises(NotHermitianError, match="Hermitian"):
        eg.eigsh(H.to_sparse_csr(), 1)
    eg.eigsh((H + H.mH).to_sparse_csr(), 1)  # Hermitian: accepted
    C = A.clone()
    C[0, 0] = float("nan")
    with pytest.raises(NonFiniteInputError):
        eg.eigsh(C.to_sparse(), 1)
    with pytest.raises(eg.exceptions.InputDTypeError, match="LinearOperator"):
        eg.eigsh(np.eye(3), 1)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"guard": -1}, "guard >= 0"),  # used to return k - 1 pairs silently
        ({"guard": 1.5}, "integer guard"),
        ({"tol": -1e-8}, "positive tol"),
        ({"tol": float("nan")}, "positive tol"),
        ({"adjoint_tol": 0.0}, "positive adjoint_tol"),
        ({"max_iter": 0}, "max_iter >= 1"),
        ({"adjoint_max_iter": "many"}, "adjoint_max_iter"),
        ({"seed": None}, "integer seed"),
        ({"rtol": -1.0}, "real rtol >= 0"),
        ({"atol": float("nan")}, "real atol >= 0"),
        ({"spectrum_bounds": (5.0, 1.0)}, "lo < hi"),
        ({"spectrum_bounds": (5.0, 5.0)}, "lo < hi"),  # Chebyshev divides by hi - lo
        ({"spectrum_bounds": (0.0, float("inf"))}, "finite"),
        ({"spectrum_bounds": 3.0}, "spectrum_bounds"),
        ({"X0": torch.ones(9, 2, dtype=F64)}, r"\(10, j\)"),  # checked on the dense path too
        ({"X0": torch.ones(10, 2, dtype=torch.complex128)}, "real X0 for a real operator"),
    ],
)
def test_option_errors(options, match):
    A = torch.diag(torch.arange(1.0, 11.0, dtype=F64))
    with pytest.raises((InputError, eg.exceptions.InputDTypeError), match=match):
        eg.eigsh(A, 2, **options)


def test_integer_like_k_and_non_finite_start_block():
    A = torch.diag(torch.arange(1.0, 11.0, dtype=F64))
    for k in (np.int64(2), torch.tensor(2), 2.0):
        assert eg.eigsh(A, k).eigenvalues.tolist() == [1.0, 2.0]
    assert eg.eigsh(A, 2, max_iter=1e3, guard=np.float64(3.0)).info.converged.all()
    for k in (True, 2.5, torch.tensor(2.0)):
        with pytest.raises(InputError, match="integer number of eigenpairs"):
            eg.eigsh(A, k)
    X0 = torch.ones(10, 2, dtype=F64)
    X0[3, 1] = float("nan")
    with pytest.raises(NonFiniteInputError, match=r"\(3, 1\)"):
        eg.eigsh(A, 2, X0=X0)


def test_hybrid_sparse_input_error():
    with pytest.raises(eg.exceptions.InputShapeError, match="hybrid"):
        eg.eigsh(torch.eye(5, dtype=F64).to_sparse(1), 1)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.parametrize(
    ("method", "layout"),
    [
        (method, layout)
        for method in ("dense", "lanczos", "lobpcg", "shift-invert")
        for layout in ("coo", "csr", "dense")
        if not (method == "shift-invert" and layout == "dense")  # sparse input only
    ],
)
def test_unchecked_asymmetric_input_means_its_hermitian_part(method, layout):
    # One triangle of a tridiagonal matrix stored (an asymmetric pattern), check_hermitian=False:
    # every solver, the bounds and the preconditioners see (A + A^T) / 2, as the derivative
    # and the dense path do (the solvers used to iterate on A itself: Lanczos returned
    # 1.0310 for 1.0000 and LOBPCG warned that it did not converge)
    n = 500
    i = torch.arange(n - 1)
    index = torch.cat([torch.stack([i, i + 1]), torch.arange(n).repeat(2, 1)], 1)
    values = torch.cat([-torch.ones(n - 1, dtype=F64), 2 + torch.arange(n, dtype=F64) / n])
    M = torch.sparse_coo_tensor(index, values, (n, n), check_invariants=False).coalesce()
    dense = M.to_dense()
    ref = torch.linalg.eigvalsh((dense + dense.T) / 2)[:3]
    A = {"coo": M, "csr": M.to_sparse_csr(), "dense": dense}[layout]
    with pytest.raises(NotHermitianError, match="Hermitian part"):
        eg.eigsh(A, 3, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w, _X, info = eg.eigsh(A, 3, method=method, check_hermitian=False)
    assert bool(info.converged.all())
    torch.testing.assert_close(w, ref, rtol=0, atol=1e-10)


def test_unchecked_symmetric_pattern_with_asymmetric_values():
    # the cheap branch: the pattern is symmetric, the values are averaged with their partners
    L = eg.graph_laplacian(cycle_edges(40), None, 40).coalesce()
    rows, cols = L.indices()
    bump = torch.where(rows < cols, 0.25, 0.0).to(F64)  # upper entries only: asymmetric
    A = torch.sparse_coo_tensor(L.indices(), L.values() + bump, (40, 40), check_invariants=False)
    ref = torch.linalg.eigvalsh((A.to_dense() + A.to_dense().T) / 2)[:3]  # 0 and a pair
    w = eg.eigsh(A, 3, method="lanczos", check_hermitian=False).eigenvalues
    torch.testing.assert_close(w, ref, rtol=0, atol=1e-10)


def test_linear_operator_validation_and_wrapping():
    with pytest.raises(eg.exceptions.InputShapeError):
        eg.LinearOperator((3, 4), lambda V: V)
    for shape in ((-1, -1), (2.5, 2.5), (3,)):
        with pytest.raises(eg.exceptions.InputShapeError, match="integers n >= 0"):
            eg.LinearOperator(shape, lambda V: V)
    with pytest.raises(eg.exceptions.InputDTypeError):
        eg.LinearOperator((3, 3), lambda V: V, dtype=torch.int64)
    L = eg.graph_laplacian(cycle_edges(10), None, 10)
    op = eg.aslinearoperator(L)
    V = torch.randn(10, 2, dtype=F64)
    assert torch.allclose(op @ V, L.to_dense() @ V)
    assert "LinearOperator" in repr(op)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(eg.eigsh(op, 3).eigenvalues, torch.linalg.eigvalsh(L.to_dense())[:3])


@pytest.mark.parametrize("method", ["dense", "lanczos", "lobpcg"])
@pytest.mark.parametrize(
    ("product", "error", "match"),
    [
        (lambda V: V[:-1], "InputShapeError", r"shape \(40, \d+\)"),
        (lambda V: V.flatten(), "InputShapeError", "received shape"),
        (lambda V: V.float(), "InputDTypeError", "dtype torch.float32"),
        (lambda V: V.numpy(), "InputDTypeError", "received ndarray"),
        (lambda V: V * float("nan"), "NonFiniteInputError", "NaN or infinite"),
    ],
)
def test_linear_operator_bad_products(method, product, error, match):
    # a wrong product is named as the operator's fault, on every path (it used to surface as a
    # raw RuntimeError inside a solver, or as NaN eigenvalues with a ConvergenceWarning)
    op = eg.LinearOperator((40, 40), product, dtype=F64)
    with pytest.raises(getattr(eg.exceptions, error), match=match):
        eg.eigsh(op, 2, method=method)


def test_operator_product_check_blames_only_the_operator():
    # NaN in V itself is not the operator's fault (it was reported as such); an overflowing
    # sum of finite entries is no NaN
    from eigengrad._operator import _checked_product

    op = eg.LinearOperator((3, 3), lambda V: V, dtype=F64)
    V = torch.tensor([[float("nan")], [1.0], [2.0]], dtype=F64)
    assert _checked_product(op, V, V.clone(), "f") is not None
    big = torch.full((3, 1), 1e308, dtype=F64)
    assert _checked_product(op, big, big.clone(), "f") is not None


def test_aslinearoperator_hint_has_no_check_hermitian_option():
    B = torch.triu(torch.ones(5, 5, dtype=F64))
    for A in (B, B.to_sparse()):
        with pytest.raises(NotHermitianError) as info:
            eg.aslinearoperator(A)
        assert "check_hermitian" not in str(info.value)


def test_linear_operator_nan_in_backward_only():
    # a parameter that turns NaN after the forward: the derivative's product is checked too
    d = torch.arange(1.0, 41.0, dtype=F64, requires_grad=True)
    scale = torch.ones((), dtype=F64)
    op = eg.LinearOperator((40, 40), lambda V: (scale * d)[:, None] * V, dtype=F64)
    w, X, _ = eg.eigsh(op, 2, method="lanczos")
    scale.fill_(float("nan"))
    with pytest.raises(NonFiniteInputError, match="matmat"):
        (w.sum() + X[0, 0] ** 2).backward()


# ---------------------------------------------------------------- properties


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@settings(derandomize=True, max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), which=st.sampled_from(["smallest", "largest"]))
def test_jvp_vjp_adjoint(seed, which):
    n, k = 60, 3
    gen = torch.Generator().manual_seed(seed)
    w0 = torch.sort(torch.rand(n, generator=gen, dtype=F64) * 10).values
    A0 = hermitian_from_spectrum(w0, random_unitary(n, seed=seed))
    dA = eg.testing.symmetric_direction(n, seed=seed + 1)
    gw = torch.randn(k, generator=gen, dtype=F64)
    gX = torch.randn(n, k, generator=gen, dtype=F64)
    with fwAD.dual_level():
        w, X, _ = eg.eigsh(fwAD.make_dual(A0, dA), k, which=which, method="lobpcg")
        dw, dX = fwAD.unpack_dual(w).tangent, fwAD.unpack_dual(X).tangent
    A = A0.clone().requires_grad_()
    w, X, _ = eg.eigsh(A, k, which=which, method="lobpcg")
    (gA,) = torch.autograd.grad((w * gw).sum() + (X * gX).sum(), A)
    lhs = float((gA * dA).sum())
    rhs = float((gw * dw).sum() + (gX * dX).sum())
    assert abs(lhs - rhs) <= 1e-7 * (abs(lhs) + abs(rhs) + 1e-3)


@pytest.mark.parametrize("method", ["auto", "shift-invert"])
def test_hermitian_input_with_asymmetric_stored_pattern(method):
    # an explicit zero stored on one side only: still Hermitian; the factorization symmetrizes
    # the pattern instead of refusing it
    L = eg.graph_laplacian(grid_edges(30, 30), None, 900).coalesce()
    i = torch.cat([L.indices(), torch.tensor([[0], [500]])], 1)
    v = torch.cat([L.values(), torch.zeros(1, dtype=F64)])
    A = torch.sparse_coo_tensor(i, v, (900, 900), check_invariants=False).coalesce()
    w, _X, info = eg.eigsh(A, 4, method=method)
    assert info.preconditioner == "cholesky"
    torch.testing.assert_close(w, torch.linalg.eigvalsh(L.to_dense())[:4], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("method", "chosen"),
    [("auto", ("lobpcg", "cholesky")), ("lanczos", ("lanczos", None)), ("lobpcg", None)],
)
def test_float32_sparse(method, chosen):
    # float32 end to end: default tol eps^(2/3) = 2.4e-5, the factorization in float32
    n = 900
    L64 = eg.graph_laplacian(grid_edges(30, 30), None, n).coalesce()
    L = L64.to(torch.float32).detach().requires_grad_()
    # 0, a pair, a simple one; then a pair. The adjoint solves run in float64 (in float32
    # MINRES would stagnate near eps * cond, about 5e-4 here, and warn)
    w, X, info = eg.eigsh(L, 4, method=method)
    if chosen is not None:
        assert (info.method, info.preconditioner) == chosen
    assert w.dtype == X.dtype == torch.float32 and bool(info.converged.all())
    ref = torch.linalg.eigvalsh(L64.to_dense())[:4]
    assert float((w.detach().double() - ref).abs().max()) <= 1e-4 * info.norm_estimate
    c = torch.linspace(-1.0, 1.0, n, dtype=F64)

    def loss(w, X):  # eigenvalues and a projector term (basis-invariant on the pair)
        return w.sum() + ((X.T @ c.to(X.dtype)) ** 2).sum()

    loss(w, X).backward()
    L64 = L64.detach().requires_grad_()
    w64, X64, _ = eg.eigsh(L64, 4)
    loss(w64, X64).backward()
    g, g64 = L.grad.coalesce(), L64.grad.coalesce()
    assert g.dtype == torch.float32 and torch.equal(g.indices(), g64.indices())
    assert relative_error(g.values().double(), g64.values()) < 1e-3  # measured 1.3e-5-1.4e-4
